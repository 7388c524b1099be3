"""Merge finished runs from grids run elsewhere into a shipped results file, each run once (by key).

    python scripts/merge_results.py table3 assets/results/table3/runs.jsonl \
        /work/grid/table3/runs.jsonl /work/grid/table3-55/runs.jsonl /work/grid/table3-pau/runs.jsonl

Appends only what the target lacks (reproduce.results.merge_results), so it can be run again as more runs
finish; a damaged or foreign file is one line on stderr, exit 2, and nothing is written.
"""
from __future__ import annotations

import argparse
import sys

from arelu_core.errors import AReLULabError
from arelu_core.reproduce.results import merge_results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", help="the experiment every file holds (table1, table3, ...)")
    parser.add_argument("target", help="results file to append to (created if missing)")
    parser.add_argument("sources", nargs="+", help="results files to take runs from")
    args = parser.parse_args(argv)
    try:
        added, skipped = merge_results(args.target, args.sources, args.experiment)
    except AReLULabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.target}: {added} runs added, {skipped} already there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
