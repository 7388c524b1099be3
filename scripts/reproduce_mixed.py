"""Train part of a batched grid (fig3, table1, table4) in MIXED-activation groups: on a GPU a step costs
about the same for 3 models as for 15, so fewer, larger groups finish sooner than one group per
activation (batched.make_groups' choice, right for the CPU). Appends to <out>/runs.jsonl like run_experiment.

    python scripts/reproduce_mixed.py fig3 --lrs 1e-4 --chunk 0/3 --group-size 10 --epochs 20 \
        --activations relu arelu --seeds 0 1 2 --device cuda --out results/fig3-parts/a

--extra-seeds "relu,prelu:1,2" adds seeds for a few activations (Fig. 3's 3-seed rows).
The runs of this chunk are every n-th of the grid's runs (Maxout, whose channels double, apart).
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arelu_core.data import load_mnist  # noqa: E402
from arelu_core.reproduce.experiments import get_experiment  # noqa: E402
from arelu_core.reproduce.batched import schedule, train_group  # noqa: E402
from arelu_core.reproduce.results import RESULTS_NAME, ResultsFile, run_key  # noqa: E402
from arelu_core.reproduce.run import make_record  # noqa: E402
from arelu_core.trainer import device_label, resolve_device  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("experiment")
    p.add_argument("--activations", nargs="+")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--extra-seeds", default="", help="act1,act2:s1,s2")
    p.add_argument("--lrs", nargs="+", type=float)
    p.add_argument("--optimizers", nargs="+")
    p.add_argument("--epochs", type=int)
    p.add_argument("--train-subset", type=int)
    p.add_argument("--chunk", default="0/1")
    p.add_argument("--group-size", type=int, default=10)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    exp = get_experiment(args.experiment)
    runs = exp.runs(args.activations, args.optimizers, args.lrs, args.seeds, args.epochs, args.train_subset)
    if args.extra_seeds:
        names, seeds = args.extra_seeds.split(":")
        runs += exp.runs(names.split(","), args.optimizers, args.lrs, [int(s) for s in seeds.split(",")], args.epochs,
                        args.train_subset)
    index, count = map(int, args.chunk.split("/"))
    results = ResultsFile(Path(args.out) / RESULTS_NAME, exp.name)
    done = {r["key"] for r in results.read()}
    device = resolve_device(args.device)
    label = device_label(device)
    train, test = load_mnist(True, None, device), load_mnist(False, None, device)
    # Maxout's doubled channels cannot share a group: its runs form their own groups.
    for family in ([r for r in runs if r.activation.startswith("maxout")], [r for r in runs if not r.activation.startswith("maxout")]):
        by_schedule: dict[tuple, list] = {}
        for r in family:
            by_schedule.setdefault(schedule(r), []).append(r)
        for specs in by_schedule.values():
            mine = [r for r in specs[index::count] if run_key(r) not in done]   # chunk first: stable across resumes
            for start in range(0, len(mine), args.group_size):
                group = mine[start:start + args.group_size]
                started = time.perf_counter()
                outcomes = train_group(group, train, test, device)
                gid = uuid.uuid4().hex[:12]
                records = [make_record(exp.name, s, o, gid, len(group), label) for s, o in zip(group, outcomes)]
                results.append(records)
                print(f"{len(group)} runs ({', '.join(s.activation for s in group)}) lr {group[0].lr:g}: "
                      f"{time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
