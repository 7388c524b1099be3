"""Mean ± std over seeds per (activation, init, optimizer, lr), beside the paper's number."""
from __future__ import annotations

import json
from statistics import fmean, pstdev

from ..activations.registry import ELSA_SUFFIX, variant_label
from .claims import claims_and_totals, evaluate_claims
from .paper import table1_value, table3_value
from .results import final_accuracy


def _params_label(params: dict) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in sorted(params.items()))


def cell_key(record: dict) -> tuple:
    """Runs of one cell differ only by seed (a subset or shorter schedule is another cell)."""
    return (record["activation"], json.dumps(record.get("params") or {}, sort_keys=True),
            record["optimizer"], float(record["lr"]), record.get("epochs"), record.get("train_subset"))


def _curve(runs: list[dict]) -> list[float]:
    """Mean accuracy per epoch over the finished runs (all the same length within one cell)."""
    curves = [r["accuracy"] for r in runs if r.get("status") == "finished" and r["accuracy"]]
    if not curves:
        return []
    length = min(len(c) for c in curves)
    return [round(fmean(c[e] for c in curves), 4) for e in range(length)]


def summarise(experiment: str, records: list[dict], baseline: list[dict] | None = None) -> dict:
    """JSON-ready: cells (activation, params, optimizer, lr, mean, std, n, paper, diff, ...), claims, seconds.

    std is the population std over seeds (np.std, as the official code reports it). Diverged runs are
    counted per cell, not averaged in. Table 4 cells are compared with our own Table 1 (`baseline`).
    Table 2's cells are (activation, setting): table2.summarise_table2.
    """
    if experiment == "table3":            # MAML: cells per (activation, ways, shots)
        return summarise_table3(records)
    if experiment == "table2":
        from .table2 import summarise_table2
        return summarise_table2(records)
    if experiment == "ablation":          # cells per (variant, setting); its own claims
        from .ablation import summarise_ablation
        return summarise_ablation(records)
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault(cell_key(r), []).append(r)
    base_cells = {}
    if baseline:
        for cell in summarise("table1", baseline)["cells"]:
            base_cells[(cell["activation"], cell["variant"], cell["optimizer"], cell["lr"], cell["train_subset"])] = cell
    cells = []
    for (activation, params, optimizer, lr, epochs, subset), runs in groups.items():
        values = [v for v in map(final_accuracy, runs) if v is not None]
        mean = round(fmean(values), 4) if values else None
        params = json.loads(params)
        cell = {"activation": activation, "params": params, "variant": variant_label(activation, params),
                "optimizer": optimizer, "lr": lr,
                "mean": mean, "std": round(pstdev(values), 4) if values else None, "n": len(values),
                "diverged": sum(r.get("status") == "diverged" for r in runs),
                "seeds": sorted(r["seed"] for r in runs), "paper": None, "diff": None,
                "epochs": epochs, "train_subset": subset, "curve": _curve(runs)}
        if experiment == "table1":
            cell["paper"] = table1_value(activation, optimizer, lr)
        elif experiment == "fig3":
            cell["paper_epoch1"] = table1_value(activation, optimizer, lr)   # Fig. 3's first epoch is Table 1
        elif experiment == "table4":
            base = activation[:-len(ELSA_SUFFIX)] if activation.endswith(ELSA_SUFFIX) else activation
            ours = base_cells.get((base, cell["variant"], optimizer, lr, subset))
            cell["base"] = base
            cell["table1_mean"] = ours["mean"] if ours else None
        reference = cell["paper"] if experiment == "table1" else cell.get("table1_mean")
        if mean is not None and reference is not None:
            cell["diff"] = round(mean - reference, 4)
        cells.append(cell)
    # One group's wall time is shared by its runs: count each group once.
    walls = {r.get("group_id", r["key"]): r.get("wall_seconds") or 0.0 for r in records}
    return {"experiment": experiment, "cells": cells, "claims": evaluate_claims(experiment, cells),
            "runs": len(records), "seconds": round(sum(walls.values()), 1)}


def summarise_table3(records: list[dict]) -> dict:
    """Table 3 (MAML) cells per (activation, ways, shots): `mean` ± `std` over seeds of the official metric
    (best meta-training query accuracy over iterations), `test_mean` over seeds of the held-out accuracy with
    a 95% interval over all held-out tasks of the cell's seeds (pooled), beside the paper's number."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        variant = variant_label(r["activation"], r.get("params"))
        groups.setdefault((r.get("inner_lr"), r["activation"], variant, r["ways"], r["shots"]), []).append(r)
    cells = []
    for (inner_lr, activation, variant, ways, shots), runs in groups.items():
        done = [r for r in runs if r.get("status") == "finished" and r.get("mean") is not None]
        best = [r["mean"] for r in done]
        held = [r for r in done if r.get("test_mean") is not None]
        cell = {"activation": activation, "variant": variant, "inner_lr": inner_lr, "ways": ways, "shots": shots,
                "n": len(done),
                "seeds": sorted(r["seed"] for r in runs), "diverged": sum(r.get("status") == "diverged" for r in runs),
                "mean": round(fmean(best), 4) if best else None, "std": round(pstdev(best), 4) if best else None,
                "test_mean": None, "test_std_seeds": None, "test_ci95": None, "test_tasks": 0,
                "paper": table3_value(activation, ways, shots), "diff": None,
                "curve": _curve(done), "seconds_per_run": round(fmean(r["wall_seconds"] for r in done), 2) if done else None}
        if held:
            # all held-out tasks of the cell pooled (every seed evaluates the same number of tasks)
            m = fmean(r["test_mean"] for r in held)
            var = fmean(r["test_std"] ** 2 + (r["test_mean"] - m) ** 2 for r in held)
            n = sum(r["test_n"] for r in held)
            cell.update({"test_mean": round(m, 4), "test_std_seeds": round(pstdev(r["test_mean"] for r in held), 4),
                         "test_ci95": round(1.96 * var ** 0.5 / n ** 0.5, 4), "test_tasks": n})
        if cell["mean"] is not None and cell["paper"] is not None:
            cell["diff"] = round(cell["mean"] - cell["paper"], 4)
        cells.append(cell)
    walls = [r.get("wall_seconds") or 0.0 for r in records]
    inner_lrs = sorted({c["inner_lr"] for c in cells if c["inner_lr"] is not None})
    claims = []
    for inner_lr in inner_lrs or [None]:   # one inner learning rate's cells at a time: a claim never mixes them
        for claim in evaluate_claims("table3", [c for c in cells if c["inner_lr"] == inner_lr]):
            if len(inner_lrs) > 1:
                claim.update({"inner_lr": inner_lr, "detail": f"inner lr {inner_lr:g}: {claim['detail']}"})
            claims.append(claim)
    return {"experiment": "table3", "cells": cells, "claims": claims, "inner_lrs": inner_lrs,
            "runs": len(records), "seconds": round(sum(walls), 1),
            "devices": sorted({r.get("device") or "unknown" for r in records})}


def cell_label(cell: dict) -> str:
    """An activation key with its variant where it has one: "pau (form=official)"."""
    return cell["activation"] + (f" ({cell['variant']})" if cell.get("variant") else "")


def format_table3(summary: dict) -> str:
    head = (f"{'activation':<22} {'inner lr':>8} {'(N, K)':<7} {'ours: best train-task acc':>25} "
            f"{'held-out (95% CI)':>20} {'n':>2} {'paper':>6} {'diff':>7}")
    lines = [head, "-" * len(head)]
    for c in summary["cells"]:
        ours = "diverged" if c["mean"] is None else f"{c['mean']:6.2f} ± {c['std']:5.2f}"
        held = "-" if c["test_mean"] is None else f"{c['test_mean']:6.2f} ± {c['test_ci95']:4.2f}"
        lines.append(f"{cell_label(c):<22} {_num(c['inner_lr'], fmt='g'):>8} {'(%d, %d)' % (c['ways'], c['shots']):<7} "
                     f"{ours:>25} {held:>20} {c['n']:>2} {_num(c['paper']):>6} {_num(c['diff'], signed=True):>7}")
    lines.append("")
    for claim in summary["claims"]:
        lines.append(f"[{claim['verdict']}] {claim['claim']}: {claim['detail']}")
    lines.append(f"{summary['runs']} runs, {summary['seconds']:.0f} s of meta-training")
    return "\n".join(lines)


def compare_table3(records: list[dict]) -> dict:
    """Table 3 at each inner learning rate side by side: one row per (activation, variant, ways, shots) with
    the paper's number and, per inner lr, the official metric (mean ± std over seeds) and the held-out
    accuracy (± 95% interval); the claims computed on each inner lr's cells alone."""
    summary = summarise_table3(records)
    inner_lrs = summary["inner_lrs"]
    rows: dict[tuple, dict] = {}
    for c in summary["cells"]:
        key = (c["ways"], c["shots"], c["activation"], c["variant"])
        row = rows.setdefault(key, {"activation": c["activation"], "variant": c["variant"], "ways": c["ways"],
                                    "shots": c["shots"], "paper": c["paper"], "by_inner_lr": {}})
        row["by_inner_lr"][f"{c['inner_lr']:g}"] = {k: c[k] for k in ("mean", "std", "n", "test_mean", "test_ci95",
                                                                      "test_tasks", "diff")}
    return {"experiment": "table3", "inner_lrs": inner_lrs, "rows": [rows[k] for k in sorted(rows)],
            "claims": summary["claims"], "runs": summary["runs"], "devices": summary["devices"]}


def format_table3_comparison(comparison: dict) -> str:
    lrs = [f"{lr:g}" for lr in comparison["inner_lrs"]]
    head = f"{'(N, K)':<7} {'activation':<22} {'paper':>6}" + "".join(
        f" | {'inner lr ' + lr + ': official':>25} {'held-out (95% CI)':>17}" for lr in lrs)
    lines = [head, "-" * len(head)]
    for row in comparison["rows"]:
        line = f"{'(%d, %d)' % (row['ways'], row['shots']):<7} {cell_label(row):<22} {_num(row['paper']):>6}"
        for lr in lrs:
            c = row["by_inner_lr"].get(lr)
            official = "-" if not c or c["mean"] is None else f"{c['mean']:6.2f} ± {c['std']:5.2f} (n={c['n']})"
            held = "-" if not c or c["test_mean"] is None else f"{c['test_mean']:6.2f} ± {c['test_ci95']:4.2f}"
            line += f" | {official:>25} {held:>17}"
        lines.append(line)
    lines.append("")
    lines += [f"[{claim['verdict']}] {claim['claim']}: {claim['detail']}" for claim in comparison["claims"]]
    lines.append(f"{comparison['runs']} runs")
    return "\n".join(lines)


def format_table(summary: dict) -> str:
    """The summary as a fixed-width text table plus the claims (the CLI's human output)."""
    experiment = summary["experiment"]
    if experiment == "table3":
        return format_table3(summary)
    if experiment == "table2":
        from .table2 import format_table2
        return format_table2(summary)
    if experiment == "ablation":
        from .ablation import format_ablation
        return format_ablation(summary)
    ref_name = {"table1": "paper", "table4": "our T1"}.get(experiment)
    head = f"{'activation':<13} {'init':<20} {'opt':<5} {'lr':<6} {'ours (mean ± std)':>20} {'n':>2}"
    if ref_name:
        head += f" {ref_name:>7} {'diff':>7}"
    if experiment in ("fig2", "fig3"):
        head += "  accuracy per epoch"
    lines = [head, "-" * len(head)]
    for c in summary["cells"]:
        ours = "diverged" if c["mean"] is None else f"{c['mean']:6.2f} ± {c['std']:5.2f}"
        line = (f"{c['activation']:<13} {_params_label(c['params']) or '-':<20} {c['optimizer']:<5} "
                f"{c['lr']:<6.0e} {ours:>20} {c['n']:>2}")
        if ref_name:
            ref = c["paper"] if experiment == "table1" else c.get("table1_mean")
            line += f" {_num(ref):>7} {_num(c['diff'], signed=True):>7}"
        if experiment in ("fig2", "fig3"):
            line += "  " + " ".join(f"{v:.1f}" for v in c["curve"])
        lines.append(line)
    return "\n".join(lines + claims_and_totals(summary))


def _num(value, signed: bool = False, fmt: str = ".2f") -> str:
    if value is None:
        return "-"
    if fmt != ".2f":
        return format(value, fmt)
    return f"{value:+.2f}" if signed else f"{value:.2f}"
