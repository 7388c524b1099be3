"""MNIST-Conv checkpoints: atomic writes, `weights_only` reads, clear errors naming the file."""
from __future__ import annotations

import contextlib
import datetime as _dt
import io
import os
import tempfile
import zipfile
from pathlib import Path

import torch

from .errors import CheckpointError, one_line
from .network import MNISTConv

FORMAT = "arelu-lab/mnist-conv"
FORMAT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, model: MNISTConv, metadata: dict | None = None,
                    weights_dtype: torch.dtype | None = None) -> Path:
    """Write to a temporary file in the same folder, fsync, then rename: a crash leaves the old file.

    weights_dtype (e.g. torch.float16): store the floating-point tensors in it, half the bytes of a
    shipped deep network; load_state_dict casts them back into the model's float32 parameters."""
    from . import __version__
    path = Path(path)
    meta = {"activation": model.activation_name, "activation_params": dict(model.activation_params),
            "in_channels": model.in_channels, "num_classes": model.num_classes,
            "network": getattr(model, "network_name", "mnist-conv"), "width": getattr(model, "width", 1.0),
            "library_version": __version__, "torch_version": str(torch.__version__),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            **(metadata or {})}
    if weights_dtype is not None:
        meta["weights_dtype"] = str(weights_dtype).removeprefix("torch.")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if weights_dtype is not None:
        state = {k: v.to(weights_dtype) if v.is_floating_point() else v for k, v in state.items()}
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "metadata": meta, "state_dict": state}
    # Serialise in memory first (an MNIST-Conv is a few hundred KB): torch.save writing straight to a
    # file turns a full disk into "RuntimeError: [enforce fail at inline_container.cc] unexpected pos".
    buffer, tmp = io.BytesIO(), None
    try:
        torch.save(payload, buffer)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_directory(path.parent)
    except OSError as exc:
        raise CheckpointError(f"cannot write checkpoint {path}: {exc.strerror or exc}") from None
    finally:
        if tmp and os.path.exists(tmp):
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return path


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (a power cut right after it keeps the new file); best effort."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_checkpoint(source) -> dict:
    """The raw payload (format, metadata, state_dict); `source` is a path or a binary file object."""
    name = getattr(source, "name", None) or str(source)
    try:
        data = Path(source).read_bytes() if isinstance(source, (str, os.PathLike)) else source.read()
    except FileNotFoundError:
        raise CheckpointError(f"{name}: no such checkpoint file") from None
    except Exception as exc:  # a folder, no permission, a stream that fails
        reason = getattr(exc, "strerror", None) or one_line(exc, 160)
        raise CheckpointError(f"{name}: cannot read the checkpoint ({reason})") from None
    if not isinstance(data, (bytes, bytearray)):
        raise CheckpointError(f"{name}: cannot read the checkpoint (not a binary file)")
    _verify_zip_checksums(data, name)
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated, foreign pickle, code-executing pickle: all refused
        raise CheckpointError(f"{name}: not a readable AReLU Lab checkpoint ({_short_reason(exc)})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{name}: not an AReLU Lab MNIST-Conv checkpoint (no '{FORMAT}' format tag)")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{name}: checkpoint format version {payload.get('format_version')} is not supported")
    if not isinstance(payload.get("metadata"), dict) or not isinstance(payload.get("state_dict"), dict):
        raise CheckpointError(f"{name}: checkpoint lacks metadata or weights")
    return payload


def _verify_zip_checksums(data: bytes, name: str) -> None:
    """torch's zip format stores a CRC-32 per record but torch.load never checks it: a flipped bit in
    the weights would load silently. Check them (a few ms for a checkpoint of ours)."""
    if data[:4] != b"PK\x03\x04":
        return  # not a zip (torch's legacy format, or not a checkpoint): torch.load decides
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            bad = archive.testzip()
    except Exception as exc:  # BadZipFile, EOFError, zlib.error, NotImplementedError, ...
        reason = one_line(exc, 160)
        raise CheckpointError(f"{name}: the checkpoint file is corrupt or truncated ({reason})") from None
    if bad is not None:
        raise CheckpointError(f"{name}: the checkpoint file is corrupt (checksum mismatch in {bad[:80]})")


def _short_reason(exc: Exception) -> str:
    """torch.load's errors run over many lines; keep the one that says what was refused."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    picked = next((line for line in lines if "Unpickler error" in line), lines[0] if lines else type(exc).__name__)
    return picked.split(". Please use")[0][:200]


def checkpoint_dataset(meta: dict) -> str:
    """The dataset a checkpoint was trained on: its metadata's "dataset" (older files: MNIST)."""
    from .data import dataset_info
    from .errors import ConfigError
    try:
        return dataset_info(meta.get("dataset") or "mnist").key
    except ConfigError:
        raise CheckpointError(f"checkpoint trained on an unknown dataset {str(meta.get('dataset'))[:60]!r}") from None


def current_names(model: torch.nn.Module, state: dict) -> dict:
    """`state` with names of older versions mapped to the model's: PReLU was our own module until it became
    torch's nn.PReLU, so a checkpoint written before holds its slope as '<site>.a' of shape (), which torch
    names '<site>.weight', shape (1,)."""
    modules = dict(model.named_modules())
    renamed = {}
    for key, value in state.items():
        site, _, leaf = key.rpartition(".")
        if leaf == "a" and isinstance(modules.get(site), torch.nn.PReLU) and f"{site}.weight" not in state:
            key, value = f"{site}.weight", value.reshape(1)
        renamed[key] = value
    return renamed


def load_checkpoint(source, device: str | torch.device = "cpu") -> tuple[MNISTConv, dict]:
    """(model in eval mode, metadata). Any problem is a CheckpointError naming the file.

    metadata["dataset"] is always set (older checkpoints, written before other datasets: "mnist")."""
    from .data import dataset_info
    name = getattr(source, "name", None) or str(source)
    payload = read_checkpoint(source)
    meta = payload["metadata"]
    try:
        meta = {**meta, "dataset": checkpoint_dataset(meta)}
    except CheckpointError as exc:
        raise CheckpointError(f"{name}: {exc}") from None
    info = dataset_info(meta["dataset"])
    try:
        in_channels = int(meta.get("in_channels") or info.channels)
        num_classes = int(meta.get("num_classes") or info.num_classes)
        if not (1 <= in_channels <= 4 and 1 <= num_classes <= 1000):   # untrusted sizes: no huge allocation
            raise ValueError(f"implausible shape: {in_channels} input channels, {num_classes} classes")
        # Older checkpoints have no "network": MNIST-Conv.
        from .deep_networks import create_network
        model = create_network(meta.get("network") or "mnist-conv", meta["activation"], in_channels, num_classes,
                               width=float(meta.get("width") or 1.0), **dict(meta.get("activation_params") or {}))
        model.load_state_dict(current_names(model, payload["state_dict"]), strict=True)
    except Exception as exc:  # the file is untrusted: whatever it holds, the answer is one CheckpointError
        reason = one_line(exc, 160)
        activation = repr(meta.get("activation"))[:60]
        network = repr(meta.get("network") or "mnist-conv")[:40]
        raise CheckpointError(f"{name}: weights do not fit network {network} with {activation} ({reason})") from None
    return model.to(device).eval(), meta
