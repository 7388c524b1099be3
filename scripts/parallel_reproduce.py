"""Run one `arelu reproduce` grid as several processes (a many-core or GPU machine), then merge.

    python scripts/parallel_reproduce.py --jobs 8 --out results/table3 -- table3 \
        --activations relu prelu selu pau slaf arelu --seeds 0 1 2 3 4 --device cuda

The (activation, seed) units are dealt round-robin to --jobs processes, each writing its own
<out>/parts/<i>/runs.jsonl (resumable as usual); their lines are then appended to <out>/runs.jsonl
(keys already there are skipped) and the grid is summarised once more (nothing left to train).
--by-activation keeps an activation's seeds in one process (the batched trainer groups them).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def option(argv: list[str], name: str) -> list[str]:
    """The values after `name` in argv (up to the next --option)."""
    if name not in argv:
        return []
    i = argv.index(name) + 1
    values = []
    while i < len(argv) and not argv[i].startswith("--"):
        values.append(argv[i])
        i += 1
    return values


def without(argv: list[str], *names: str) -> list[str]:
    out, skip = [], False
    for a in argv:
        if a.startswith("--"):
            skip = a in names
        if not skip:
            out.append(a)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=4)
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--by-activation", action="store_true")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="-- <experiment> [reproduce options]")
    args = p.parse_args()
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    experiment, argv = rest[0], rest[1:]
    acts, seeds = option(argv, "--activations"), option(argv, "--seeds")
    if not acts or not seeds:
        p.error("give --activations and --seeds explicitly")
    base = without(argv, "--activations", "--seeds", "--out", "--threads", "--json")
    units = [(a, seeds) for a in acts] if args.by_activation else [(a, [s]) for s in seeds for a in acts]
    out = Path(args.out)
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    procs = []
    for j in range(min(args.jobs, len(units))):
        mine = units[j::args.jobs]
        part = out / "parts" / str(j)
        cmds = [[sys.executable, "-m", "arelu_core", "reproduce", experiment, *base, "--activations", a,
                 "--seeds", *s, "--out", str(part), "--threads", str(args.threads), "--json"] for a, s in mine]
        script = " && ".join(" ".join(c) for c in cmds)
        log = open(out / f"part-{j}.log", "w")
        procs.append((part, subprocess.Popen(["bash", "-c", script], stdout=log, stderr=subprocess.STDOUT)))
    failed = sum(proc.wait() != 0 for _, proc in procs)
    wall = time.perf_counter() - started
    target = out / "runs.jsonl"
    have = set()
    if target.exists():
        have = {json.loads(line)["key"] for line in target.read_text().splitlines() if line.strip()}
    added = 0
    with open(target, "a") as f:
        for part, _ in procs:
            path = part / "runs.jsonl"
            for line in (path.read_text().splitlines() if path.exists() else []):
                if line.strip() and json.loads(line)["key"] not in have:
                    f.write(line + "\n")
                    have.add(json.loads(line)["key"])
                    added += 1
    print(json.dumps({"processes": len(procs), "failed": failed, "merged": added, "wall_seconds": round(wall, 1)}))
    final = subprocess.run([sys.executable, "-m", "arelu_core", "reproduce", experiment, *base, "--activations", *acts,
                            "--seeds", *seeds, "--out", str(out), "--json"], capture_output=True, text=True)
    print(final.stdout.strip().splitlines()[-1] if final.stdout.strip() else final.stderr[-2000:])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
