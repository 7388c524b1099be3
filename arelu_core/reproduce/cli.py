"""`arelu reproduce table1|fig2|fig3|table4|ablation|fig4|fig5 [...]`: the paper in one command (hooked in by arelu_core.cli)."""
from __future__ import annotations

import argparse
import sys
import time

from .experiments import EXPERIMENT_NAMES

META_EXPERIMENTS = ("table3",)       # MAML (meta.py): its own runner, not the batched trainer


def _split(values, kind=str):
    """Accept both `--lrs 1e-2 1e-3` and `--lrs 1e-2,1e-3`."""
    if values is None:
        return None
    items = [v for value in values for v in str(value).split(",") if v.strip()]
    try:
        return [kind(v) for v in items]
    except ValueError:
        from ..errors import ConfigError
        raise ConfigError(f"not a list of {kind.__name__} values: {' '.join(items)}") from None


def register_cli(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("reproduce", help="reproduce the paper's Table 1, Fig. 2, Fig. 3, Table 2, Table 3 (MAML), Fig. 4, Fig. 5 "
                                                "or Table 4 (resumable)",
                              description="Train the paper's MNIST grids, several models per computation. Finished runs "
                                          "are appended to <out>/runs.jsonl and skipped when the command is run again.")
    p.add_argument("experiment", choices=EXPERIMENT_NAMES + ("fig4", "fig5") + META_EXPERIMENTS, help="which table or figure")
    p.add_argument("--activations", nargs="+", metavar="NAME", help="registry names (default: the paper's)")
    p.add_argument("--variants", nargs="+", metavar="VARIANT",
                   help="ablation: which arms (default all: arelu arelu-frozen arelu-from-relu relu relu-lr2 relu-lr4 "
                        "relu-lr8 arelu-learn-alpha arelu-learn-beta)")
    p.add_argument("--optimizers", nargs="+", metavar="OPT", help="sgd and/or adam")
    p.add_argument("--lrs", nargs="+", metavar="LR", help="learning rates, e.g. 1e-2 1e-3")
    p.add_argument("--seeds", nargs="+", metavar="SEED", help="seeds, e.g. 0 1 2 3 4")
    p.add_argument("--epochs", type=int, help="epochs per training (Table 1: 1; Fig. 3 default 5, paper 20; "
                                              "Table 2: fine-tuning epochs, default 20)")
    p.add_argument("--source", help="Table 2: dataset to pretrain on (default mnist)")
    p.add_argument("--target", help="Table 2: dataset to transfer to (default svhn; fashion-mnist, kmnist, mnist)")
    p.add_argument("--pretrain-epochs", type=int, help="Table 2: pretraining epochs on the source (default 5)")
    p.add_argument("--train-subset", type=int, help="train on the first N digits only (quick looks, not the paper's)")
    p.add_argument("--group-size", type=int, help="models trained together in one computation (default 5)")
    # Fig. 4 (deep networks) and Ray
    p.add_argument("--networks", nargs="+", metavar="NET", help="fig4: deep networks (default: all five)")
    p.add_argument("--dataset", help="fig4: cifar100 (default), fashion-mnist, mnist, ...")
    p.add_argument("--width", type=float, default=1.0, help="fig4: channel multiplier of the networks (1 = published)")
    p.add_argument("--test-subset", type=int, help="fig4: test accuracy on the first N test images only")
    p.add_argument("--ray", metavar="ADDRESS", help="run each training as a Ray task on the cluster at ADDRESS "
                                                    "('local': a local Ray; needs `pip install .[cluster]`)")
    p.add_argument("--out", help="output folder (default: results/<experiment>)")
    p.add_argument("--baseline", help="Table 4, ablation: our Table 1 results file (default: <out>/../table1/runs.jsonl; "
                                      "ablation: else the shipped assets/results/table1)")
    p.add_argument("--data-dir", help="folder holding the datasets in torchvision's layout (MNIST/raw, SVHN, ...; "
                                      "default: $ARELU_DATA_DIR, else ~/.cache/arelu-lab/data)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice; 1 is often fastest "
                                                "on a small shared machine)")
    p.add_argument("--ways", nargs="+", metavar="N", help="Table 3: ways of the tasks (default: the paper's 5)")
    p.add_argument("--shots", nargs="+", metavar="K", help="Table 3: shots (default: the paper's 1 and 5)")
    p.add_argument("--iterations", type=int, help="Table 3: meta-iterations (paper: 100)")
    p.add_argument("--inner-lr", type=float, help="Table 3: inner (adaptation) learning rate (default 0.005, as the "
                                                   "official script ran; 0.01 is the variant in main()'s signature)")
    p.add_argument("--compare", nargs="*", metavar="PATH",
                   help="Table 3: train nothing; show the runs of these results files (default: the shipped grids at "
                        "inner lr 0.005 and 0.01) side by side per inner learning rate, with the paper")
    p.add_argument("--test-tasks", type=int, help="Table 3: held-out tasks from MNIST's test digits (default 500)")
    p.add_argument("--mode", choices=("vectorised", "looped"), default="vectorised",
                   help="Table 3: a meta-step's tasks vmapped (default) or one by one (same meta-gradients)")
    # Fig. 5 (CAM metrics of the shipped ReLU/AReLU pairs)
    p.add_argument("--pairs", nargs="+", metavar="PAIR", help="fig5: mnist, fashion-mnist and/or resnet18 (default: all)")
    p.add_argument("--checkpoints", nargs=2, metavar=("RELU", "ARELU"), help="fig5: score these two checkpoints instead")
    p.add_argument("--images", type=int, help="fig5: first N test images (default 1000)")
    p.add_argument("--road-images", type=int, help="fig5: ROAD on the first N of them (default 200; ROAD is slow)")
    p.add_argument("--road-seed", type=int, default=0, help="fig5: seed of ROAD's imputation noise (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line, no table")
    p.set_defaults(handler=cmd_reproduce)
    return p


def cmd_fig4(args) -> dict:
    from .fig4 import format_fig4, run_fig4
    started = time.perf_counter()

    def progress(event):
        if args.json:
            return
        if event["kind"] == "start":
            print(f"[{time.perf_counter() - started:6.0f} s] training {event['run']}", file=sys.stderr, flush=True)
        elif event["kind"] == "run":
            r = event["record"]
            print(f"[{time.perf_counter() - started:6.0f} s] {r['network']} {r['activation']} seed {r['seed']}: "
                  f"{r['status']} " + " ".join(f"{a:.1f}" for a in r["accuracy"]), file=sys.stderr, flush=True)

    summary = run_fig4(networks=_split(args.networks), activations=_split(args.activations), seeds=_split(args.seeds, int),
                       epochs=args.epochs, dataset=args.dataset or "cifar100", width=args.width,
                       train_subset=args.train_subset, test_subset=args.test_subset, threads=args.threads,
                       device=args.device, data_dir=args.data_dir, out=args.out, ray=args.ray, progress=progress)
    if not args.json:
        print(format_fig4(summary))
        print(f"results: {summary['results_file']} ({summary['skipped']} runs already there, "
              f"{summary['trained_now']} trained now, {summary['seconds_this_call']:.0f} s)")
    return summary


def cmd_fig5(args) -> dict:
    from .fig5 import DEFAULT_IMAGES, DEFAULT_ROAD_IMAGES, format_fig5, run_fig5
    if args.threads is not None:
        _set_threads(args.threads)

    def progress(event):
        if not args.json and event["kind"] == "network":
            print(f"scoring {event['pair']}: {event['side']} ({event['path']})", file=sys.stderr, flush=True)

    images = DEFAULT_IMAGES if args.images is None else args.images
    road = min(DEFAULT_ROAD_IMAGES, images) if args.road_images is None else args.road_images
    result = run_fig5(pairs=_split(args.pairs), images=images, road_images=road, seed=args.road_seed,
                      data_dir=args.data_dir, out=args.out or "results/fig5", checkpoints=args.checkpoints,
                      progress=progress)
    if not args.json:
        print(format_fig5(result))
        print(f"results: {result['results_file']}")
    return result


def _set_threads(threads: int) -> None:
    if threads < 1:
        from ..errors import ConfigError
        raise ConfigError(f"threads must be a positive integer, got {threads}")
    import torch
    torch.set_num_threads(threads)   # this process only: the CLI owns it


def cmd_reproduce(args) -> dict:
    from .run import run_experiment
    if args.experiment == "fig4":
        return cmd_fig4(args)
    if args.experiment == "fig5":
        return cmd_fig5(args)
    from .summary import format_table
    quiet = args.json
    started = time.perf_counter()
    if args.threads is not None:
        _set_threads(args.threads)

    def progress(event):
        if quiet:
            return
        if event["kind"] == "group":
            runs = event["runs"]
            print(f"[{time.perf_counter() - started:6.0f} s] group {event['index'] + 1}/{event['groups']}: "
                  f"{runs[0]}{f' .. {runs[-1]}' if len(runs) > 1 else ''} ({len(runs)} runs)", file=sys.stderr, flush=True)
        elif event["kind"] == "run" and args.experiment in META_EXPERIMENTS:
            r = event["record"]
            print(f"    {r['activation']} ({r['ways']}, {r['shots']}) seed {r['seed']}: {r['status']} best "
                  f"{r['mean']}%, held-out {r.get('test_mean')}% ({r['wall_seconds']:.0f} s)", file=sys.stderr, flush=True)
        elif event["kind"] == "run":
            r = event["record"]
            acc = f"{r['accuracy'][-1]:.2f}%" if r["accuracy"] else "-"
            what = f"{r['source']} -> {r['target']}" if r.get("source") else f"{r['optimizer']} {r['lr']:g}"
            print(f"    {r['activation']} {what} seed {r['seed']}: {r['status']} {acc}", file=sys.stderr, flush=True)

    if args.compare is not None:
        if args.experiment != "table3":
            from ..errors import ConfigError
            raise ConfigError("--compare belongs to table3 (its inner learning rates side by side)")
        from .meta import table3_comparison
        from .summary import format_table3_comparison
        comparison = table3_comparison(args.compare)
        if not quiet:
            print(format_table3_comparison(comparison))
        return comparison
    if args.experiment in META_EXPERIMENTS:
        from .meta import run_table3
        summary = run_table3(activations=_split(args.activations), ways=_split(args.ways, int),
                             shots=_split(args.shots, int), seeds=_split(args.seeds, int), iterations=args.iterations,
                             test_tasks=args.test_tasks, mode=args.mode, inner_lr=args.inner_lr, device=args.device, out=args.out,
                             data_dir=args.data_dir, progress=progress)
    else:
        summary = run_experiment(args.experiment, activations=_split(args.activations), optimizers=_split(args.optimizers),
                                 lrs=_split(args.lrs, float), seeds=_split(args.seeds, int), epochs=args.epochs,
                                 train_subset=args.train_subset, device=args.device, out=args.out,
                                 group_size=args.group_size, data_dir=args.data_dir, baseline=args.baseline,
                                 progress=progress, source=args.source, target=args.target,
                                 pretrain_epochs=args.pretrain_epochs, ray=args.ray, variants=_split(args.variants))
    if not quiet:
        print(format_table(summary))
        print(f"results: {summary['results_file']} ({summary['skipped']} runs already there, "
              f"{summary['trained_now']} trained now, {summary['seconds_this_call']:.0f} s)")
    return summary
