"""The paper's published numbers (assets/paper_tables.json): data, looked up here, never typed into code."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from ..errors import ConfigError

PAPER_FILE = Path(__file__).resolve().parents[2] / "assets" / "paper_tables.json"


@lru_cache(maxsize=1)
def paper_tables() -> dict:
    try:
        return json.loads(PAPER_FILE.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the paper's tables {PAPER_FILE} ({exc})") from None


def table1_value(activation: str, optimizer: str, lr: float) -> float | None:
    """Published Table 1 accuracy (%) of one cell, None where the paper has none."""
    table = paper_tables()["table1"]
    for row in table["rows"]:
        if row["activation"] == activation:
            for col, value in zip(table["columns"], row["accuracy"]):
                if col["optimizer"] == optimizer and _same_lr(col["lr"], lr):
                    return value
    return None


def _same_lr(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def paper_activations() -> list[str]:
    """Table 1's rows, in the paper's order (registry keys)."""
    return [row["activation"] for row in paper_tables()["table1"]["rows"]]


def table1_columns() -> list[tuple[str, float]]:
    return [(c["optimizer"], c["lr"]) for c in paper_tables()["table1"]["columns"]]


def fig2_inits() -> list[dict]:
    return [dict(init) for init in paper_tables()["fig2"]["inits"]]


def table3_value(activation: str, ways: int, shots: int) -> float | None:
    """Published Table 3 (MAML) accuracy (%) of one cell, None where the paper has none (or it is illegible)."""
    table = paper_tables()["table3"]
    for row in table["rows"]:
        if row["activation"] == activation:
            for col, value in zip(table["columns"], row["accuracy"]):
                if col["ways"] == ways and col["shots"] == shots:
                    return value
    return None


def table3_activations() -> list[str]:
    """Table 3's columns (registry keys), in the paper's order."""
    return [row["activation"] for row in paper_tables()["table3"]["rows"]]


def table3_settings() -> list[tuple[int, int]]:
    return [(c["ways"], c["shots"]) for c in paper_tables()["table3"]["columns"]]


# Where our default build of an activation differs from the official code that made the paper's numbers,
# the reproductions of its tables build it as that code did (activations/learnable.py, PAU's `form`).
OFFICIAL_CODE_PARAMS = {"pau": {"form": "official"}}


def official_code_params(activation: str) -> dict:
    """Activation parameters that reproduce the official code's build of `activation` ('+elsa' names its
    base): {"form": "official"} for PAU, {} for the rest."""
    base = activation.lower().split("+", 1)[0]
    return dict(OFFICIAL_CODE_PARAMS.get(base, {}))
