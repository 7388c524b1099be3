"""The shipped results the lesson reads (assets/results/<experiment>/): records and summaries, each
read once per file version (a file replaced on disk is read again)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from ..errors import AReLULabError
from ..reproduce.results import RESULTS_NAME, ResultsFile, ResultsFileError
from ..reproduce.summary import summarise

RESULTS_DIR = Path(__file__).resolve().parents[2] / "assets" / "results"
SUMMARY_NAME = "summary.json"     # a folder may ship its summary (cells and claims) instead of runs
# The experiments whose claims the lesson weighs, in the paper's order, with the names a class reads.
EXPERIMENT_TITLES = {
    "table1": "Table 1: accuracy after one epoch (MNIST)",
    "fig2": "Fig. 2: AReLU from 9 initialisations",
    "fig3": "Fig. 3: accuracy per epoch at small learning rates",
    "table4": "Table 4: other activations + ELSA",
    "table3": "Table 3: few-shot learning (MAML)",
    "table2": "Table 2: transfer learning (ours: MNIST → Fashion-MNIST)",
    "ablation": "Attention or gain? (ablation, not in the paper)",
    "fig5": "Fig. 5: where the networks look (CAM scores)",
}


def folder(experiment: str) -> Path:
    return RESULTS_DIR / experiment


def shipped(experiment: str) -> bool:
    """Does assets/results/<experiment>/ hold results (runs or a summary)?"""
    return any((folder(experiment) / name).is_file() for name in (RESULTS_NAME, SUMMARY_NAME))


def signature() -> tuple:
    """(file, mtime) of every shipped results file: a cache key that changes when results are shipped."""
    files = sorted(RESULTS_DIR.glob(f"*/{RESULTS_NAME}")) + sorted(RESULTS_DIR.glob(f"*/{SUMMARY_NAME}"))
    return tuple((str(path), path.stat().st_mtime) for path in files)


def records(experiment: str) -> list[dict]:
    """The shipped runs of one experiment ([] when none are shipped); a damaged file: ResultsFileError."""
    path = folder(experiment) / RESULTS_NAME
    if not path.is_file():
        return []
    return list(_records(str(path), experiment, path.stat().st_mtime))


@lru_cache(maxsize=16)
def _records(path: str, experiment: str, mtime: float) -> tuple[dict, ...]:
    return tuple(ResultsFile(path, experiment).read())


def summary(experiment: str) -> dict | None:
    """Cells and claims of one shipped experiment (summary.py's shape), None when nothing is shipped.
    Table 4 is compared with our shipped Table 1, as on the Reproduce page."""
    path = folder(experiment) / SUMMARY_NAME
    if path.is_file():
        return _summary_file(str(path), path.stat().st_mtime)
    if not (folder(experiment) / RESULTS_NAME).is_file():
        return None
    return _summarise(experiment, signature())


@lru_cache(maxsize=16)
def _summary_file(path: str, mtime: float) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultsFileError(f"cannot read {path} ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("claims", []), list):
        raise ResultsFileError(f"{path} is not a results summary (no list of claims)")
    return data


@lru_cache(maxsize=16)
def _summarise(experiment: str, _files: tuple) -> dict:
    """Summarised once per version of the shipped files (_files: signature())."""
    baseline = records("table1") if experiment == "table4" else None
    try:
        return summarise(experiment, records(experiment), baseline)
    except AReLULabError:
        raise
    except (KeyError, TypeError, ValueError) as exc:   # a results shape this version does not know
        raise ResultsFileError(f"cannot summarise the shipped {experiment} results "
                               f"({type(exc).__name__}: {exc})") from None


def claims(experiment: str) -> list[dict]:
    """The claims of one shipped experiment, each tagged with its experiment ([] when none shipped)."""
    found = summary(experiment)
    return [{**claim, "experiment": experiment} for claim in (found or {}).get("claims", [])]
