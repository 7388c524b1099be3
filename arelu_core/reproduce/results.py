"""Results files: one JSON line per finished run, appended and fsynced as runs finish.

A results file belongs to one experiment. Reading it validates every line; a foreign or damaged
file is a ResultsFileError (one line, naming the file and line) and is never rewritten or
truncated, so the finished runs in it are kept.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import tempfile
from pathlib import Path

from ..errors import AReLULabError

FORMAT = "arelu-lab/reproduce"
FORMAT_VERSION = 1
RESULTS_NAME = "runs.jsonl"
REQUIRED = {"key": str, "activation": str, "optimizer": str, "lr": (int, float), "seed": int,
            "status": str, "accuracy": list}


def run_key(config) -> str:
    """Identity of a run (a TrainConfig) in a results file: what resuming matches on."""
    params = ",".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}"
                      for k, v in sorted(config.activation_params.items()))
    return (f"{config.activation.lower()}|{params}|{config.optimizer}|{config.lr:g}|seed={config.seed}"
            f"|epochs={config.epochs}|batch={config.batch_size}|subset={config.train_subset}")


class ResultsFileError(AReLULabError):
    """A results file is unreadable, damaged, or holds another experiment's runs."""


def parse_records(lines, name: str, experiment: str | None = None) -> list[dict]:
    """Validated records from JSON lines; `name` labels errors. experiment=None accepts any one experiment."""
    records, seen = [], None
    for number, line in enumerate(lines, start=1):
        if isinstance(line, bytes):
            line = line.decode("utf-8", errors="replace")
        if not line.strip():
            continue
        where = f"{name} line {number}"
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ResultsFileError(f"{where} is not valid JSON ({exc.msg}); fix or remove that line "
                                   f"(the file is left as it is)") from None
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise ResultsFileError(f"{where} is not an AReLU Lab reproduction record (no '{FORMAT}' format tag)")
        if record.get("format_version") != FORMAT_VERSION:
            raise ResultsFileError(f"{where}: results format version {record.get('format_version')} is not supported")
        bad = [k for k, t in REQUIRED.items() if not isinstance(record.get(k), t)]
        if bad:
            raise ResultsFileError(f"{where} lacks or mistypes {', '.join(bad)}; fix or remove that line")
        found = record.get("experiment")
        expected = experiment or seen
        if expected is not None and found != expected:
            raise ResultsFileError(f"{name} holds {found} runs, not {expected}: choose another output folder "
                                   f"(or results file) for {expected}; the file is left as it is")
        seen = found
        records.append(record)
    return records


class ResultsFile:
    """<out>/runs.jsonl of one experiment: read() validates, append() writes finished runs durably."""

    def __init__(self, path: str | os.PathLike, experiment: str):
        self.path = Path(path)
        self.experiment = experiment

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        try:
            with open(self.path, "rb") as f:
                return parse_records(f, str(self.path), self.experiment)
        except OSError as exc:
            raise ResultsFileError(f"cannot read {self.path}: {exc.strerror or exc}") from None

    def append(self, records: list[dict]) -> None:
        """One write per batch of lines, then flush + fsync: an interrupt later loses none of them."""
        if not records:
            return
        data = "".join(json.dumps(r, default=_jsonable) + "\n" for r in records).encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as f:
                if f.tell() and not _ends_with_newline(self.path):
                    data = b"\n" + data      # never glue a record onto a torn last line
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise ResultsFileError(f"cannot write {self.path}: {exc.strerror or exc}") from None


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def write_json_atomic(path: str | os.PathLike, obj) -> Path:
    """summary.json: temporary file, fsync, rename (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1, default=_jsonable)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)          # mkstemp makes it private; a summary is for everyone
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def final_accuracy(record: dict) -> float | None:
    acc = record.get("accuracy") or []
    value = acc[-1] if record.get("status") == "finished" and acc else None
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def merge_results(target: str | os.PathLike, sources, experiment: str) -> tuple[int, int]:
    """Append to `target` the finished runs of `sources` (results files of `experiment`) whose key it lacks,
    each key once (the first source holding it wins); the runs already there are never rewritten. Re-runnable:
    a second merge of the same files adds nothing. Returns (added, skipped)."""
    out = ResultsFile(target, experiment)
    keys = {r["key"] for r in out.read()}
    added, skipped = [], 0
    for source in sources:
        for record in ResultsFile(source, experiment).read():
            if record["key"] in keys:
                skipped += 1
                continue
            keys.add(record["key"])
            added.append(record)
    out.append(added)
    return len(added), skipped
