"""One-at-a-time vs batched training time per MNIST-Conv run (the reproduction's speed-up).

    python scripts/bench_reproduce.py [--activations relu arelu] [--group-size 5] [--steps 469] [--threads N]
    python scripts/bench_reproduce.py --mixed --activations relu prelu selu pau arelu [--threads N]

For each activation: `group-size` seeds trained one after another with trainer.train, then the
same seeds in one batched computation (arelu_core.reproduce.train_group). With --mixed: the given
activations (seed 0 each) one after another, then as one mixed group (Fig. 3's and
scripts/reproduce_mixed.py's groups). Both include model
construction and the test-set evaluation, at batch 128, SGD lr 1e-2. Prints wall and CPU seconds
per run (CPU time is the steadier number on a shared machine) and the projected Table 1 grid time.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

from arelu_core.data import load_mnist
from arelu_core.reproduce import train_group
from arelu_core.reproduce import batched
from arelu_core.trainer import TrainConfig, train


def clocks():
    return time.perf_counter(), time.process_time()


def since(start):
    wall, cpu = clocks()
    return wall - start[0], cpu - start[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--activations", nargs="+", default=["relu", "arelu"])
    p.add_argument("--group-size", type=int, default=5)
    p.add_argument("--steps", type=int, default=469, help="steps per run (469 = one MNIST epoch at batch 128)")
    p.add_argument("--layout", choices=["channels_last", "contiguous"], default="channels_last")
    p.add_argument("--skip-sequential", action="store_true")
    p.add_argument("--mixed", action="store_true", help="one group of the given activations, seed 0 each")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--data-dir", default=os.environ.get("ARELU_DATA_DIR"))
    p.add_argument("--runs", type=int, default=200, help="runs in the projected grid (5 activations x 8 x 5 seeds)")
    args = p.parse_args(argv)
    batched.CHANNELS_LAST = args.layout == "channels_last"
    if args.threads:
        torch.set_num_threads(args.threads)
    subset = min(args.steps * 128, 60000)
    train_data, test_data = load_mnist(True, args.data_dir), load_mnist(False, args.data_dir)
    seeds = list(range(args.group_size))
    report = {"threads": torch.get_num_threads(), "load_before": os.getloadavg(), "steps": args.steps,
              "group_size": len(args.activations) if args.mixed else args.group_size, "mixed": args.mixed, "layout": args.layout, "activations": {}}
    units = [("+".join(args.activations), [(a, 0) for a in args.activations])] if args.mixed else \
        [(act, [(act, seed) for seed in seeds]) for act in args.activations]
    for name, runs in units:
        row = {}
        if not args.skip_sequential:
            start = clocks()
            for act, seed in runs:
                train(TrainConfig(activation=act, optimizer="sgd", lr=1e-2, seed=seed, device="cpu",
                                  train_subset=subset, params_every=0), train_data=train_data, test_data=test_data)
            wall, cpu = since(start)
            row["sequential"] = {"wall_per_run": wall / len(runs), "cpu_per_run": cpu / len(runs)}
        start = clocks()
        train_group([TrainConfig(activation=act, optimizer="sgd", lr=1e-2, seed=seed, train_subset=subset)
                     for act, seed in runs], train_data, test_data, "cpu")
        wall, cpu = since(start)
        row["batched"] = {"wall_per_run": wall / len(runs), "cpu_per_run": cpu / len(runs)}
        if "sequential" in row:
            row["speedup_wall"] = row["sequential"]["wall_per_run"] / row["batched"]["wall_per_run"]
            row["speedup_cpu"] = row["sequential"]["cpu_per_run"] / row["batched"]["cpu_per_run"]
        report["activations"][name] = row
        line = f"{name:<6} " + "  ".join(f"{k}: {v['wall_per_run']:.1f} s wall, {v['cpu_per_run']:.1f} s CPU per run"
                                         for k, v in row.items() if isinstance(v, dict))
        if "speedup_wall" in row:
            line += f"  -> x{row['speedup_wall']:.2f} wall, x{row['speedup_cpu']:.2f} CPU"
        print(line, flush=True)
    report["load_after"] = os.getloadavg()
    scale = 469 / args.steps
    for kind in ("sequential", "batched"):
        per_run = [r[kind]["wall_per_run"] for r in report["activations"].values() if kind in r]
        if per_run:
            report[f"projected_grid_hours_{kind}"] = sum(per_run) / len(per_run) * scale * args.runs / 3600
            print(f"projected {args.runs}-run Table 1 grid, {kind}: {report[f'projected_grid_hours_{kind}']:.2f} h")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
