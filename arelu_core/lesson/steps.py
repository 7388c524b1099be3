"""The paper's argument in seven steps. Each function computes its step's answer now: from the
library (curves, a deep stack, a trained checkpoint, Grad-CAM) or from the shipped results. To add
a step, write one more `@lesson_step` function here (and, for the page, one renderer in
ui/lesson_steps.py)."""
from __future__ import annotations

import math
from statistics import fmean, pstdev

import numpy as np

from .. import explore
from ..activations import activation_info, evaluate_activation
from ..errors import ConfigError
from ..reproduce.claims import NO_DATA, NOT_SUPPORTED, SUPPORTED
from ..reproduce.paper import table1_value
from ..reproduce.results import final_accuracy
from . import shipped
from .core import Answer, lesson_step

RACE = ("sgd", 1e-3)            # the race of step 3: Table 1's column where the paper's gap is widest
SAME_WITHIN = 1.0               # points: "about the same" in the race
CAM_SAME_WITHIN = 0.05          # share of the map: "about the same" on the strokes


def _name(key: str) -> str:
    return activation_info(key).name


# ---------------------------------------------------------------- 1. the curve

CURVE_CHOICES = ("ReLU passes nothing back; AReLU passes back part of it", "Both pass nothing back",
                 "Both pass all of it back")
DEPTH_CHOICES = ("Under ReLU", "Under AReLU", "About the same under both")
RACE_CHOICES = ("ReLU", "AReLU", f"Neither: within {SAME_WITHIN:g} point of each other")
GAIN_CHOICES = ("Only the gain: a frozen curve, or ReLU at a larger learning rate, does as well",
                "Learning α and β adds accuracy beyond the gain")


@lesson_step("curve", "What ReLU throws away, and what AReLU keeps",
             "A gradient of 1 arrives at a neuron whose input was negative (x = −1). "
             "How much of it does each activation pass back?", CURVE_CHOICES,
             alpha=activation_info("arelu").defaults["alpha"], beta=activation_info("arelu").defaults["beta"])
def curve_answer(alpha: float, beta: float) -> Answer:
    x = np.array([-1.0, 1.0])
    _, relu = evaluate_activation("relu", x)
    _, arelu = evaluate_activation("arelu", x, alpha=alpha, beta=beta)
    if relu[0] == 0 and 0 < arelu[0] < 1:
        correct = 0
    elif relu[0] == 0 and arelu[0] == 0:
        correct = 1
    elif relu[0] == 1 and arelu[0] == 1:
        correct = 2
    else:
        correct = None
    return Answer(
        f"ReLU passes back {relu[0]:.0%} of it; AReLU (α = {alpha:g}, β = {beta:g}) passes back "
        f"{arelu[0]:.1%}, and multiplies every gradient on the positive side by {arelu[1]:.3f}.",
        None if correct is None else CURVE_CHOICES[correct],
        [f"ReLU: dF/dx = {relu[0]:g} at x = −1, {relu[1]:g} at x = +1 (negatives thrown away)",
         f"AReLU: dF/dx = C(α) = {arelu[0]:.3f} at x = −1 (the clamp keeps C(α) in "
         f"[{explore.clamped_alpha(-1):g}, {explore.clamped_alpha(2):g}]), "
         f"1 + σ(β) = {arelu[1]:.3f} at x = +1 (always between 1 and 2)"],
        {"relu_slopes": relu.tolist(), "arelu_slopes": arelu.tolist()})


# ---------------------------------------------------------------- 2. gradients through depth

@lesson_step("depth", "Gradients through depth",
             "A loss gradient travels back through a stack of freshly initialised layers. From the last "
             "layer to the first, under which activation does it shrink more?", DEPTH_CHOICES,
             depth=20, init="pytorch")
def depth_answer(depth: int, init: str) -> Answer:
    from ..gradient_flow import INITS, FlowConfig, compare
    table = compare(["relu", "arelu"], FlowConfig(depth=int(depth), init=init))
    ends = {}
    for key in ("relu", "arelu"):
        rows = table[table["activation"] == key]
        first = float(rows.loc[rows["layer"] == 1, "weight_grad_norm"].iloc[0])
        last = float(rows.loc[rows["layer"] == depth, "weight_grad_norm"].iloc[0])
        ends[key] = (first, last, first / last if last > 0 else math.nan)
    decades = {key: math.log10(ratio) if ratio > 0 else -math.inf for key, (_, _, ratio) in ends.items()}
    if not all(math.isfinite(d) for d in decades.values()):
        correct = None
    elif abs(decades["relu"] - decades["arelu"]) < 0.5:      # within half a decade
        correct = 2
    else:
        correct = 0 if decades["relu"] < decades["arelu"] else 1
    facts = [f"{_name(key)}: ‖∂L/∂W‖ = {last:.2e} at layer {depth}, {first:.2e} at layer 1 "
             f"(layer 1 / layer {depth} = {ratio:.2e})" for key, (first, last, ratio) in ends.items()]
    largest = float(np.nanmax(table["weight_grad_norm"].to_numpy()))
    if largest > 1e3:
        facts.append(f"With {INITS[init]} initialisation AReLU's gradients explode (up to {largest:.1e}): that "
                     f"initialisation keeps ReLU's variance, and AReLU's gain of up to 2 grows it at every layer.")
    relu_first, arelu_first = ends["relu"][0], ends["arelu"][0]
    headline = (f"Over {depth} layers ({INITS[init]} initialisation) the gradient reaching layer 1 is "
                f"{relu_first:.1e} under ReLU and {arelu_first:.1e} under AReLU: "
                f"{arelu_first / relu_first:.1e} times larger with AReLU.")
    return Answer(headline, None if correct is None else DEPTH_CHOICES[correct], facts, {"table": table})


# ---------------------------------------------------------------- 3. the race

@lesson_step("race", "The race",
             "Both networks train for one epoch on all 60 000 MNIST digits with SGD at learning rate 1e-3. "
             "Which one reaches the higher test accuracy?", RACE_CHOICES)
def race_answer() -> Answer:
    optimizer, lr = RACE
    runs = {key: [value for record in shipped.records("table1")
                  if record["activation"] == key and not record.get("params") and record["optimizer"] == optimizer
                  and abs(record["lr"] - lr) < 1e-12 and record.get("train_subset") is None
                  and (value := final_accuracy(record)) is not None]
            for key in ("relu", "arelu")}
    if not all(runs.values()):
        return Answer("The shipped Table 1 runs of this setting are missing (assets/results/table1/).",
                      available=False)
    means = {key: fmean(values) for key, values in runs.items()}
    gap = means["arelu"] - means["relu"]
    correct = 2 if abs(gap) < SAME_WITHIN else (1 if gap > 0 else 0)
    facts = []
    for key, values in runs.items():
        facts.append(f"{_name(key)}, ours: {means[key]:.2f} ± {pstdev(values):.2f}% over {len(values)} seeds "
                     f"({', '.join(f'{v:.2f}' for v in values)})")
    for key in runs:
        published = table1_value(key, optimizer, lr)
        if published is not None:
            facts.append(f"{_name(key)}, published (the paper's Table 1): {published:.2f}%")
    headline = (f"After one epoch at SGD {lr:g}, AReLU reaches {means['arelu']:.2f}% and ReLU {means['relu']:.2f}% "
                f"(mean of our shipped runs): a gap of {gap:+.2f} points.")
    return Answer(headline, RACE_CHOICES[correct],
                  facts, {"runs": runs, "published": {key: table1_value(key, optimizer, lr) for key in runs}})


# ---------------------------------------------------------------- 4. attention or gain

@lesson_step("gain", "Is it only the gain?",
             "AReLU starts with a fixed gain: ×1.88 on every positive gradient. Is its lead in the race only "
             "that gain (a bigger step, like a larger learning rate), or does learning α and β add to it?",
             GAIN_CHOICES)
def gain_answer() -> Answer:
    """Read from the shipped ablation (arelu reproduce ablation): per setting, AReLU against the same curve frozen
    (does learning add?) and ReLU at 2, 4, 8 x the learning rate (does a bigger step do as well?)."""
    found = shipped.summary("ablation")
    if found is None:
        return Answer("This step appears once the ablation results are shipped (assets/results/ablation/).",
                      available=False)
    learned = [c for c in found["claims"] if c["id"].startswith("abl_learned_") and c["verdict"] != NO_DATA]
    caught = [c for c in found["claims"] if c["id"].startswith("abl_relu_lr_") and c["verdict"] != NO_DATA]
    if not learned:
        return Answer("The shipped ablation has no setting with both AReLU and AReLU frozen yet.", available=False)
    adds = [c for c in learned if c["verdict"] == SUPPORTED]
    largest = max(learned, key=lambda c: abs(c["figures"]["diff"]))
    correct = GAIN_CHOICES[1] if 2 * len(adds) > len(learned) else GAIN_CHOICES[0]
    headline = (f"Learning α and β beat the frozen initial curve in {len(adds)} of {len(learned)} settings (95% "
                f"intervals over 5 seeds); the largest gap, AReLU − frozen, is {largest['figures']['diff']:+.2f} "
                f"points ({largest['setting']}). ReLU with a larger learning rate catches up with AReLU in "
                f"{sum(c['verdict'] == SUPPORTED for c in caught)} of {len(caught)} settings.")
    facts = [f"{c['setting']}: {c['detail']}" for c in learned + caught]
    return Answer(headline, correct, facts, {"summary": found})


# ---------------------------------------------------------------- 5. what each layer learned

LAYER_CHOICES = ("They all keep the curve they started from", "They all moved to the same new curve",
                 "Each layer learned a curve of its own")
MOVED = 0.01                    # slope difference below which a curve "did not move"


def layer_checkpoints() -> list:
    """The shipped AReLU checkpoints (MNIST first, then Fashion-MNIST): trained networks with learned curves."""
    from ..runs import find_checkpoints
    return [entry for entry in find_checkpoints() if entry.source == "shipped" and entry.activation == "arelu"]


@lesson_step("layers", "What each layer learned",
             "The three AReLU layers of MNIST-Conv all start from the same curve (α = 0.9, β = 2). "
             "After training, what do they look like?", LAYER_CHOICES, checkpoint=None)
def layers_answer(checkpoint: str | None) -> Answer:
    from ..checkpoint import load_checkpoint
    entries = layer_checkpoints()
    if checkpoint is None and not entries:
        return Answer("No shipped AReLU checkpoint in models/ (scripts/make_checkpoints.py makes one).",
                      available=False)
    model, metadata = load_checkpoint(checkpoint or entries[0].path)
    x = explore.grid(4.0)
    layers = explore.learned_layer_curves(model, x)
    start = metadata.get("activation_params") or activation_info(model.activation_name).defaults
    initial = explore.initial_curve(model.activation_name, start, x)
    start_slopes = explore.attention_slopes(model.activation_name, start)
    slopes = [explore.attention_slopes(model.activation_name, layer.parameters) for layer in layers]
    if not start_slopes or not all(slopes):
        raise ConfigError(f"{_name(model.activation_name)} has no α and β to show per layer")
    moved = max(abs(layer[name] - start_slopes[name]) for layer in slopes for name in start_slopes)
    spread = max(max(layer[name] for layer in slopes) - min(layer[name] for layer in slopes) for name in start_slopes)
    correct = 0 if moved < MOVED else (1 if spread < MOVED else 2)
    facts = [f"start: " + ", ".join(f"{name} = {value:.3f}" for name, value in start_slopes.items())]
    facts += [f"layer {layer.layer}: " + ", ".join(f"{name} = {value:.3f}" for name, value in slope.items())
              + " (" + ", ".join(f"{k} = {v:.3f}" for k, v in layer.parameters.items()) + ")"
              for layer, slope in zip(layers, slopes)]
    accuracy = metadata.get("test_accuracy")
    from ..data import dataset_info
    trained = (f"{metadata.get('epochs', '?')} epoch(s) of {str(metadata.get('optimizer', '?')).upper()} at "
               f"lr {metadata.get('lr', '?')} on {dataset_info(metadata.get('dataset') or 'mnist').name}"
               + (f", test accuracy {accuracy:.2f}%" if isinstance(accuracy, (int, float)) else ""))
    facts.append(f"trained: {trained}")
    headline = (f"The layers moved up to {moved:.3f} away from their start and differ from each other by up to "
                f"{spread:.3f} in slope.")
    return Answer(headline, LAYER_CHOICES[correct], facts,
                  {"x": x, "layers": layers, "initial": initial, "table": explore.layer_parameters_table(layers)})


# ---------------------------------------------------------------- 6. where the networks look

CAM_CHOICES = ("ReLU's map", "AReLU's map", f"About the same (within {CAM_SAME_WITHIN:.0%} of the map)")


def cam_pair() -> tuple:
    """The shipped MNIST ReLU and AReLU checkpoints (the pair of paper Fig. 5, on MNIST-Conv)."""
    from ..runs import find_checkpoints
    found = {entry.activation: entry for entry in find_checkpoints()
             if entry.source == "shipped" and (entry.dataset or "mnist") == "mnist"}
    if "relu" not in found or "arelu" not in found:
        raise ConfigError("the shipped MNIST ReLU and AReLU checkpoints (models/relu.pt, models/arelu.pt) are missing")
    return found["relu"], found["arelu"]


@lesson_step("cams", "Where the networks look",
             "Grad-CAM shows where a network finds its evidence for a digit. For this digit, whose map lies "
             "more on the strokes?", CAM_CHOICES, digit_class=7, sample=1)
def cams_answer(digit_class: int, sample: int) -> Answer:
    from ..checkpoint import load_checkpoint
    from ..inspection import as_digit_tensor, compare_cams, inspect_digit, load_gallery
    gallery = load_gallery()
    positions = gallery.of_class(int(digit_class))
    if not 1 <= int(sample) <= len(positions):
        raise ConfigError(f"the gallery holds {len(positions)} digits of class {digit_class}, not #{sample}")
    position = int(positions[int(sample) - 1])
    digit = as_digit_tensor(gallery.images[position])
    models = [load_checkpoint(entry.path)[0] for entry in cam_pair()]
    inspections = [inspect_digit(model, digit) for model in models]
    spatial = [block["pre"].shape[-1] > 1 for block in inspections[0].features]
    comparisons = [compare_cams(models[0], models[1], digit, block) for block in range(len(spatial))]
    shares = [(c.on_ink_a, c.on_ink_b) for c, s in zip(comparisons, spatial) if s]
    relu_share, arelu_share = fmean(a for a, _ in shares), fmean(b for _, b in shares)
    gap = arelu_share - relu_share
    correct = None if not math.isfinite(gap) else (2 if abs(gap) < CAM_SAME_WITHIN else (1 if gap > 0 else 0))
    facts = [f"block {block + 1}: on the strokes ReLU {c.on_ink_a:.0%}, AReLU {c.on_ink_b:.0%}"
             for block, (c, s) in enumerate(zip(comparisons, spatial)) if s]
    facts += [f"{_name(key)} predicts {result.predicted} ({result.probabilities[result.predicted]:.1%})"
              for key, result in zip(("relu", "arelu"), inspections)]
    scores = fig5_scores()
    facts += scores or ["The CAM scores over many test images appear once the CAM-score results are shipped "
                        "(assets/results/fig5/)."]
    headline = (f"On MNIST test digit #{int(gallery.indices[position])} (a {digit_class}), {relu_share:.0%} of "
                f"ReLU's Grad-CAM and {arelu_share:.0%} of AReLU's lie on the strokes (mean over the blocks "
                f"with a map): one digit, not a verdict.")
    return Answer(headline, None if correct is None else CAM_CHOICES[correct], facts,
                  {"comparisons": comparisons, "spatial": spatial, "pixels": digit[0].amax(0).numpy(),
                   "test_index": int(gallery.indices[position]), "scores": scores})


def fig5_scores(pair: str = "mnist") -> list[str]:
    """The shipped Fig. 5 measurement of this pair (arelu reproduce fig5) as lines: the verdict, then each
    metric's AReLU − ReLU with its 95% interval."""
    from ..reproduce.fig5 import load_fig5
    found = next((p for p in (load_fig5(shipped.folder("fig5") / "fig5.json") or {}).get("pairs", [])
                  if p["key"] == pair), None)
    if found is None:
        return []
    lines = [f"Over {found['images']} test images ({found['title']}, {found['layer']}), shipped: the claim "
             f"\"AReLU's CAM is more focused\" is {found['claim']['verdict'].upper()}."]
    for metric in found["metrics"].values():
        low, high = metric["difference"]["ci95"]
        lines.append(f"{metric['name']}: ReLU {metric['relu']['mean']:.3f}, AReLU {metric['arelu']['mean']:.3f}, "
                     f"AReLU − ReLU {metric['difference']['mean']:+.3f} [{low:+.3f}, {high:+.3f}] ({metric['verdict']})")
    return lines


# ---------------------------------------------------------------- 7. what holds up

CLAIM_CHOICES = ("All of them", "Most of them, not all", "Half of them or fewer")


@lesson_step("claims", "What holds up, and what does not",
             "The paper makes claims we can check against our own reruns. How many of them hold up in our data?",
             CLAIM_CHOICES, experiments=None)
def claims_answer(experiments: tuple[str, ...] | None) -> Answer:
    chosen = [key for key in (experiments or shipped.EXPERIMENT_TITLES) if shipped.shipped(key)]
    claims = [claim for key in chosen for claim in shipped.claims(key)]
    checked = [claim for claim in claims if claim["verdict"] in (SUPPORTED, NOT_SUPPORTED)]
    if not checked:
        return Answer("None of the chosen results can check a claim yet.", available=bool(chosen),
                      data={"claims": claims})
    held = sum(claim["verdict"] == SUPPORTED for claim in checked)
    correct = 0 if held == len(checked) else (1 if held * 2 > len(checked) else 2)
    facts = [f"{shipped.EXPERIMENT_TITLES.get(c['experiment'], c['experiment'])}: [{c['verdict']}] {c['claim']}: "
             f"{c['detail']}" + (f" (on the paper's own numbers: {c['paper_verdict']})" if c.get("paper_verdict") else "")
             for c in claims]
    unchecked = len(claims) - len(checked)
    headline = (f"{held} of the {len(checked)} claims our shipped results can check hold up; "
                f"{len(checked) - held} do not" + (f" ({unchecked} more {'needs' if unchecked == 1 else 'need'} data not shipped yet)" if unchecked else "")
                + ".")
    return Answer(headline, CLAIM_CHOICES[correct], facts, {"claims": claims})
