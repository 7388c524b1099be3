"""Fig. 4: test accuracy per epoch of five deep networks x {ReLU, LReLU, PReLU, SELU, PAU, AReLU} x seeds.

One run is one `trainer.train` of a deep network with the paper's recipe (SGD lr 0.1, batch 64,
weight decay 5e-4, momentum 0.9, crop + flip). Runs are independent, so a grid runs either here, one
after another, or as Ray tasks across a cluster (`ray_runner.py`); either way each finished run is
appended (fsynced) to <out>/runs.jsonl as soon as it is back, and a rerun skips the runs there.

    run_fig4(networks=["resnet18"], activations=["relu", "arelu"], seeds=[0], epochs=2, dataset="fashion-mnist")
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import fmean, pstdev
from typing import Callable

from .. import __version__
from ..activations import resolve_name
from ..activations.registry import variant_label
from ..deep_networks import DEEP_NETWORKS, network_info
from ..errors import ConfigError
from .claims import NO_DATA, NOT_SUPPORTED, SUPPORTED, _result
from .paper import official_code_params
from .results import FORMAT, FORMAT_VERSION, RESULTS_NAME, ResultsFile, now_iso, write_json_atomic

EXPERIMENT = "fig4"
TITLE = "Figure 4: deep networks, test accuracy per epoch"
PAPER_ACTIVATIONS = ("relu", "lrelu", "prelu", "selu", "pau", "arelu")
PAPER_EPOCHS = 45
DEFAULT_EPOCHS = 5
NOTE = (f"The paper trains {PAPER_EPOCHS} epochs on CIFAR-100 and names only ResNet-18 and SE-ResNet-18; our other "
        f"three are VGG-16 (BN), DenseNet-121 and MobileNetV2. Default here: {DEFAULT_EPOCHS} epochs "
        f"(--epochs {PAPER_EPOCHS} for the paper's).")
OVERFIT_DROP = 1.0     # points: "overfits" = the last epoch at least this far below the best one


@dataclass(frozen=True)
class DeepRun:
    """One training of the grid; every field goes into the results record."""
    network: str
    activation: str
    seed: int
    epochs: int
    dataset: str = "cifar100"
    width: float = 1.0
    train_subset: int | None = None
    test_subset: int | None = None
    lr: float = 0.1
    batch_size: int = 64
    weight_decay: float = 5e-4
    optimizer: str = "sgd"
    threads: int | None = None     # CPU threads per training: the same in every runner, so results match
    params: dict = field(default_factory=dict)   # the activation's parameters (PAU's form, as the official code)

    def key(self) -> str:
        return (f"{self.network}|{self.activation}|{self.dataset}|w={self.width:g}|{self.optimizer}|{self.lr:g}"
                f"|wd={self.weight_decay:g}|seed={self.seed}|epochs={self.epochs}|batch={self.batch_size}"
                f"|subset={self.train_subset}|test={self.test_subset}"
                + ("|params=" + ",".join(f"{k}={v}" for k, v in sorted(self.params.items())) if self.params else ""))

    def label(self) -> str:
        return f"{self.network} {self.activation} seed {self.seed}"


def fig4_runs(networks=None, activations=None, seeds=None, epochs=None, dataset: str = "cifar100",
              width: float = 1.0, train_subset=None, test_subset=None, threads=None) -> list[DeepRun]:
    from ..data import dataset_info
    nets = [network_info(n).key for n in (networks or DEEP_NETWORKS)]
    shallow = [n for n in nets if not network_info(n).deep]
    if shallow:
        raise ConfigError(f"Fig. 4 is about deep networks; choose among: {', '.join(DEEP_NETWORKS)}")
    acts = [resolve_name(a)[0] + ("+elsa" if resolve_name(a)[1] else "") for a in (activations or PAPER_ACTIVATIONS)]
    seed_list = [0] if seeds is None else list(seeds)
    for s in seed_list:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ConfigError(f"seeds must be non-negative integers, got {s!r}")
    epochs = DEFAULT_EPOCHS if epochs is None else epochs
    for name, value in (("epochs", epochs), ("train subset", train_subset), ("test subset", test_subset),
                        ("threads", threads)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if not (isinstance(width, (int, float)) and math.isfinite(width) and 0 < width <= 4):
        raise ConfigError(f"width must be a number in (0, 4], got {width!r}")
    if not (nets and acts and seed_list):
        raise ConfigError("nothing to run: give at least one network, activation and seed")
    dataset = dataset_info(dataset).key
    return [DeepRun(n, a, s, epochs, dataset, float(width), train_subset, test_subset, threads=threads,
                    params=official_code_params(a))
            for n in dict.fromkeys(nets) for a in dict.fromkeys(acts) for s in dict.fromkeys(seed_list)]


def train_run(run: dict, data_dir: str | None = None, device: str = "auto") -> dict:
    """Train one DeepRun (given as a dict, so it crosses to a Ray worker as plain data); the results record.

    Used as is by the local runner and as the Ray task, so a seed gives the same numbers either way
    on the same device: same thread count, same seeded weights, batch order and crops."""
    import torch
    from ..trainer import deep_recipe, disable_tf32, tf32_enabled, train
    run = DeepRun(**run)
    if run.threads:
        torch.set_num_threads(run.threads)
    disable_tf32()
    config = deep_recipe(run.network, activation=run.activation, activation_params=run.params,
                         dataset=run.dataset, width=run.width,
                         epochs=run.epochs, seed=run.seed, lr=run.lr, batch_size=run.batch_size,
                         weight_decay=run.weight_decay, optimizer=run.optimizer, train_subset=run.train_subset,
                         test_subset=run.test_subset, device=device, data_dir=data_dir, params_every=0,
                         compile="off")
    started = time.perf_counter()
    result = train(config)
    wall = time.perf_counter() - started
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "experiment": EXPERIMENT, "key": run.key(),
            **asdict(run), "status": result.status, "message": result.message,
            "accuracy": result.epoch_accuracies, "epoch_seconds": [round(s, 3) for s in result.epoch_seconds],
            "activation_parameters": result.model.activation_parameters(), "steps": result.steps,
            "samples_per_second": round(result.samples_per_second, 1), "amp": result.amp,
            "wall_seconds": round(wall, 3), "device": result.device, "tf32": tf32_enabled(),
            "library_version": __version__,
            "torch_version": torch.__version__, "finished_at": now_iso()}


def run_fig4(*, networks=None, activations=None, seeds=None, epochs=None, dataset: str = "cifar100",
             width: float = 1.0, train_subset=None, test_subset=None, threads=None, device: str = "auto",
             data_dir=None, out=None, ray: str | None = None, progress: Callable[[dict], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> dict:
    """Train the missing runs (here, or as Ray tasks on `ray`: an address or "local"); the summary.

    progress(event): {"kind": "run", "record"} per finished run. Each record is in the results file
    before progress hears of it; an interrupt or a failed worker loses no finished run.
    """
    started = time.perf_counter()
    emit = progress or (lambda event: None)
    if threads is None:
        import torch
        threads = torch.get_num_threads()
    runs = fig4_runs(networks, activations, seeds, epochs, dataset, width, train_subset, test_subset, threads)
    out = Path(out) if out else Path("results") / EXPERIMENT
    results = ResultsFile(out / RESULTS_NAME, EXPERIMENT)
    done = {r["key"] for r in results.read()}          # ResultsFileError before any training
    todo = [r for r in runs if r.key() not in done]
    if data_dir is not None:
        data_dir = str(Path(data_dir).expanduser().resolve())   # workers elsewhere see the same path

    def finished(record: dict):
        results.append([record])                        # durable before anyone hears of it
        emit({"kind": "run", "record": record})

    if todo and ray:
        from .ray_runner import run_on_ray
        run_on_ray(train_run, [asdict(r) for r in todo], ray, finished, data_dir=data_dir, device=device,
                   threads=threads, datasets=sorted({r.dataset for r in todo}), should_stop=should_stop)
    else:
        from ..data import load_dataset
        from ..trainer import resolve_device
        if todo:   # the data first: a missing dataset is one line before any run starts
            load_dataset(todo[0].dataset, True, data_dir, resolve_device(device))
        for run in todo:
            if should_stop and should_stop():
                break
            emit({"kind": "start", "run": run.label()})
            finished(train_run(asdict(run), data_dir, device))
    wanted = {r.key() for r in runs}
    records = [r for r in results.read() if r["key"] in wanted]
    summary = summarise_fig4(records)
    summary.update({"title": TITLE, "note": NOTE, "results_file": str(results.path), "requested": len(runs),
                    "finished": len(records), "skipped": len(runs) - len(todo),
                    "trained_now": len(records) - (len(runs) - len(todo)),
                    "seconds_this_call": round(time.perf_counter() - started, 1), "ray": ray,
                    "status": "finished" if len(records) == len(runs) else "partial"})
    write_json_atomic(out / "summary.json", summary)
    return summary


# ---------------------------------------------------------------- summary and claims

def summarise_fig4(records: list[dict]) -> dict:
    """Cells per (network, activation, dataset, schedule): mean curve over seeds, final and best epoch."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        key = (r["network"], r["activation"], variant_label(r["activation"], r.get("params")), r["dataset"],
               r.get("width"), r["epochs"], r.get("train_subset"))
        groups.setdefault(key, []).append(r)
    cells = []
    for (network, activation, variant, dataset, width, epochs, subset), runs in groups.items():
        curves = [r["accuracy"] for r in runs if r["status"] == "finished" and r["accuracy"]]
        length = min((len(c) for c in curves), default=0)
        curve = [round(fmean(c[e] for c in curves), 4) for e in range(length)]
        finals = [c[-1] for c in curves]
        cells.append({"network": network, "activation": activation, "variant": variant, "dataset": dataset, "width": width,
                      "epochs": epochs, "train_subset": subset, "curve": curve, "n": len(curves),
                      "mean": round(fmean(finals), 4) if finals else None,
                      "std": round(pstdev(finals), 4) if finals else None,
                      "seeds": sorted(r["seed"] for r in runs),
                      "diverged": sum(r["status"] == "diverged" for r in runs)})
    walls = sum(r.get("wall_seconds") or 0.0 for r in records)
    return {"experiment": EXPERIMENT, "cells": cells, "claims": fig4_claims(cells), "runs": len(records),
            "seconds": round(walls, 1)}


def early_accuracy(curve: list[float]) -> float:
    """How fast a curve converges: its mean over the first quarter of the epochs (at least one)."""
    head = curve[:max(1, math.ceil(len(curve) / 4))]
    return fmean(head)


def _by_network(cells) -> dict[str, dict[str, dict]]:
    nets: dict[str, dict[str, dict]] = {}
    for c in cells:
        if c["curve"]:
            nets.setdefault(c["network"], {})[c["activation"]] = c
    return nets


def arelu_fastest(cells):
    cid = "f4_fastest"
    text = "AReLU converges fastest on all five networks (highest accuracy over the first quarter of the epochs)"
    nets = {n: acts for n, acts in _by_network(cells).items() if "arelu" in acts and len(acts) > 1}
    if not nets:
        return _result(cid, text, NO_DATA, {}, "needs AReLU and another activation on some network")
    wins, behind = [], {}
    for network, acts in nets.items():
        early = {a: early_accuracy(c["curve"]) for a, c in acts.items()}
        rival = max((a for a in early if a != "arelu"), key=early.get)
        (wins.append(network) if early["arelu"] > early[rival] else behind.__setitem__(network, rival))
    verdict = SUPPORTED if not behind and len(nets) == len(DEEP_NETWORKS) else (
        NOT_SUPPORTED if behind else NO_DATA)
    detail = (f"AReLU fastest on {len(wins)} of {len(nets)} networks run ({len(DEEP_NETWORKS)} needed)"
              + (f"; behind on {', '.join(f'{n} ({r})' for n, r in behind.items())}" if behind else ""))
    return _result(cid, text, verdict, {"fastest_on": wins, "behind_on": behind, "networks": len(nets)}, detail)


def pau_fast_then_overfits(cells):
    cid = "f4_pau_overfits"
    text = (f"PAU starts fast (its first epoch above ReLU's), then overfits (its last epoch at least "
            f"{OVERFIT_DROP:g} points below its best)")
    nets = {n: acts for n, acts in _by_network(cells).items()
            if {"pau", "relu"} <= set(acts) and len(acts["pau"]["curve"]) >= 3}
    if not nets:
        return _result(cid, text, NO_DATA, {}, "needs PAU and ReLU on some network, over 3 epochs or more")
    fits = []
    for network, acts in nets.items():
        pau, relu = acts["pau"]["curve"], acts["relu"]["curve"]
        if pau[0] > relu[0] and max(pau) - pau[-1] >= OVERFIT_DROP:
            fits.append(network)
    return _result(cid, text, SUPPORTED if len(fits) * 2 > len(nets) else NOT_SUPPORTED,
                   {"holds_on": fits, "networks": len(nets)},
                   f"holds on {len(fits)} of {len(nets)} networks")


def fig4_claims(cells) -> list[dict]:
    return [arelu_fastest(cells), pau_fast_then_overfits(cells)]


def format_fig4(summary: dict) -> str:
    lines = [f"{'network':<12} {'activation':<11} {'n':>2}  accuracy per epoch (mean over seeds)"]
    for c in summary["cells"]:
        lines.append(f"{c['network']:<12} {c['activation']:<11} {c['n']:>2}  " + " ".join(f"{v:.1f}" for v in c["curve"]))
    lines.append("")
    lines += [f"[{c['verdict']}] {c['claim']}: {c['detail']}" for c in summary["claims"]]
    return "\n".join(lines)
