"""Reproduce the paper's MNIST experiments (Table 1, Fig. 2, Fig. 3, Table 4) in one command, fast.

    batched.py      train G MNIST-Conv models as one computation (grouped convs, batched linear)
    experiments.py  the paper's grids of runs
    run.py          resumable runner (results/<experiment>/runs.jsonl); reproduce_task: a grid as a job of the app
    summary.py      mean ± std per cell beside the paper's number
    claims.py       the paper's claims as functions of the results
    ablation.py     attention or gain? AReLU frozen / started as ReLU / ReLU at k x lr, claims with 95% intervals
"""
from .batched import train_group
from .claims import NO_DATA, NOT_SUPPORTED, SUPPORTED, evaluate_claims
from .cli import register_cli
from .experiments import EXPERIMENT_NAMES, get_experiment
from .results import ResultsFile, ResultsFileError, parse_records, run_key
from .run import experiment_progress, reproduce_task, run_experiment
from .summary import format_table, summarise

__all__ = ["train_group", "run_key", "SUPPORTED", "NOT_SUPPORTED", "NO_DATA", "evaluate_claims", "register_cli",
           "EXPERIMENT_NAMES", "get_experiment", "ResultsFile", "ResultsFileError", "parse_records",
           "experiment_progress", "reproduce_task", "run_experiment", "format_table", "summarise"]
