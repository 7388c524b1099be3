"""The attention-or-gain ablation (not in the paper): is AReLU's speed at small learning rates the learned
attention, or the gain of its initial curve (0.9 below zero, 1 + sigmoid(2) ~ 1.88 above), which a larger
learning rate might give ReLU too?

The grid is Table 1's protocol over experiments.ABLATION_VARIANTS. AReLU and ReLU are Table 1's very runs
(same run key): `copy_table1_runs` takes them from a Table 1 results file instead of training them again.
Claims per setting (optimizer, lr), each with a 95% t-interval over seeds of the paired difference (the same
seed gives every variant the same initial weights and batch order):

    learned    AReLU - AReLU frozen                 > 0: learning alpha/beta adds accuracy beyond the initial curve
    relu_lr    ReLU at k x lr - AReLU, k = 2, 4, 8  interval reaching 0: ReLU matches AReLU (catches up) at k
    from_relu  AReLU started as ReLU - AReLU        interval reaching 0: the attention learned from ReLU's shape catches up
"""
from __future__ import annotations

import math
from pathlib import Path
from statistics import fmean, pstdev, stdev

from ..data import ASSETS
from .claims import NO_DATA, NOT_SUPPORTED, SUPPORTED
from .experiments import get_experiment
from .results import RESULTS_NAME, ResultsFile, final_accuracy, now_iso

EXPERIMENT = "ablation"
SHIPPED_TABLE1 = ASSETS / "results" / "table1" / RESULTS_NAME
LR_MULTIPLES = (2, 4, 8)
# Student's t, 97.5% quantile, df = 1..10 (standard tables); above, the Cornish-Fisher expansion around the
# normal's 1.96 (three terms: within 0.001 of the exact quantile from df = 11 on; tested against scipy).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


def t975(df: int) -> float:
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return (z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3))


def paired_interval(a: dict, b: dict) -> dict | None:
    """Mean of a[s] - b[s] over the seeds both have, with its 95% t-interval; None under 2 common seeds."""
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        return None
    diffs = [a[s] - b[s] for s in seeds]
    mean = fmean(diffs)
    half = t975(len(seeds) - 1) * stdev(diffs) / math.sqrt(len(seeds))
    return {"diff": round(mean, 4), "ci95": [round(mean - half, 4), round(mean + half, 4)], "n": len(seeds)}


# ---------------------------------------------------------------- Table 1's runs, reused

def baseline_file(out: Path, baseline=None) -> Path | None:
    """The Table 1 results to take AReLU's and ReLU's runs from: --baseline, else <out>/../table1, else the
    shipped ones (assets/results/table1); None when there is none."""
    if baseline:
        return Path(baseline)
    for path in (Path(out).parent / "table1" / RESULTS_NAME, SHIPPED_TABLE1):
        if path.exists():
            return path
    return None


def copy_table1_runs(tagged: list[tuple[dict, object]], done: set[str], path: Path | None) -> list[dict]:
    """Records of Table 1 (`path`) for the runs in `tagged` that a Table 1 variant names and `done` lacks:
    the same run key is the same protocol (activation, parameters, optimizer, lr, seed, epochs, batch, subset)."""
    from .results import run_key
    if path is None:
        return []
    wanted = {run_key(config): tags for tags, config in tagged
              if get_experiment(EXPERIMENT).variant(tags["variant"]).in_table1 and run_key(config) not in done}
    if not wanted:
        return []
    copied = []
    for record in ResultsFile(path, "table1").read():
        if record["key"] in wanted:
            copied.append({**record, **wanted.pop(record["key"]), "experiment": EXPERIMENT,
                           "copied_from": f"table1: {path}", "copied_at": now_iso()})
    return copied


# ---------------------------------------------------------------- summary

def _setting_label(optimizer: str, lr: float) -> str:
    return f"{'SGD' if optimizer == 'sgd' else 'Adam'} {lr:.0e}"


def _final_alpha_beta(runs: list[dict]) -> list[dict] | None:
    """Mean over the finished runs of each layer's alpha and beta after training (AReLU variants)."""
    finals = [r["activation_parameters"][-1] for r in runs
              if r.get("status") == "finished" and r.get("activation_parameters")]
    if not finals or not all("alpha" in layer for layer in finals[0]):
        return None
    return [{name: round(fmean(f[i][name] for f in finals), 4) for name in ("alpha", "beta")}
            for i in range(len(finals[0]))]


def summarise_ablation(records: list[dict]) -> dict:
    """Cells (variant x setting: mean ± std over seeds, per-seed accuracy, final alpha/beta) and the claims."""
    spec = get_experiment(EXPERIMENT)
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        if r.get("variant") and r.get("setting_lr") is not None:
            groups.setdefault((r["variant"], r["optimizer"], float(r["setting_lr"]), r.get("epochs"),
                               r.get("train_subset")), []).append(r)
    order = {v.key: i for i, v in enumerate(spec.variants)}
    cells = []
    for (key, optimizer, lr, epochs, subset), runs in sorted(groups.items(), key=lambda kv: (
            -kv[0][2], kv[0][1], order.get(kv[0][0], len(order)))):
        variant = spec.variant(key)
        by_seed = {r["seed"]: v for r in runs if (v := final_accuracy(r)) is not None}
        values = list(by_seed.values())
        cells.append({"variant": key, "name": variant.name, "activation": variant.activation, "params": variant.params,
                      "optimizer": optimizer, "lr": lr, "setting": _setting_label(optimizer, lr),
                      "trained_lr": lr * variant.lr_scale, "lr_scale": variant.lr_scale,
                      "mean": round(fmean(values), 4) if values else None,
                      "std": round(pstdev(values), 4) if values else None, "n": len(values),
                      "diverged": sum(r.get("status") == "diverged" for r in runs),
                      "seeds": sorted(r["seed"] for r in runs), "accuracy_by_seed": {str(s): by_seed[s] for s in sorted(by_seed)},
                      "copied": sum(bool(r.get("copied_from")) for r in runs), "epochs": epochs, "train_subset": subset,
                      "final_alpha_beta": _final_alpha_beta(runs) if variant.activation == "arelu" else None})
    walls = {r.get("group_id", r["key"]): r.get("wall_seconds") or 0.0 for r in records if not r.get("copied_from")}
    return {"experiment": EXPERIMENT, "variants": [{"key": v.key, "name": v.name, "description": v.description,
                                                    "lr_scale": v.lr_scale} for v in spec.variants],
            "cells": cells, "claims": ablation_claims(cells), "runs": len(records),
            "copied": sum(bool(r.get("copied_from")) for r in records), "seconds": round(sum(walls.values()), 1)}


# ---------------------------------------------------------------- claims

def _by_setting(cells: list[dict]) -> dict[tuple, dict[str, dict]]:
    settings: dict[tuple, dict[str, dict]] = {}
    for c in cells:
        settings.setdefault((c["optimizer"], c["lr"], c["epochs"], c["train_subset"]), {})[c["variant"]] = c
    return settings


def _seeds(cell: dict) -> dict[int, float]:
    return {int(s): v for s, v in cell["accuracy_by_seed"].items()}


def _claim(cid, text, verdict, figures, detail, setting):
    return {"id": cid, "claim": text, "verdict": verdict, "figures": figures, "detail": detail, "setting": setting}


def _interval_text(pair: dict) -> str:
    low, high = pair["ci95"]
    return f"{pair['diff']:+.2f} [{low:+.2f}, {high:+.2f}] points (n={pair['n']})"


def _pair(cells: dict[str, dict], first: str, second: str) -> tuple[dict | None, dict | None, dict | None]:
    """The two variants' cells and the paired interval of first - second (None where either is missing)."""
    a, b = cells.get(first), cells.get(second)
    return a, b, (paired_interval(_seeds(a), _seeds(b)) if a and b else None)


def learned_beyond_initial_curve(cells: dict[str, dict], label: str, suffix: str) -> dict:
    cid, text = f"abl_learned_{suffix}", f"learning α/β adds accuracy beyond the fixed initial curve ({label})"
    arelu, frozen, pair = _pair(cells, "arelu", "arelu-frozen")
    if pair is None:
        return _claim(cid, text, NO_DATA, {}, "needs AReLU and AReLU frozen on at least 2 common seeds", label)
    figures = {"arelu": arelu["mean"], "frozen": frozen["mean"], **pair}
    verdict = SUPPORTED if pair["ci95"][0] > 0 else NOT_SUPPORTED
    tail = ("" if verdict == SUPPORTED else
            "; the fixed curve is better" if pair["ci95"][1] < 0 else "; no difference resolved")
    return _claim(cid, text, verdict, figures, f"AReLU {arelu['mean']:.2f} vs frozen {frozen['mean']:.2f}: "
                  f"{_interval_text(pair)}{tail}", label)


def relu_catches_up(cells: dict[str, dict], label: str, suffix: str) -> dict:
    """ReLU at k x lr matches AReLU where the interval of (ReLU x k - AReLU) reaches 0 and no seed diverged."""
    cid, text = f"abl_relu_lr_{suffix}", f"ReLU at k× the learning rate matches AReLU ({label})"
    arelu = cells.get("arelu")
    per_k = []
    for k in LR_MULTIPLES:
        relu, _, pair = _pair(cells, f"relu-lr{k}", "arelu")
        if relu and relu["diverged"]:
            per_k.append({"k": k, "mean": relu["mean"], "diverged": relu["diverged"], "matches": False,
                          **(pair or {"diff": None, "ci95": None, "n": 0})})
        elif pair is not None:
            per_k.append({"k": k, "mean": relu["mean"], "diverged": 0, "matches": pair["ci95"][1] >= 0, **pair})
    if arelu is None or not per_k:
        return _claim(cid, text, NO_DATA, {"per_k": per_k}, "needs AReLU and ReLU at 2, 4 or 8 x the lr "
                      "on at least 2 common seeds", label)
    first = next((p["k"] for p in per_k if p["matches"]), None)
    parts = [f"×{p['k']}: " + (f"{p['diverged']} run(s) diverged" if p["diverged"] else _interval_text(p))
             for p in per_k]
    head = f"catches up at ×{first}" if first else "does not catch up at " + ", ".join(f"×{p['k']}" for p in per_k)
    figures = {"arelu": arelu["mean"], "relu": cells["relu"]["mean"] if "relu" in cells else None,
               "per_k": per_k, "catches_up_at": first}
    return _claim(cid, text, SUPPORTED if first else NOT_SUPPORTED, figures,
                  f"ReLU {head} (AReLU {arelu['mean']:.2f}; ReLU×k − AReLU: " + "; ".join(parts) + ")", label)


def attention_from_relu(cells: dict[str, dict], label: str, suffix: str) -> dict:
    cid, text = f"abl_from_relu_{suffix}", f"AReLU started as ReLU catches up with AReLU ({label})"
    start, arelu, pair = _pair(cells, "arelu-from-relu", "arelu")
    if pair is None:
        return _claim(cid, text, NO_DATA, {}, "needs AReLU and AReLU started as ReLU on at least 2 common seeds", label)
    over_relu = _pair(cells, "arelu-from-relu", "relu")[2]
    figures = {"arelu": arelu["mean"], "from_relu": start["mean"], **pair, "over_relu": over_relu}
    detail = f"started as ReLU {start['mean']:.2f} − AReLU {arelu['mean']:.2f}: {_interval_text(pair)}"
    if over_relu:
        detail += f"; over ReLU {_interval_text(over_relu)}"
    return _claim(cid, text, SUPPORTED if pair["ci95"][1] >= 0 else NOT_SUPPORTED, figures, detail, label)


CLAIMS = (learned_beyond_initial_curve, relu_catches_up, attention_from_relu)


def ablation_claims(cells: list[dict]) -> list[dict]:
    """Each claim for each setting (paper column order within a learning rate), from the cells."""
    claims = []
    for (optimizer, lr, epochs, subset), by_variant in _by_setting(cells).items():
        label = _setting_label(optimizer, lr) + (f", {subset} digits" if subset else "")
        suffix = f"{optimizer}_{lr:g}" + (f"_subset{subset}" if subset else "")
        claims += [claim(by_variant, label, suffix) for claim in CLAIMS]
    return claims


def format_ablation(summary: dict) -> str:
    """Settings as columns, variants as rows (mean ± std, n), then every claim's verdict."""
    settings = list(dict.fromkeys(c["setting"] + (f" ({c['train_subset']})" if c["train_subset"] else "")
                                  for c in summary["cells"]))
    names = {v["key"]: v["name"] for v in summary["variants"]}
    rows = [key for key in names if any(c["variant"] == key for c in summary["cells"])]
    table = {(c["variant"], c["setting"] + (f" ({c['train_subset']})" if c["train_subset"] else "")): c
             for c in summary["cells"]}
    head = f"{'variant':<28}" + "".join(f"{s:>19}" for s in settings)
    lines = [head, "-" * len(head)]
    for key in rows:
        line = f"{names[key]:<28}"
        for s in settings:
            c = table.get((key, s))
            text = "-" if c is None else "diverged" if c["mean"] is None else f"{c['mean']:.2f} ± {c['std']:.2f} ({c['n']})"
            line += f"{text:>19}"
        lines.append(line)
    lines.append("")
    lines += [f"[{c['verdict']}] {c['claim']}: {c['detail']}" for c in summary["claims"] if c["verdict"] != NO_DATA]
    empty = list(dict.fromkeys(c["setting"] for c in summary["claims"] if c["verdict"] == NO_DATA))
    if empty:      # one line, not three per setting: a partial grid (AReLU/ReLU copied, no variant trained there)
        lines.append(f"[{NO_DATA}] some claims in: {', '.join(empty)} (no runs of the variants they compare)")
    lines.append(f"{summary['runs']} runs ({summary['copied']} copied from Table 1), "
                 f"{summary['seconds']:.0f} s of training")
    return "\n".join(lines)
