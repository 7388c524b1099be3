"""Table 2: transfer learning with MNIST-Conv (reference section 3, "Table 2"), for any pair of datasets.

The official protocol: both datasets in one format, 3 x 28 x 28 (MNIST's grey repeated in three
channels, SVHN centre-cropped from 32 x 32; SVHN's label 10 is the digit 0). For every activation
and seed:

    pretrain     on the source, SGD (momentum 0.9) lr 1e-2, 5 epochs, batch 128
    no fine-tune the pretrained model on the target's test set
    fine-tune    on the target, SGD lr 1e-5; target test accuracy after 5, 10 and 20 epochs
    no pretrain  the same seed's fresh model trained on the target with the fine-tuning schedule
                 (the official script runs its trainer on SVHN at lr 1e-5 from scratch; the
                 paper's near-constant 19.58 % is the share of 1s among SVHN's test digits)

Runs are trained G at a time (batched.train_group): G models pretrain together, then they and the
same seeds' fresh models (2G) train on the target together. Each finished group's records are
appended to <out>/runs.jsonl, so a rerun resumes. On the CPU a group holds one activation (faster
there); on a GPU, activations mix up to the group size.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import replace
from pathlib import Path
from statistics import fmean, pstdev
from typing import Callable

import torch

from .. import __version__
from ..activations.registry import variant_label
from ..data import dataset_info, load_dataset
from ..errors import ConfigError
from ..network import accuracy
from ..trainer import TrainConfig, device_label, disable_tf32, resolve_device, tf32_enabled
from .batched import DEFAULT_GROUP_SIZE, fresh_models, make_groups, train_group
from .claims import claims_and_totals, evaluate_claims
from .paper import official_code_params, paper_tables
from .results import FORMAT, FORMAT_VERSION, RESULTS_NAME, ResultsFile, now_iso, write_json_atomic

EXPERIMENT = "table2"
PAPER_PAIR = ("mnist", "svhn")
CHANNELS, SIZE = 3, 28                  # the transfer format
PRETRAIN_LR, FINETUNE_LR = 1e-2, 1e-5
PRETRAIN_EPOCHS, FINETUNE_EPOCHS = 5, 20
REPORT_AT = (5, 10, 20)                 # fine-tuning epochs the paper reports
SCRATCH, NO_FINETUNE = "no pretrain", "no fine-tune"


def finetune_setting(epochs: int) -> str:
    return f"f.t. {epochs} epochs"


def settings(finetune_epochs: int = FINETUNE_EPOCHS) -> list[str]:
    """The table's rows, in the paper's order; fine-tuning rows up to finetune_epochs (and it)."""
    marks = sorted({e for e in REPORT_AT if e <= finetune_epochs} | {finetune_epochs})
    return [SCRATCH, NO_FINETUNE, *map(finetune_setting, marks)]


def default_activations() -> list[str]:
    return list(paper_tables()["table2"]["activations"])


def paper_value(activation: str, setting: str, source: str, target: str) -> float | None:
    """The published number, only for the paper's own pair (MNIST -> SVHN)."""
    if (source, target) != PAPER_PAIR:
        return None
    table = paper_tables()["table2"]
    if activation not in table["activations"]:
        return None
    for row in table["rows"]:
        if row["setting"] == setting:
            return row["accuracy"][table["activations"].index(activation)]
    return None


def table2_key(activation: str, seed: int, source: str, target: str, pretrain_epochs: int, finetune_epochs: int,
            batch_size: int, train_subset: int | None, params: dict | None = None) -> str:
    """A run's identity; activation parameters (PAU's form) only when there are any, so keys made
    before they were recorded stay as they were."""
    extra = "|params=" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) if params else ""
    return (f"{activation}{extra}|{source}->{target}|pre=sgd@{PRETRAIN_LR:g}x{pretrain_epochs}"
            f"|ft=sgd@{FINETUNE_LR:g}x{finetune_epochs}|seed={seed}|batch={batch_size}|subset={train_subset}")


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def _pair(source, target) -> tuple[str, str]:
    source, target = dataset_info(source or PAPER_PAIR[0]).key, dataset_info(target or PAPER_PAIR[1]).key
    if source == target:
        raise ConfigError(f"source and target are both {source}: transfer needs two different datasets")
    for key in (source, target):
        if dataset_info(key).num_classes != 10:
            raise ConfigError(f"{dataset_info(key).name} has {dataset_info(key).num_classes} classes; "
                              f"Table 2 transfers between 10-class datasets")
    return source, target


def run_table2(*, source=None, target=None, activations=None, seeds=None, epochs=None, pretrain_epochs=None,
               train_subset: int | None = None, device: str = "auto", out=None, group_size: int | None = None,
               data_dir=None, progress: Callable[[dict], None] | None = None,
               should_stop: Callable[[], bool] | None = None, **unused) -> dict:
    """Train what is missing, return the summary. `epochs` is the number of fine-tuning epochs (20).

    progress(event) gets {"kind": "group", ...}, {"kind": "step", "step", "total"} and {"kind": "run", "record"},
    as run_experiment's. Other keyword arguments of run_experiment (optimizers, lrs) are refused if set.
    """
    from .experiments import get_experiment
    bad = [k for k, v in unused.items() if v]
    if bad:
        raise ConfigError(f"table2 has a fixed protocol (SGD 1e-2, then 1e-5); it takes no {', '.join(bad)}")
    started = time.perf_counter()
    emit = progress or (lambda event: None)
    source, target = _pair(source, target)
    spec = get_experiment(EXPERIMENT)
    acts = list(dict.fromkeys(spec.normalise(a) for a in (activations or default_activations())))
    seed_list = list(dict.fromkeys(spec.seeds if seeds is None else seeds))
    if not (acts and seed_list):
        raise ConfigError("nothing to run: give at least one activation and one seed")
    finetune_epochs = FINETUNE_EPOCHS if epochs is None else epochs
    pretrain_epochs = _positive("pretrain epochs", PRETRAIN_EPOCHS if pretrain_epochs is None else pretrain_epochs)
    group_size = DEFAULT_GROUP_SIZE if group_size is None else _positive("group size", group_size)
    out = Path(out) if out else Path("results") / EXPERIMENT
    results = ResultsFile(out / RESULTS_NAME, EXPERIMENT)
    done = {r["key"] for r in results.read()}          # ResultsFileError before any training

    # One TrainConfig per run, in the fine-tuning schedule (what the results file records as optimizer/lr);
    # validate() checks seeds, epochs and subset as for any training.
    specs = [TrainConfig(activation=a, activation_params=official_code_params(a), optimizer="sgd", lr=FINETUNE_LR,
                         seed=s, epochs=finetune_epochs, train_subset=train_subset, dataset=target,
                         params_every=0).validate()
             for a in acts for s in seed_list]
    keys = {id(s): table2_key(s.activation, s.seed, source, target, pretrain_epochs, finetune_epochs,
                           s.batch_size, train_subset, s.activation_params) for s in specs}
    todo = [s for s in specs if keys[id(s)] not in done]
    torch_device = resolve_device(device) if todo else None
    if torch_device is not None and torch_device.type == "cuda":
        groups = [todo[i:i + group_size] for i in range(0, len(todo), group_size)]
    else:
        groups = make_groups(todo, group_size)
    trained = 0
    if groups:
        label = device_label(torch_device)
        disable_tf32()
        load = lambda name, train: load_dataset(name, train, data_dir, torch_device, channels=CHANNELS, size=SIZE)  # noqa: E731
        src_train, src_test, tgt_train, tgt_test = load(source, True), load(source, False), load(target, True), load(target, False)
        for index, group in enumerate(groups):
            if should_stop and should_stop():
                break
            emit({"kind": "group", "index": index, "groups": len(groups),
                  "runs": [f"{s.activation} seed {s.seed}" for s in group]})
            outcomes = _train_protocol(group, pretrain_epochs, src_train, src_test, tgt_train, tgt_test,
                                       torch_device, emit, should_stop)
            if outcomes is None:       # stopped: nothing of this group is written
                break
            group_id = uuid.uuid4().hex[:12]
            records = [_record(s, o, keys[id(s)], source, target, pretrain_epochs, group_id, len(group), label)
                       for s, o in zip(group, outcomes)]
            results.append(records)
            trained += len(records)
            for record in records:
                emit({"kind": "run", "record": record})
    wanted = set(keys.values())
    records = [r for r in results.read() if r["key"] in wanted]
    summary = summarise_table2(records, source, target, finetune_epochs)
    summary.update({"title": spec.title, "note": pair_note(source, target), "results_file": str(results.path),
                    "requested": len(specs), "finished": len(records), "skipped": len(specs) - len(todo),
                    "trained_now": trained, "seconds_this_call": round(time.perf_counter() - started, 1),
                    "status": "finished" if len(records) == len(specs) else "partial"})
    write_json_atomic(out / "summary.json", summary)
    return summary


def _train_protocol(group, pretrain_epochs, src_train, src_test, tgt_train, tgt_test, device, emit, should_stop):
    """Pretrain on the source, evaluate on the target, then fine-tune those models and train the same
    seeds' fresh models on the target, all 2G in one computation (same schedule: SGD 1e-5)."""
    s0, G = group[0], len(group)
    steps_per_epoch = lambda data: -(-len(data.subset(s0.train_subset)) // s0.batch_size)  # noqa: E731
    first = pretrain_epochs * steps_per_epoch(src_train)
    total = first + s0.epochs * steps_per_epoch(tgt_train)
    started = time.perf_counter()
    pre_specs = [replace(s, lr=PRETRAIN_LR, epochs=pretrain_epochs, dataset=src_train.dataset) for s in group]
    pre = train_group(pre_specs, src_train, src_test, device, should_stop=should_stop,
                      init_models=fresh_models(pre_specs, CHANNELS),
                      progress=lambda done, _: emit({"kind": "step", "step": done, "total": total}))
    if any(o.status == "stopped" for o in pre):
        return None
    pretrained = [o.model.to(device) for o in pre]
    no_finetune = [accuracy(m, tgt_test.images, tgt_test.labels) for m in pretrained]
    after = train_group(group + group, tgt_train, tgt_test, device, should_stop=should_stop,
                        init_models=pretrained + fresh_models(group, CHANNELS),
                        progress=lambda done, _: emit({"kind": "step", "step": first + done, "total": total}))
    if any(o.status == "stopped" for o in after):
        return None
    wall = time.perf_counter() - started
    return [{"pretrain": p, "no_finetune": n, "finetune": f, "scratch": c, "wall_seconds": wall}
            for p, n, f, c in zip(pre, no_finetune, after[:G], after[G:])]


def _record(spec: TrainConfig, outcome: dict, key: str, source: str, target: str, pretrain_epochs: int,
            group_id: str, group_size: int, device: str) -> dict:
    pre, fine, scratch = outcome["pretrain"], outcome["finetune"], outcome["scratch"]
    # A model that diverged while pretraining was frozen at zero: what followed says nothing about transfer.
    failed = next((o for o in (pre, fine) if o.status != "finished"), None)
    values = {SCRATCH: scratch.epoch_accuracies[-1] if scratch.status == "finished" and scratch.epoch_accuracies
              else None}
    if failed is None:
        values[NO_FINETUNE] = outcome["no_finetune"]
        for mark in settings(spec.epochs)[2:]:
            values[mark] = fine.epoch_accuracies[int(mark.split()[1]) - 1]
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "experiment": EXPERIMENT, "key": key,
            "activation": spec.activation, "params": spec.activation_params, "optimizer": "sgd", "lr": FINETUNE_LR,
            "pretrain_lr": PRETRAIN_LR, "seed": spec.seed, "source": source, "target": target,
            "pretrain_epochs": pretrain_epochs, "epochs": spec.epochs, "batch_size": spec.batch_size,
            "train_subset": spec.train_subset, "status": failed.status if failed else "finished",
            "message": failed.message if failed else "training finished",
            "accuracy": fine.epoch_accuracies if failed is None else [], "settings": values,
            "source_accuracy": pre.epoch_accuracies, "scratch_accuracy": scratch.epoch_accuracies,
            "scratch_status": scratch.status,
            "activation_parameters": fine.epoch_parameters if failed is None else [],
            "wall_seconds": round(outcome["wall_seconds"], 3), "group_id": group_id, "group_size": group_size,
            "seconds_per_run": round(outcome["wall_seconds"] / group_size, 3), "device": device, "tf32": tf32_enabled(),
            "library_version": __version__, "torch_version": torch.__version__, "finished_at": now_iso()}


def pair_note(source: str, target: str) -> str:
    pair = f"{dataset_info(source).name} → {dataset_info(target).name}"
    if (source, target) == PAPER_PAIR:
        return f"{pair}: the paper's pair; its published numbers are shown beside ours."
    return (f"{pair}: NOT the paper's pair (MNIST → SVHN), so no published number is comparable; "
            f"same protocol (3×28×28 inputs, SGD 1e-2 pretraining, SGD 1e-5 fine-tuning).")


def summarise_table2(records: list[dict], source: str | None = None, target: str | None = None,
                     finetune_epochs: int | None = None) -> dict:
    """Cells (activation, setting, mean, std, n, seeds, paper, diff), claims and seconds.

    source/target/finetune_epochs default to those of the records (a results file holds one pair's
    runs when written by run_table2; mixed files are summarised per the first record's pair)."""
    first = records[0] if records else {}
    source, target = source or first.get("source", PAPER_PAIR[0]), target or first.get("target", PAPER_PAIR[1])
    finetune_epochs = finetune_epochs or first.get("epochs") or FINETUNE_EPOCHS
    records = [r for r in records if (r.get("source"), r.get("target")) == (source, target)]
    by_cell: dict[tuple, list[float]] = {}
    diverged: dict[str, int] = {}
    seeds: dict[str, set] = {}
    variants: dict[str, set] = {}       # PAU's form, shown beside its name (runs of one file share it)
    for r in records:
        variants.setdefault(r["activation"], set()).add(variant_label(r["activation"], r.get("params")))
        seeds.setdefault(r["activation"], set()).add(r["seed"])
        diverged[r["activation"]] = diverged.get(r["activation"], 0) + (r.get("status") == "diverged")
        for setting, value in (r.get("settings") or {}).items():
            if isinstance(value, (int, float)):
                by_cell.setdefault((r["activation"], setting), []).append(value)
    cells = []
    for activation in dict.fromkeys(r["activation"] for r in records):
        for setting in settings(finetune_epochs):
            values = by_cell.get((activation, setting), [])
            paper = paper_value(activation, setting, source, target)
            mean = round(fmean(values), 4) if values else None
            cells.append({"activation": activation, "variant": " / ".join(sorted(variants[activation] - {""})),
                          "setting": setting, "mean": mean,
                          "std": round(pstdev(values), 4) if values else None, "n": len(values),
                          "diverged": diverged.get(activation, 0), "seeds": sorted(seeds.get(activation, ())),
                          "paper": paper, "diff": round(mean - paper, 4) if mean is not None and paper is not None else None,
                          "source": source, "target": target})
    walls = {r.get("group_id", r["key"]): r.get("wall_seconds") or 0.0 for r in records}
    claims = evaluate_claims(EXPERIMENT, cells)
    if (source, target) != PAPER_PAIR:
        for claim in claims:
            claim["detail"] += f" ({dataset_info(source).name} → {dataset_info(target).name}, not the paper's pair)"
    return {"experiment": EXPERIMENT, "source": source, "target": target, "paper_pair": (source, target) == PAPER_PAIR,
            "settings": settings(finetune_epochs), "cells": cells, "claims": claims, "runs": len(records),
            "devices": sorted({r.get("device", "?") for r in records}), "seconds": round(sum(walls.values()), 1)}


def format_table2(summary: dict) -> str:
    """Rows = settings, columns = activations (the paper's layout); 'ours (paper)' where the paper has one."""
    cells = {(c["activation"], c["setting"]): c for c in summary["cells"]}
    acts = list(dict.fromkeys(c["activation"] for c in summary["cells"]))
    width = 17 if summary.get("paper_pair") else 13
    lines = [f"Table 2, {dataset_info(summary['source']).name} -> {dataset_info(summary['target']).name}: "
             f"target test accuracy (%), mean ± std over seeds" + (" (paper in brackets)" if summary.get("paper_pair") else
                                                                   " (not the paper's pair: no published numbers)")]
    lines.append(f"{'setting':<15}" + "".join(f"{a:>{width}}" for a in acts))
    for setting in summary["settings"]:
        row = f"{setting:<15}"
        for a in acts:
            c = cells.get((a, setting))
            text = "-" if not c or c["mean"] is None else f"{c['mean']:.2f}±{c['std']:.1f}"
            if c and c.get("paper") is not None:
                text += f" ({c['paper']:.1f})"
            row += f"{text:>{width}}"
        lines.append(row)
    return "\n".join(lines + claims_and_totals(summary, on_devices=True))
