"""The paper's claims, each a sentence plus a function of the results: never a typed-in verdict.

Every claim function takes the summary cells of one experiment and returns
{"id", "claim", "verdict", "figures", "detail"} with verdict one of SUPPORTED, NOT_SUPPORTED,
NO_DATA. Table 1 claims are also checked on the paper's own numbers ("paper_verdict"), which
shows the sentence is a fair reading of the published table.
"""
from __future__ import annotations

from statistics import fmean

from ..activations import activation_info
from ..activations.registry import unlabelled_params
from ..errors import AReLULabError
from .paper import paper_tables

SUPPORTED, NOT_SUPPORTED, NO_DATA = "supported", "not supported", "not enough data"
ARELU = "arelu"
ROW_TOLERANCE = 3.0       # points: "AReLU's row within 3 points of the paper on average"
TABLE_TOLERANCE = 5.0     # points: the whole table, on average
INIT_SPREAD = 2.0         # points: Fig. 2 "insensitive to initialisation" = final accuracies within this


def display_name(activation: str) -> str:
    """'slaf' -> 'SLAF': the name a reader knows (the registry's), the key itself when it is not registered."""
    try:
        return activation_info(activation).name
    except AReLULabError:
        return activation


def setting_label(optimizer: str, lr: float) -> str:
    """('sgd', 0.01) -> 'SGD, lr 0.01'."""
    return f"{'SGD' if optimizer == 'sgd' else 'Adam' if optimizer == 'adam' else optimizer}, lr {lr:g}"


def _result(cid, text, verdict, figures, detail):
    return {"id": cid, "claim": text, "verdict": verdict, "figures": figures, "detail": detail}


def _setting(cells, optimizer, lr) -> dict[str, dict]:
    """{activation: cell} of one (optimizer, lr), default inits, finished runs only; an activation run in
    two variants (PAU's safe and official forms) is two rivals, "pau (form=official)" and "pau (form=safe)"."""
    found = [c for c in cells if c["optimizer"] == optimizer and abs(c["lr"] - lr) < 1e-12
             and not unlabelled_params(c["activation"], c.get("params")) and c["mean"] is not None]
    variants: dict[str, set] = {}
    for c in found:
        variants.setdefault(c["activation"], set()).add(c.get("variant") or "")
    return {c["activation"] + (f" ({c['variant']})" if len(variants[c["activation"]]) > 1 else ""): c for c in found}


def paper_cells() -> list[dict]:
    """The published Table 1 in the shape of summary cells (mean = the paper's number)."""
    table = paper_tables()["table1"]
    return [{"activation": row["activation"], "params": {}, "optimizer": col["optimizer"], "lr": col["lr"],
             "mean": value, "paper": value, "n": 5}
            for row in table["rows"] for col, value in zip(table["columns"], row["accuracy"]) if value is not None]


# ---------------------------------------------------------------- Table 1

def arelu_beats_all(optimizer: str, lr: float):
    def claim(cells):
        cid, text = f"t1_best_{optimizer}_{lr:g}", f"AReLU beats every other activation with {setting_label(optimizer, lr)}"
        setting = _setting(cells, optimizer, lr)
        if ARELU not in setting or len(setting) < 2:
            return _result(cid, text, NO_DATA, {"activations": sorted(setting)},
                           "needs AReLU and at least one other activation in this setting")
        others = {a: c["mean"] for a, c in setting.items() if a != ARELU}
        rival = max(others, key=others.get)
        ours = setting[ARELU]["mean"]
        figures = {"arelu": ours, "best_other": rival, "best_other_mean": others[rival],
                   "margin": round(ours - others[rival], 4), "compared": len(others)}
        return _result(cid, text, SUPPORTED if ours > others[rival] else NOT_SUPPORTED, figures,
                       f"AReLU {ours:.2f} vs {display_name(rival)} {others[rival]:.2f} (margin {ours - others[rival]:+.2f}, "
                       f"{len(others)} others)")
    return claim


def arelu_best_at_small_lr(cells):
    cid, text = "t1_best_small_lr", "AReLU is the best activation in every setting with lr <= 1e-3"
    wins, settings, losses = 0, 0, []
    for optimizer, lr in sorted({(c["optimizer"], c["lr"]) for c in cells if c["lr"] <= 1e-3 + 1e-15}):
        setting = _setting(cells, optimizer, lr)
        if ARELU not in setting or len(setting) < 2:
            continue
        settings += 1
        best_other = max(c["mean"] for a, c in setting.items() if a != ARELU)
        if setting[ARELU]["mean"] > best_other:
            wins += 1
        else:
            losses.append(setting_label(optimizer, lr))
    if not settings:
        return _result(cid, text, NO_DATA, {}, "needs AReLU and another activation at some lr <= 1e-3")
    detail = f"best in {wins} of {settings} settings" + (f" (not at {'; '.join(losses)})" if losses else "")
    return _result(cid, text, SUPPORTED if wins == settings else NOT_SUPPORTED,
                   {"wins": wins, "settings": settings, "lost": losses}, detail)


def arelu_row_matches_paper(cells):
    cid, text = "t1_arelu_row", f"our AReLU row is within {ROW_TOLERANCE:g} points of the paper's on average"
    diffs = [c["mean"] - c["paper"] for c in cells
             if c["activation"] == ARELU and not c.get("params") and c["mean"] is not None and c.get("paper") is not None]
    if not diffs:
        return _result(cid, text, NO_DATA, {}, "needs finished AReLU runs of Table 1 settings")
    mad = fmean(abs(d) for d in diffs)
    return _result(cid, text, SUPPORTED if mad <= ROW_TOLERANCE else NOT_SUPPORTED,
                   {"mean_abs_diff": round(mad, 4), "mean_diff": round(fmean(diffs), 4), "cells": len(diffs)},
                   f"mean |ours - paper| = {mad:.2f} points over {len(diffs)} cells (mean ours - paper {fmean(diffs):+.2f})")


def table_matches_paper(cells):
    cid, text = "t1_table", f"our Table 1 is within {TABLE_TOLERANCE:g} points of the paper's on average"
    diffs = [c["mean"] - c["paper"] for c in cells if c["mean"] is not None and c.get("paper") is not None]
    if not diffs:
        return _result(cid, text, NO_DATA, {}, "needs finished Table 1 runs")
    mad = fmean(abs(d) for d in diffs)
    worst = max((c for c in cells if c["mean"] is not None and c.get("paper") is not None),
                key=lambda c: abs(c["mean"] - c["paper"]))
    return _result(cid, text, SUPPORTED if mad <= TABLE_TOLERANCE else NOT_SUPPORTED,
                   {"mean_abs_diff": round(mad, 4), "cells": len(diffs),
                    "worst": f"{worst['activation']} {worst['optimizer']} {worst['lr']:g}",
                    "worst_diff": round(worst["mean"] - worst["paper"], 4)},
                   f"mean |ours - paper| = {mad:.2f} points over {len(diffs)} cells; largest gap "
                   f"{display_name(worst['activation'])} with {setting_label(worst['optimizer'], worst['lr'])} "
                   f"({worst['mean'] - worst['paper']:+.2f})")


# ---------------------------------------------------------------- Figure 2

def _inits(cells):
    return [c for c in cells if c["activation"] == ARELU and c["mean"] is not None
            and {"alpha", "beta"} <= set(c.get("params") or {})]


def insensitive_to_init(cells):
    cid, text = "f2_insensitive", f"AReLU is insensitive to its initialisation (final accuracies within {INIT_SPREAD:g} points)"
    inits = _inits(cells)
    if len(inits) < 3:
        return _result(cid, text, NO_DATA, {"inits": len(inits)}, "needs at least 3 initialisations")
    lo, hi = min(inits, key=lambda c: c["mean"]), max(inits, key=lambda c: c["mean"])
    spread = hi["mean"] - lo["mean"]
    return _result(cid, text, SUPPORTED if spread <= INIT_SPREAD else NOT_SUPPORTED,
                   {"spread": round(spread, 4), "min": lo["mean"], "max": hi["mean"], "inits": len(inits),
                    "worst_init": lo["params"], "best_init": hi["params"]},
                   f"final accuracy {lo['mean']:.2f}..{hi['mean']:.2f} over {len(inits)} inits (spread {spread:.2f})")


def larger_beta_faster(cells):
    cid, text = "f2_beta_faster", "a larger beta converges faster (higher accuracy after the first epoch, same alpha)"
    by_alpha: dict[float, list[dict]] = {}
    for c in _inits(cells):
        if c["curve"]:
            by_alpha.setdefault(c["params"]["alpha"], []).append(c)
    pairs, wins, gaps = 0, 0, []
    for alpha, group in sorted(by_alpha.items()):
        group.sort(key=lambda c: c["params"]["beta"])
        for low, high in zip(group, group[1:]):
            if high["params"]["beta"] > low["params"]["beta"]:
                pairs += 1
                gap = high["curve"][0] - low["curve"][0]
                wins += gap > 0
                gaps.append(round(gap, 4))
    if not pairs:
        return _result(cid, text, NO_DATA, {}, "needs two initialisations with the same alpha and different beta")
    verdict = SUPPORTED if wins * 2 > pairs and fmean(gaps) > 0 else NOT_SUPPORTED
    return _result(cid, text, verdict, {"pairs": pairs, "larger_beta_ahead": wins, "epoch1_gaps": gaps},
                   f"larger beta ahead after epoch 1 in {wins} of {pairs} pairs (mean gap {fmean(gaps):+.2f} points)")


def best_alpha(cells):
    cid, text = "f2_best_alpha", "alpha = 0.25 or 0.75 gives the best final accuracy"
    inits = _inits(cells)
    alphas = {c["params"]["alpha"] for c in inits}
    if len(inits) < 3 or not alphas & {0.25, 0.75} or not alphas - {0.25, 0.75}:
        return _result(cid, text, NO_DATA, {"inits": len(inits)},
                       "needs at least 3 initialisations, with alpha 0.25 or 0.75 and some other alpha")
    best = max(inits, key=lambda c: c["mean"])
    a = best["params"]["alpha"]
    return _result(cid, text, SUPPORTED if a in (0.25, 0.75) else NOT_SUPPORTED,
                   {"best_init": best["params"], "best_mean": best["mean"]},
                   f"best: alpha={a:g}, beta={best['params']['beta']:g} at {best['mean']:.2f}%")


# ---------------------------------------------------------------- Figure 3

def arelu_leads_every_epoch(lr: float):
    def claim(cells):
        cid, text = f"f3_leads_sgd_{lr:g}", f"AReLU has the highest accuracy at every epoch with SGD at lr {lr:g}"
        setting = {a: c for a, c in _setting(cells, "sgd", lr).items() if c["curve"]}
        if ARELU not in setting or len(setting) < 2:
            return _result(cid, text, NO_DATA, {}, "needs AReLU and another activation at this lr")
        epochs = min(len(c["curve"]) for c in setting.values())
        behind = [e + 1 for e in range(epochs)
                  if setting[ARELU]["curve"][e] <= max(c["curve"][e] for a, c in setting.items() if a != ARELU)]
        return _result(cid, text, NOT_SUPPORTED if behind else SUPPORTED,
                       {"epochs": epochs, "epochs_not_leading": behind, "compared": len(setting) - 1,
                        "arelu_curve": setting[ARELU]["curve"][:epochs]},
                       f"AReLU leads at {epochs - len(behind)} of {epochs} epochs against {len(setting) - 1} others")
    return claim


# ---------------------------------------------------------------- Table 4

def _elsa_gains(cells):
    return [(c, c["mean"] - c["table1_mean"]) for c in cells
            if c["mean"] is not None and c.get("table1_mean") is not None]


def elsa_improves_most(cells):
    cid, text = "t4_improves", "adding ELSA improves most activations over our Table 1"
    gains = _elsa_gains(cells)
    if not gains:
        return _result(cid, text, NO_DATA, {}, "needs '+elsa' runs and our Table 1 runs of the same settings")
    better = sum(g > 0 for _, g in gains)
    return _result(cid, text, SUPPORTED if better * 2 > len(gains) else NOT_SUPPORTED,
                   {"improved": better, "cells": len(gains), "mean_gain": round(fmean(g for _, g in gains), 4)},
                   f"better in {better} of {len(gains)} cells (mean gain {fmean(g for _, g in gains):+.2f} points)")


def elsa_gain_small_lr(cells):
    cid, text = "t4_small_lr", "ELSA's gain is largest at small learning rates (lr <= 1e-4 vs >= 1e-3)"
    gains = _elsa_gains(cells)
    small = [g for c, g in gains if c["lr"] <= 1e-4 + 1e-15]
    large = [g for c, g in gains if c["lr"] > 1e-4 + 1e-15]
    if not small or not large:
        return _result(cid, text, NO_DATA, {}, "needs compared cells at both lr <= 1e-4 and lr >= 1e-3")
    s, l = fmean(small), fmean(large)
    return _result(cid, text, SUPPORTED if s > l else NOT_SUPPORTED,
                   {"mean_gain_small_lr": round(s, 4), "mean_gain_large_lr": round(l, 4)},
                   f"mean gain {s:+.2f} points at lr <= 1e-4 vs {l:+.2f} at lr >= 1e-3")


# ---------------------------------------------------------------- Table 3 (MAML)

def arelu_best_meta(metric: str, require_complete: bool = True):
    """AReLU's cell is the best (no other activation higher) in every (ways, shots) setting, on `metric`.

    With require_complete, a setting lacking an activation the grid has elsewhere decides nothing
    (an unfinished grid); the published table is read without it, since its one blank (GELU at
    5-shot) is a gap in the paper, not a run still to come."""
    label = {"mean": "the official metric (best meta-training query accuracy)",
             "test_mean": "held-out tasks (MNIST test digits)"}[metric]

    def claim(cells):
        cid, text = f"t3_best_{metric}", f"AReLU is the best activation in both MAML settings, on {label}"
        settings = sorted({(c["ways"], c["shots"]) for c in cells})
        outcome, lost, figures, partial = [], [], {}, []
        name = lambda c: c["activation"] + (f" ({c['variant']})" if c.get("variant") else "")  # noqa: E731
        rivals = {name(c) for c in cells if c.get(metric) is not None}   # the grid's: a setting must have them all
        for ways, shots in settings:
            here = {name(c): c[metric] for c in cells
                    if (c["ways"], c["shots"]) == (ways, shots) and c.get(metric) is not None}
            if ARELU not in here or len(here) < 2:
                continue
            if require_complete and rivals - set(here):     # a partial grid: the missing one might be the best
                partial.append(f"({ways}, {shots}) lacks " + ", ".join(sorted(display_name(a) for a in rivals - set(here))))
                continue
            rival = max((a for a in here if a != ARELU), key=here.get)
            figures[f"{ways}-way {shots}-shot"] = {"arelu": here[ARELU], "best_other": rival,
                                                   "best_other_value": here[rival], "compared": len(here) - 1}
            outcome.append(here[ARELU] >= here[rival])
            if here[ARELU] < here[rival]:
                lost.append(f"({ways}, {shots}): {display_name(rival)} {here[rival]:.2f} > AReLU {here[ARELU]:.2f}")
        if len(outcome) < 2:
            return _result(cid, text, NO_DATA, figures, "; ".join(partial) if partial else
                           "needs AReLU and another activation in both (5, 1) and (5, 5)")
        detail = (f"best in {sum(outcome)} of {len(outcome)} settings"
                  + (f"; {'; '.join(lost)}" if lost else ""))
        return _result(cid, text, SUPPORTED if all(outcome) else NOT_SUPPORTED, figures, detail)
    return claim


def table3_paper_cells() -> list[dict]:
    table = paper_tables()["table3"]
    return [{"activation": row["activation"], "ways": col["ways"], "shots": col["shots"], "mean": value}
            for row in table["rows"] for col, value in zip(table["columns"], row["accuracy"]) if value is not None]
# ---------------------------------------------------------------- Table 2

def _finetune_rows(cells) -> list[str]:
    return sorted({c["setting"] for c in cells if c["setting"].startswith("f.t.")}, key=lambda s: int(s.split()[1]))


def _row(cells, setting) -> dict[str, float]:
    return {c["activation"]: c["mean"] for c in cells if c["setting"] == setting and c["mean"] is not None}


def arelu_best_after_finetuning(cells):
    cid, text = "t2_arelu_best_ft", "AReLU transfers best: the highest target accuracy in every fine-tuning row"
    rows = [(s, _row(cells, s)) for s in _finetune_rows(cells)]
    rows = [(s, r) for s, r in rows if ARELU in r and len(r) >= 2]
    if not rows:
        return _result(cid, text, NO_DATA, {}, "needs AReLU and another activation after fine-tuning")
    lost = []
    for setting, row in rows:
        rival = max((a for a in row if a != ARELU), key=row.get)
        if row[ARELU] <= row[rival]:
            lost.append(f"{setting}: {display_name(rival)} {row[rival]:.2f} vs AReLU {row[ARELU]:.2f}")
    last, row = rows[-1]
    rival = max((a for a in row if a != ARELU), key=row.get)
    detail = (f"best in {len(rows) - len(lost)} of {len(rows)} rows; {last}: AReLU {row[ARELU]:.2f} vs {display_name(rival)} "
              f"{row[rival]:.2f}" + (f" (lost: {'; '.join(lost)})" if lost else ""))
    return _result(cid, text, NOT_SUPPORTED if lost else SUPPORTED,
                   {"rows": len(rows), "lost": lost, "compared": len(row) - 1}, detail)


def pretraining_helps(cells):
    cid, text = "t2_pretraining_helps", "pretraining on the source helps: fine-tuned beats trained-from-scratch for every activation"
    rows = _finetune_rows(cells)
    if not rows:
        return _result(cid, text, NO_DATA, {}, "needs fine-tuned and from-scratch results")
    tuned, scratch = _row(cells, rows[-1]), _row(cells, "no pretrain")
    both = sorted(set(tuned) & set(scratch))
    if not both:
        return _result(cid, text, NO_DATA, {}, "needs fine-tuned and from-scratch results of one activation")
    gains = {a: round(tuned[a] - scratch[a], 4) for a in both}
    worse = [a for a, g in gains.items() if g <= 0]
    return _result(cid, text, NOT_SUPPORTED if worse else SUPPORTED, {"gains": gains, "setting": rows[-1]},
                   f"{rows[-1]} minus no pretrain: {min(gains.values()):+.2f} .. {max(gains.values()):+.2f} points "
                   f"over {len(both)} activations" + (f" (not for {', '.join(map(display_name, worse))})" if worse else ""))


def table2_paper_cells() -> list[dict]:
    table = paper_tables()["table2"]
    return [{"activation": a, "setting": row["setting"], "mean": v}
            for row in table["rows"] for a, v in zip(table["activations"], row["accuracy"]) if v is not None]


CLAIMS = {
    "table1": [arelu_beats_all("sgd", 1e-3), arelu_beats_all("sgd", 1e-4), arelu_best_at_small_lr,
               arelu_row_matches_paper, table_matches_paper],
    "fig2": [insensitive_to_init, larger_beta_faster, best_alpha],
    "fig3": [arelu_leads_every_epoch(1e-4), arelu_leads_every_epoch(1e-5)],
    "table4": [elsa_improves_most, elsa_gain_small_lr],
    "table3": [arelu_best_meta("mean"), arelu_best_meta("test_mean")],
    "table2": [arelu_best_after_finetuning, pretraining_helps],
}
PAPER_CHECKED = {"t1_best_sgd_0.001", "t1_best_sgd_0.0001", "t1_best_small_lr"}


def evaluate_claims(experiment: str, cells: list[dict]) -> list[dict]:
    claims = [fn(cells) for fn in CLAIMS.get(experiment, [])]
    if experiment == "table1":
        published = paper_cells()
        for claim, fn in zip(claims, CLAIMS["table1"]):
            if claim["id"] in PAPER_CHECKED:
                claim["paper_verdict"] = fn(published)["verdict"]
    if experiment == "table3":       # the sentence read on the published table (its only metric: "mean")
        claims[0]["paper_verdict"] = arelu_best_meta("mean", require_complete=False)(table3_paper_cells())["verdict"]
    if experiment == "table2":      # the sentence read on the published MNIST -> SVHN table
        published = table2_paper_cells()
        for claim, fn in zip(claims, CLAIMS["table2"]):
            claim["paper_verdict"] = fn(published)["verdict"]
    return claims


def claims_and_totals(summary: dict, on_devices: bool = False) -> list[str]:
    """The closing lines of every experiment's text summary: each claim's verdict, then runs and time."""
    lines = [""] + [f"[{claim['verdict']}] {claim['claim']}: {claim['detail']}" for claim in summary["claims"]]
    where = f" on {', '.join(summary['devices']) or '-'}" if on_devices else ""
    return lines + [f"{summary['runs']} runs, {summary['seconds']:.0f} s of training{where}"]
