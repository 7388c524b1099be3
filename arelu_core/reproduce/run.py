"""Run an experiment: skip the runs already in its results file, train the rest in batched groups,
append each group's runs as they finish, and summarise.

    run_experiment("table1", activations=["relu", "arelu"], seeds=[0], out="results/table1")
"""
from __future__ import annotations

import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch

from .. import __version__
from ..data import load_mnist
from ..errors import ConfigError
from ..jobs import Task
from ..trainer import TrainConfig, TrainResult, device_label, disable_tf32, resolve_device, tf32_enabled
from .batched import DEFAULT_GROUP_SIZE, make_groups, train_group
from .experiments import get_experiment
from .results import FORMAT, FORMAT_VERSION, RESULTS_NAME, ResultsFile, now_iso, run_key, write_json_atomic
from .summary import summarise

def default_out(experiment: str) -> Path:
    return Path("results") / experiment


def _params_text(params: dict) -> str:
    """' (learn=none)': a run's activation parameters in a progress line (none: nothing)."""
    return f" ({', '.join(f'{k}={v}' for k, v in sorted(params.items()))})" if params else ""


def make_record(experiment: str, spec: TrainConfig, outcome: TrainResult, group_id: str, group_size: int,
                device: str, tags: dict | None = None) -> dict:
    """tags: what the grid says of the run beyond its config (an ablation's variant and setting lr)."""
    return {**(tags or {}), "format": FORMAT, "format_version": FORMAT_VERSION, "experiment": experiment, "key": run_key(spec),
            "activation": spec.activation, "params": spec.activation_params, "optimizer": spec.optimizer,
            "lr": spec.lr, "seed": spec.seed, "epochs": spec.epochs, "batch_size": spec.batch_size,
            "train_subset": spec.train_subset, "status": outcome.status, "message": outcome.message,
            "accuracy": outcome.epoch_accuracies, "activation_parameters": outcome.epoch_parameters,
            "params_trace": outcome.params_trace, "steps": outcome.steps,
            "wall_seconds": round(outcome.wall_seconds, 3), "group_id": group_id, "group_size": group_size,
            "seconds_per_run": round(outcome.wall_seconds / group_size, 3), "device": device, "tf32": tf32_enabled(),
            "library_version": __version__, "torch_version": torch.__version__, "finished_at": now_iso()}


def run_experiment(experiment: str, *, activations=None, optimizers=None, lrs=None, seeds=None, epochs=None,
                   train_subset: int | None = None, device: str = "auto", out=None, group_size: int | None = None,
                   data_dir=None, baseline=None, progress: Callable[[dict], None] | None = None,
                   should_stop: Callable[[], bool] | None = None, source=None, target=None,
                   pretrain_epochs=None, ray: str | None = None, variants=None) -> dict:
    """Train what is missing, return the summary (cells, claims, seconds) plus bookkeeping.

    Table 2 (run_table2) also takes source, target (dataset keys) and pretrain_epochs; its `epochs`
    are the fine-tuning epochs. An ablation (experiments.ABLATION_VARIANTS) takes `variants` instead of
    activations; its Table 1 variants are copied from `baseline` (default: ablation.baseline_file).

    progress(event) gets {"kind": "group", "index", "groups", "runs"}, {"kind": "step", "step", "total"}
    and {"kind": "run", "record"}. Each group's runs are appended (fsynced) before the next group
    starts, so an interrupt, an exception from `progress` or should_stop() loses no finished run.
    """
    if ray and str(experiment).strip().lower() == "table2":
        raise ConfigError("--ray runs the batched grids (table1, fig2, fig3, table4) and fig4, not table2 yet")
    if str(experiment).strip().lower() == "table2":   # three phases per run: its own runner
        from .table2 import run_table2
        return run_table2(source=source, target=target, activations=activations, seeds=seeds, epochs=epochs,
                          pretrain_epochs=pretrain_epochs, train_subset=train_subset, device=device, out=out,
                          group_size=group_size, data_dir=data_dir, progress=progress, should_stop=should_stop,
                          optimizers=optimizers, lrs=lrs, baseline=baseline)
    if source or target or pretrain_epochs:
        raise ConfigError(f"--source, --target and --pretrain-epochs belong to table2, not {experiment}")
    started = time.perf_counter()
    spec = get_experiment(experiment)
    emit = progress or (lambda event: None)
    if variants and not spec.variants:
        raise ConfigError(f"--variants belongs to the ablation, not {spec.name}")
    tagged = (spec.variant_runs(variants, optimizers, lrs, seeds, epochs, train_subset, activations=activations)
              if spec.variants else [({}, r) for r in spec.runs(activations, optimizers, lrs, seeds, epochs, train_subset)])
    runs, tags = [r for _, r in tagged], {run_key(r): t for t, r in tagged}
    group_size = DEFAULT_GROUP_SIZE if group_size is None else group_size
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ConfigError(f"group size must be a positive integer, got {group_size!r}")
    out = Path(out) if out else default_out(spec.name)
    results = ResultsFile(out / RESULTS_NAME, spec.name)
    done = {r["key"] for r in results.read()}          # ResultsFileError before any training
    if spec.variants:     # the ablation's AReLU and ReLU are Table 1's runs: taken from its results, not retrained
        from .ablation import baseline_file, copy_table1_runs
        copied = copy_table1_runs(tagged, done, baseline_file(out, baseline))
        results.append(copied)
        done |= {r["key"] for r in copied}
    todo = [r for r in runs if run_key(r) not in done]
    groups = make_groups(todo, group_size)
    trained = 0
    if groups and ray:   # each group as one Ray task (ray_runner.py); records appended as groups come back
        from .ray_runner import run_on_ray
        threads = torch.get_num_threads()
        items = [{"experiment": spec.name, "specs": [asdict(s) for s in g], "threads": threads,
                  "tags": [tags[run_key(s)] for s in g]} for g in groups]

        def finished(records):
            nonlocal trained
            results.append(records)
            trained += len(records)
            for record in records:
                emit({"kind": "run", "record": record})
        run_on_ray(train_group_task, items, ray, finished, device=device, threads=threads, datasets=("mnist",),
                   should_stop=should_stop,
                   data_dir=str(Path(data_dir).expanduser().resolve()) if data_dir else None)
    elif groups:
        torch_device = resolve_device(device)
        label = device_label(torch_device)
        disable_tf32()
        train_data = load_mnist(True, data_dir, torch_device)
        test_data = load_mnist(False, data_dir, torch_device)
        for index, group in enumerate(groups):
            if should_stop and should_stop():
                break
            emit({"kind": "group", "index": index, "groups": len(groups),
                  "runs": [f"{s.activation}{_params_text(s.activation_params)} {s.optimizer} {s.lr:g} seed {s.seed}"
                           for s in group]})
            outcomes = train_group(group, train_data, test_data, torch_device,
                                   progress=lambda step, total: emit({"kind": "step", "step": step, "total": total}),
                                   should_stop=should_stop)
            group_id = uuid.uuid4().hex[:12]
            records = [make_record(spec.name, s, o, group_id, len(group), label, tags[run_key(s)])
                       for s, o in zip(group, outcomes) if o.status != "stopped"]
            results.append(records)      # durable before anyone hears of them
            trained += len(records)
            for record in records:
                emit({"kind": "run", "record": record})
    wanted = {run_key(r) for r in runs}
    records = [r for r in results.read() if r["key"] in wanted]
    summary = summarise(spec.name, records, _baseline(spec.name, out, baseline))
    summary.update({"title": spec.title, "note": spec.note, "results_file": str(results.path),
                    "requested": len(runs), "finished": len(records), "skipped": len(runs) - len(todo),
                    "trained_now": trained, "seconds_this_call": round(time.perf_counter() - started, 1),
                    "status": "finished" if len(records) == len(runs) else "partial"})
    write_json_atomic(out / "summary.json", summary)
    return summary


def train_group_task(item: dict, data_dir=None, device: str = "auto") -> list[dict]:
    """One group of an experiment trained where it lands (a Ray worker): its results records.

    The driver's thread count goes along, so the numbers equal a local run's on the same device."""
    torch.set_num_threads(item["threads"])
    disable_tf32()
    spec = get_experiment(item["experiment"])
    group = [TrainConfig(**s) for s in item["specs"]]
    torch_device = resolve_device(device)
    outcomes = train_group(group, load_mnist(True, data_dir, torch_device), load_mnist(False, data_dir, torch_device),
                           torch_device)
    group_id = uuid.uuid4().hex[:12]
    tags = item.get("tags") or [{}] * len(group)
    return [make_record(spec.name, s, o, group_id, len(group), device_label(torch_device), t)
            for s, o, t in zip(group, outcomes, tags) if o.status != "stopped"]


def _baseline(experiment: str, out: Path, baseline) -> list[dict] | None:
    """Table 4 compares with our Table 1: --baseline, else <out>/../table1/runs.jsonl when present."""
    if experiment != "table4":
        return None
    path = Path(baseline) if baseline else out.parent / "table1" / RESULTS_NAME
    if not path.exists():
        if baseline:
            raise ConfigError(f"baseline results file {path} does not exist")
        return None
    return ResultsFile(path, "table1").read()


# -- in the app: a grid as a job of the JobManager ------------------------------------------------------
STEP_EVENT_SECONDS = 0.5   # at most two step events a second reach the job: a grid makes ~100 000 steps


def run_experiment_task(emit: Callable[[dict], None], should_stop: Callable[[], bool], experiment: str,
                        **kwargs) -> dict:
    """run_experiment as a JobManager task (in a worker process): its progress events, step events thinned
    out. Each group's runs are in the results file before they are emitted, so a stop loses none."""
    last = [0.0]

    def progress(event: dict) -> None:
        if event["kind"] == "step" and event["step"] < event["total"]:
            now = time.monotonic()
            if now - last[0] < STEP_EVENT_SECONDS:
                return
            last[0] = now
        emit(event)

    return run_experiment(experiment, progress=progress, should_stop=should_stop, **kwargs)


def reproduce_task(experiment: str, **kwargs) -> Task:
    """A (small) grid as a job's task. The grid is checked here, so bad choices raise ConfigError at submit."""
    spec = get_experiment(experiment)
    spec.runs(*(kwargs.get(k) for k in ("activations", "optimizers", "lrs", "seeds", "epochs", "train_subset")),
              variants=kwargs.get("variants"))
    return Task(run_experiment_task, {"experiment": spec.name, **kwargs}, kind="reproduction")


def experiment_progress(events: list[dict]) -> dict:
    """The page's view of a grid's events: fraction done, group i of n, step s of t, finished run records."""
    group, groups, step, total, records = 0, 0, 0, 0, []
    for event in events:
        if event["kind"] == "group":
            group, groups, step = event["index"], event["groups"], 0
        elif event["kind"] == "step":
            step, total = event["step"], event["total"]
        elif event["kind"] == "run":
            records.append(event["record"])
    inner = step / total if total else 0.0
    fraction = min(1.0, (group + inner) / groups) if groups else 0.0
    return {"fraction": fraction, "group": group, "groups": groups, "step": step, "total": total, "records": records}
