"""Training runs as the app shows and keeps them: progress tables, metrics CSV, checkpoints on disk.

Checkpoints come from two folders: models/ (shipped with the project, optionally described by
models/manifest.json) and runs/ (saved by users from the app; $ARELU_RUNS_DIR overrides it).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from .checkpoint import save_checkpoint
from .trainer import TrainResult

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = PROJECT_ROOT / "models"
ENV_RUNS_DIR = "ARELU_RUNS_DIR"
CHECKPOINT_SUFFIX = ".pt"


def runs_dir() -> Path:
    return Path(os.environ[ENV_RUNS_DIR]).expanduser() if os.environ.get(ENV_RUNS_DIR) else PROJECT_ROOT / "runs"


MNIST_TRAIN_SIZE = 60_000


def steps_per_epoch(train_subset: int | None, batch_size: int, dataset: str = "mnist") -> int:
    from .data import dataset_info
    size = dataset_info(dataset).train_size
    digits = min(train_subset or size, size)
    return -(-digits // batch_size)


def live_report_intervals(train_subset: int | None, batch_size: int, dataset: str = "mnist") -> tuple[int, int]:
    """(live_eval_every, params_every) in steps: about 10 accuracy checks and 50 alpha/beta samples per
    epoch, so a short demo still draws curves and a full epoch spends only a few percent on evaluation."""
    steps = steps_per_epoch(train_subset, batch_size, dataset)
    return max(1, min(50, steps // 10)), max(1, min(10, steps // 50))


# -- progress events -> tables -------------------------------------------------------------------
@dataclass
class RunProgress:
    steps: pd.DataFrame     # step, epoch, loss, time
    live: pd.DataFrame      # step, epoch, accuracy          (fixed test subset, within the epoch)
    epochs: pd.DataFrame    # epoch, step, test_accuracy, seconds, samples_per_second, train_loss
    params: pd.DataFrame    # step, layer (1-based), param, value   (long format, one row per scalar)

    @property
    def last_step(self) -> int:
        return int(self.steps["step"].iloc[-1]) if len(self.steps) else 0


PROGRESS_COLUMNS = {"step": ("step", "epoch", "loss", "time"),
                    "live_eval": ("step", "epoch", "accuracy", "time"),
                    "epoch": ("epoch", "step", "test_accuracy", "seconds", "samples_per_second", "train_loss"),
                    "params": ("step", "layer", "param", "value")}


def progress_tables(events: list[dict]) -> RunProgress:
    """Split the trainer's events by kind. Columns are gathered as lists (the live view calls this twice a
    second on up to ~10 000 events per job; that is several times faster than a DataFrame of dicts)."""
    columns = {kind: {name: [] for name in names} for kind, names in PROGRESS_COLUMNS.items()}
    for event in events:
        kind = event.get("kind")
        if kind == "params":
            params = columns["params"]
            for layer, values in enumerate(event["layers"], start=1):
                for name, value in values.items():
                    params["step"].append(event["step"])
                    params["layer"].append(layer)
                    params["param"].append(name)
                    params["value"].append(value)
        elif kind in columns:
            for name, values in columns[kind].items():
                values.append(event.get(name))
    tables = {kind: pd.DataFrame(table) for kind, table in columns.items()}
    return RunProgress(steps=tables["step"], live=tables["live_eval"], epochs=tables["epoch"], params=tables["params"])


def live_throughput(steps: pd.DataFrame, batch_size: int, window_seconds: float = 3.0) -> float | None:
    """Samples per second over the last few seconds of step events (None before two steps)."""
    if len(steps) < 2:
        return None
    recent = steps[steps["time"] >= steps["time"].iloc[-1] - window_seconds]
    if len(recent) < 2:
        recent = steps.iloc[-2:]
    seconds = recent["time"].iloc[-1] - recent["time"].iloc[0]
    return (recent["step"].iloc[-1] - recent["step"].iloc[0]) * batch_size / seconds if seconds > 0 else None


def downsample(frame: pd.DataFrame, max_points: int = 1500) -> pd.DataFrame:
    """Every k-th row so a chart redrawn twice a second stays light; the last row is always kept."""
    if len(frame) <= max_points:
        return frame
    stride = -(-len(frame) // max_points)
    return pd.concat([frame.iloc[::stride], frame.iloc[-1:]]).drop_duplicates()


def metrics_frame(events: list[dict]) -> pd.DataFrame:
    """One row per training step: loss, live accuracy, epoch test accuracy and alpha/beta per layer."""
    progress = progress_tables(events)
    frame = progress.steps.drop(columns="time")
    if len(progress.live):
        frame = frame.merge(progress.live[["step", "accuracy"]].rename(columns={"accuracy": "live_accuracy"}),
                            on="step", how="outer")
    if len(progress.epochs):
        frame = frame.merge(progress.epochs.drop(columns="epoch"), on="step", how="outer")
    if len(progress.params):
        wide = progress.params.assign(column=lambda d: "layer" + d["layer"].astype(str) + "_" + d["param"])
        wide = wide.pivot_table(index="step", columns="column", values="value", aggfunc="last").reset_index()
        frame = frame.merge(wide, on="step", how="outer")
    return frame.sort_values("step", kind="stable").reset_index(drop=True)


def metrics_csv(events: list[dict]) -> str:
    return metrics_frame(events).to_csv(index=False)


# -- checkpoints ---------------------------------------------------------------------------------
def run_metadata(result: TrainResult, label: str | None = None) -> dict:
    return {"source": "AReLU Lab training", "label": label or result.config.activation,
            "dataset": result.config.dataset,
            "status": result.status, "message": result.message, "train_config": asdict(result.config),
            "device": result.device, "steps": result.steps, "test_accuracy": result.test_accuracy,
            "epoch_accuracies": result.epoch_accuracies, "samples_per_second": result.samples_per_second}


def checkpoint_filename(result: TrainResult, when: _dt.datetime | None = None) -> str:
    """'20250101-120000_arelu_sgd_lr0.001_acc97.1.pt': sortable and readable in a folder listing."""
    when = when or _dt.datetime.now()
    accuracy = f"_acc{result.test_accuracy:.1f}" if result.test_accuracy is not None else ""
    name = f"{when:%Y%m%d-%H%M%S}_{result.config.activation}_{result.config.optimizer}_lr{result.config.lr:g}{accuracy}"
    return re.sub(r"[^A-Za-z0-9_.+-]", "-", name) + CHECKPOINT_SUFFIX


def save_run_checkpoint(result: TrainResult, directory: str | os.PathLike | None = None,
                        label: str | None = None) -> Path:
    directory = Path(directory) if directory else runs_dir()
    return save_checkpoint(directory / checkpoint_filename(result), result.model, run_metadata(result, label))


def run_checkpoint_bytes(result: TrainResult, label: str | None = None) -> bytes:
    """The checkpoint file's bytes (for a download) without leaving a file behind."""
    with tempfile.TemporaryDirectory(prefix="arelu-ckpt-") as tmp:
        path = save_checkpoint(Path(tmp) / checkpoint_filename(result), result.model, run_metadata(result, label))
        return path.read_bytes()


@dataclass(frozen=True)
class CheckpointEntry:
    path: Path
    title: str
    source: str                      # "shipped" (models/) or "saved" (runs/)
    activation: str | None = None    # registry name when the manifest or the file name says it
    test_accuracy: float | None = None
    description: str = ""
    dataset: str | None = None       # what the manifest says it was trained on (None: read the file's metadata)
    network: str | None = None       # the manifest's network ("resnet18"; "mnist-conv" when it names none)


SAVED_NAME = re.compile(r"^\d{8}-\d{6}_(?P<activation>[^_]+)_")  # checkpoint_filename's pattern


def find_checkpoints(models_dir: str | os.PathLike | None = None,
                     saved_dir: str | os.PathLike | None = None, include_deep: bool = False) -> list[CheckpointEntry]:
    """Shipped checkpoints (manifest order first, then any other .pt in models/), then saved ones, newest first.

    include_deep: also the shipped deep networks of models/deep/ (manifest titles; only the pages that
    take any network ask for them)."""
    models_dir = Path(models_dir) if models_dir else MODELS_DIR
    saved_dir = Path(saved_dir) if saved_dir else runs_dir()
    entries = _manifest_entries(models_dir)
    if include_deep:   # network set: labels keep the manifest's title ("ResNet-18 AReLU (...)")
        entries += _manifest_entries(models_dir / "deep")
    listed = {entry.path.resolve() for entry in entries}
    for path in sorted(models_dir.glob("*" + CHECKPOINT_SUFFIX)) if models_dir.is_dir() else []:
        if path.resolve() not in listed:
            entries.append(CheckpointEntry(path, path.stem, "shipped"))
    saved = sorted(saved_dir.glob("*" + CHECKPOINT_SUFFIX), key=_mtime, reverse=True) if saved_dir.is_dir() else []
    for path in saved:
        match = SAVED_NAME.match(path.name)
        entries.append(CheckpointEntry(path, path.stem, "saved", match["activation"] if match else None))
    return entries


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # deleted between the listing and now
        return 0.0


def _manifest_entries(models_dir: Path) -> list[CheckpointEntry]:
    """Entries of models/manifest.json that name an existing file. A missing or odd manifest is no error:
    the .pt files are listed anyway. Accepted: {"models": {name: entry}} (what scripts/make_checkpoints.py
    writes), {"models": [entry, ...]} or a bare list; an entry has "file" and optionally "title",
    "activation", "test_accuracy" and "description"."""
    try:
        manifest = json.loads((models_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    items = manifest.get("models", []) if isinstance(manifest, dict) else manifest
    if isinstance(items, dict):
        items = [{"title": name, **item} for name, item in items.items() if isinstance(item, dict)]
    entries = []
    for item in items if isinstance(items, list) else []:
        file_name = item.get("file") if isinstance(item, dict) else None
        if not isinstance(file_name, str) or not (models_dir / file_name).is_file():
            continue
        path = models_dir / file_name
        accuracy = item.get("test_accuracy")
        entries.append(CheckpointEntry(
            path, str(item.get("title") or path.stem), "shipped",
            item["activation"] if isinstance(item.get("activation"), str) else None,
            float(accuracy) if isinstance(accuracy, (int, float)) else None, str(item.get("description") or ""),
            item.get("dataset", "mnist") if isinstance(item.get("dataset", "mnist"), str) else None,
            item.get("network", "mnist-conv") if isinstance(item.get("network", "mnist-conv"), str) else None))
    return entries
