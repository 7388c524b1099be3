"""`arelu` / `python -m arelu_core`: train, evaluate, activations, bench, lesson (and reproduce).

With --json the last line printed is one JSON object. User errors print one line and exit 2.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import threading

from .errors import AReLULabError

EXIT_USER_ERROR = 2


DATASET_HELP = "mnist, fashion-mnist, kmnist, svhn or cifar100 (downloaded by torchvision's URLs when missing)"


def _add_data_args(p: argparse.ArgumentParser):
    p.add_argument("--data-dir", help="folder holding the datasets in torchvision's layout (MNIST/raw, "
                                      "FashionMNIST/raw, SVHN, ...; default: $ARELU_DATA_DIR, else ~/.cache/arelu-lab/data)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line, no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arelu", description="AReLU Lab: the AReLU activation, headless.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train MNIST-Conv or a deep network with any activation")
    p.add_argument("--activation", default="arelu", help="registry name, e.g. arelu, relu, prelu, relu+elsa")
    p.add_argument("--network", default="mnist-conv",
                   help="mnist-conv, resnet18, seresnet18, vgg16, densenet121 or mobilenetv2 (`arelu networks`)")
    p.add_argument("--dataset", default="mnist", help=DATASET_HELP)
    p.add_argument("--width", type=float, default=1.0, help="deep networks: channel multiplier (1 = published)")
    p.add_argument("--optimizer", default=None, help="sgd (momentum 0.9) or adam (default sgd)")
    p.add_argument("--lr", type=float, default=None, help="default 1e-3; deep networks 0.1 (the paper's)")
    p.add_argument("--batch-size", type=int, default=None, help="default 128; deep networks 64 (the paper's)")
    p.add_argument("--weight-decay", type=float, default=None, help="default 0; deep networks 5e-4 (the paper's)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random crop + flip (default: on for deep networks)")
    p.add_argument("--amp", choices=["auto", "on", "off"], default="auto",
                   help="bfloat16 autocast + channels-last on CUDA (auto: deep networks)")
    p.add_argument("--test-subset", type=int, help="test accuracy on the first N test images only")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    from .activations import activation_info
    p.add_argument("--alpha", type=float, help="initial alpha of an activation that takes one (AReLU/ELSA: "
                                               f"{activation_info('arelu').param('alpha').train}; CAReLU: any "
                                               "number); see `arelu activations`")
    p.add_argument("--beta", type=float, help="initial beta of an activation that takes one")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="any parameter the activation takes, e.g. --param negative_slope=0.1 (repeatable; "
                        "`arelu activations` lists them with their ranges)")
    p.add_argument("--train-subset", type=int, help="use only the first N training digits")
    p.add_argument("--compile", choices=["auto", "on", "off"], default="auto",
                   help="AReLU/ELSA through torch.compile: auto = only where it pays (long CUDA runs)")
    p.add_argument("--save", metavar="PATH", help="write the trained model as a checkpoint")
    _add_data_args(p)

    p = sub.add_parser("evaluate", help="test accuracy of a checkpoint on its dataset's test set")
    p.add_argument("checkpoint")
    p.add_argument("--dataset", help="test set to use (default: the one the checkpoint was trained on)")
    _add_data_args(p)

    p = sub.add_parser("activations", help="list the registry: name, parameters per layer, formula")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("networks", help="list the networks: activation sites and parameter counts per activation")
    p.add_argument("--activations", nargs="+", default=["relu", "prelu", "pau", "arelu"], metavar="NAME",
                   help="activations to count parameters with (default: relu prelu pau arelu)")
    p.add_argument("--dataset", default="cifar100", help="input channels and classes follow it (default cifar100)")
    p.add_argument("--width", type=float, default=1.0, help="channel multiplier of the deep networks")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("bench", help="speed and memory: AReLU vs ReLU (MNIST-Conv, ResNet-18), trainer vs DataLoader")
    p.add_argument("--quick", action="store_true", help="smaller tensor and fewer steps (a smoke run)")
    p.add_argument("--steps", type=int, default=None, help="training steps per throughput measurement")
    p.add_argument("--only", choices=["op", "epoch", "loader", "resnet", "cifar", "maml"], action="append",
                   help="run only some parts (repeatable; maml runs only when named)")
    p.add_argument("--compiled", action="store_true",
                   help="also time AReLU through torch.compile (and report its compile time)")
    _add_data_args(p)

    p = sub.add_parser("lesson", help="the classroom lesson: each step's question and its answer, computed now")
    p.add_argument("--step", type=int, help="only this step (1-based; default: all of them)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("race", help="race trainings as Train live does (default: the paper's race, Table 1's "
                                     "SGD 1e-3 column), with start gap, throughput and the published numbers")
    p.add_argument("--activations", nargs="+", default=None, metavar="NAME", help="default: relu arelu")
    p.add_argument("--train-subset", type=int, help="only the first N training digits (not comparable with Table 1)")
    p.add_argument("--separately", action="store_true",
                   help="submit the trainings one by one, not as a race (as Train live did before races)")
    _add_data_args(p)

    try:
        from .reproduce import register_cli
    except ImportError:
        pass
    else:
        register_cli(sub)
    return parser


def cmd_train(args) -> dict:
    from .checkpoint import save_checkpoint
    from .trainer import deep_recipe, train
    params = {**_parse_params(args.activation, args.param),
              **{k: v for k, v in (("alpha", args.alpha), ("beta", args.beta)) if v is not None}}
    given = {k: v for k, v in (("optimizer", args.optimizer), ("lr", args.lr), ("batch_size", args.batch_size),
                               ("weight_decay", args.weight_decay), ("augment", args.augment)) if v is not None}
    config = deep_recipe(args.network, activation=args.activation, activation_params=params, epochs=args.epochs,
                         seed=args.seed, device=args.device, data_dir=args.data_dir, train_subset=args.train_subset,
                         test_subset=args.test_subset, compile=args.compile, dataset=args.dataset,
                         width=args.width, amp=args.amp, **given).validate()
    _ensure_data(config.dataset, args.data_dir, quiet=args.json)
    bar = None if args.json or not sys.stderr.isatty() else _progress_bar(config)

    def on_event(event):
        if bar is not None and event["kind"] == "step":
            bar.update(1)
            bar.set_postfix(epoch=event["epoch"], loss=f"{event['loss']:.3f}", refresh=False)
        elif event["kind"] == "epoch" and not args.json:
            print(f"epoch {event['epoch']}: test accuracy {event['test_accuracy']:.2f}%  "
                  f"{event['seconds']:.1f} s  {event['samples_per_second']:.0f} samples/s", file=sys.stderr)

    result = train(config, callback=on_event)
    if bar is not None:
        bar.close()
    summary = result.summary()
    if args.save and result.status == "finished":
        meta = {k: summary["config"][k] for k in ("dataset", "optimizer", "lr", "batch_size", "epochs", "seed",
                                                  "train_subset", "weight_decay", "augment")}
        save_checkpoint(args.save, result.model, {**meta, "test_accuracy": result.test_accuracy,
                                                  "device": result.device})
        summary["checkpoint"] = args.save
    if not args.json:
        acc = "n/a" if result.test_accuracy is None else f"{result.test_accuracy:.2f}%"
        print(f"{result.status}: {config.network} {config.activation} {config.optimizer} lr={config.lr:g} -> test accuracy {acc} "
              f"on {result.device}, {result.samples_per_second:.0f} samples/s; {result.message}")
    return summary


def _ensure_data(dataset: str, data_dir, quiet: bool) -> None:
    """Download a missing dataset before training, with a progress bar per file on a terminal."""
    from .data import ensure_dataset
    bars = {}

    def progress(name, done, total):
        if name not in bars:
            from tqdm import tqdm
            bars[name] = tqdm(total=total or None, unit="B", unit_scale=True, desc=name, file=sys.stderr, leave=False)
        bars[name].update(done - bars[name].n)

    try:
        ensure_dataset(dataset, data_dir, progress=None if quiet or not sys.stderr.isatty() else progress)
    finally:
        for bar in bars.values():
            bar.close()


def _parse_params(activation: str, items: list[str]) -> dict:
    """--param NAME=VALUE pairs, each VALUE read as its ParamSpec says (numbers, a choice, a list)."""
    from .activations import activation_info
    from .errors import ConfigError
    info, params = activation_info(activation), {}
    for item in items:
        name, sep, text = item.partition("=")
        spec = info.param(name.strip())
        if not sep or spec is None:
            takes = ", ".join(s.name for s in info.params) or "no parameters"
            raise ConfigError(f"--param {item!r}: {info.name} takes {takes} (write NAME=VALUE)")
        params[spec.name] = spec.parse(text)
    return params


def _progress_bar(config):
    from tqdm import tqdm
    from .data import load_dataset
    n = len(load_dataset(config.dataset, True, config.data_dir).subset(config.train_subset))
    return tqdm(total=config.epochs * -(-n // config.batch_size), unit="step", file=sys.stderr, leave=False)


def cmd_evaluate(args) -> dict:
    from .checkpoint import load_checkpoint
    from .data import dataset_info, load_dataset
    from .errors import ConfigError
    from .network import accuracy
    from .trainer import device_label, resolve_device
    device = resolve_device(args.device)
    model, meta = load_checkpoint(args.checkpoint, device)
    info = dataset_info(args.dataset or meta["dataset"])
    if (info.channels, info.num_classes) != (model.in_channels, model.num_classes):
        raise ConfigError(f"{args.checkpoint} was trained on {dataset_info(meta['dataset']).describe()}; "
                          f"it cannot classify {info.describe()}")
    _ensure_data(info.key, args.data_dir, quiet=args.json)
    test = load_dataset(info.key, False, args.data_dir, device)
    acc = accuracy(model, test.images, test.labels)
    if not args.json:
        print(f"{args.checkpoint}: {meta.get('activation')} test accuracy {acc:.2f}% on {len(test)} {info.name} "
              f"test images (recorded: {meta.get('test_accuracy')})")
    return {"checkpoint": args.checkpoint, "activation": meta.get("activation"), "dataset": info.key,
            "test_accuracy": acc,
            "recorded_test_accuracy": meta.get("test_accuracy"), "device": device_label(device), "metadata": meta}


def cmd_activations(args) -> dict:
    from .activations import activation_info, list_activations
    rows = []
    for key in list_activations():
        info = activation_info(key)
        rows.append({"key": info.key, "name": info.name, "params_per_layer": info.params_per_layer,
                     "learnable": info.learnable, "elementwise": info.elementwise,
                     "in_paper_table1": info.in_paper_table1, "formula": info.formula,
                     "reference": info.reference, "defaults": info.defaults,
                     "params": [_describe(spec) for spec in info.params]})
    if not args.json:
        for r in rows:
            print(f"{r['key']:<9} {r['name']:<9} params/layer={r['params_per_layer']:<3} "
                  f"{'learnable' if r['learnable'] else 'fixed    '} {r['reference']}")
            for spec in r["params"]:
                print(f"{'':<12}{spec['name']}={spec['default']!r}: {spec['range']}. {spec['description']}")
        print("Append '+elsa' to any name to add ELSA (e.g. relu+elsa).")
    return {"activations": rows}


def _describe(spec) -> dict:
    """A ParamSpec as the CLI prints it: its range, and the narrower start range of a training."""
    if spec.kind == "choice":
        where = "one of " + ", ".join(map(repr, spec.choices))
    elif spec.kind == "floats":
        where = f"None or {spec.length} numbers"
    else:
        from .activations import Interval
        where = "an integer" if spec.kind == "int" else "a number"
        where += "" if spec.valid == Interval() else f" {spec.valid}"
        if spec.train is not None:
            where += f" (to start a training: {spec.train})"
    return {"name": spec.name, "default": spec.default, "range": where, "description": spec.description}


def cmd_networks(args) -> dict:
    from .activations import resolve_name
    from .data import dataset_info
    from .deep_networks import network_table
    info = dataset_info(args.dataset)
    acts = [resolve_name(a)[0] for a in args.activations]
    rows = network_table(acts, info.channels, info.num_classes, args.width)
    if not args.json:
        print(f"{'network':<12} {'sites':>5}  " + "  ".join(f"{a:>11}" for a in acts)
              + f"   (parameters, {info.name} input, width {args.width:g})")
        for r in rows:
            print(f"{r['key']:<12} {r['sites']:>5}  " + "  ".join(f"{r['parameters'][a]:>11,}" for a in acts)
                  + f"   {r['note']}")
    return {"dataset": info.key, "width": args.width, "networks": rows}


def cmd_bench(args) -> dict:
    from .bench import run_benchmarks
    return run_benchmarks(quick=args.quick, steps=args.steps, parts=args.only, data_dir=args.data_dir,
                          device=args.device, verbose=not args.json, compiled=args.compiled)


def cmd_lesson(args) -> dict:
    from . import lesson
    numbers = [args.step] if args.step is not None else list(range(1, lesson.step_count() + 1))
    lesson.get_step(numbers[0])                 # a bad --step: one line before any computing
    steps = []
    for number in numbers:
        answer = lesson.get_step(number).answer()
        if not args.json:
            print(lesson.step_text(number, answer) + "\n", flush=True)
        steps.append(lesson.step_json(number, answer))
    return {"steps": steps}


def cmd_race(args) -> dict:
    """The trainings in worker processes of a JobManager, as the app runs them; one line per training."""
    import time
    from dataclasses import replace
    from .jobs import JobManager
    from .races import first_epoch_accuracy, paper_race, start_gap, start_times, table1_comparison
    settings = replace(paper_race(), device=args.device, train_subset=args.train_subset,
                       **({"activations": tuple(args.activations)} if args.activations else {}))
    configs = [replace(config, data_dir=args.data_dir) for config in settings.configs()]
    _ensure_data(settings.dataset, args.data_dir, args.json)
    manager, began = JobManager(max_running=max(2, len(configs)), isolation="process"), time.time()
    if args.separately:
        jobs = [manager.submit("cli", config, label) for config, label in zip(configs, settings.labels())]
    else:
        jobs = manager.submit_race("cli", configs, settings.labels()).jobs
    manager.wait(jobs)
    wall = max(job.finished_at for job in jobs) - began
    firsts = start_times(jobs)
    rows = [{"activation": job.label, "status": job.status, "message": job.message,
             "first_step_s": None if first is None else round(first - began, 2),
             "test_accuracy": first_epoch_accuracy(job.snapshot()),
             "samples_per_second": round(job.result.samples_per_second) if job.result else None}
            for job, first in zip(jobs, firsts)]
    gap = start_gap(jobs)
    line = table1_comparison(configs, [row["test_accuracy"] for row in rows])
    if not args.json:
        for row in rows:
            print(f"{row['activation']:>8}  {row['status']:<9} first step at {row['first_step_s']} s  "
                  f"{row['samples_per_second']} samples/s  test accuracy {row['test_accuracy']}")
        print(f"start gap {gap:.2f} s, race wall time {wall:.1f} s" if gap is not None else f"race wall time {wall:.1f} s")
        if line:
            print(line)
    return {"trainings": rows, "start_gap_s": gap, "wall_s": round(wall, 1), "paper": line,
            "status": "finished" if all(job.status == "finished" for job in jobs) else jobs[0].status}


COMMANDS = {"lesson": cmd_lesson, "race": cmd_race, "train": cmd_train, "evaluate": cmd_evaluate, "activations": cmd_activations, "bench": cmd_bench,
            "networks": cmd_networks}


class _MainThreadStdout(io.TextIOBase):
    """stdout that carries the main thread's prints only. Ray's background threads print the cluster's
    messages ("(raylet) ..." when a node dies) into sys.stdout; those go to stderr."""

    def __init__(self, out, err):
        self.out, self.err = out, err

    def _stream(self):
        return self.out if threading.current_thread() is threading.main_thread() else self.err

    def write(self, text: str) -> int:
        return self._stream().write(text)

    def flush(self) -> None:
        self.out.flush()
        self.err.flush()

    def fileno(self) -> int:
        return self.out.fileno()

    def isatty(self) -> bool:
        return self.out.isatty()


def _ray_output_to_stderr() -> None:
    """With --ray, stdout carries only what we print (the --json result last). Ray's native code and the
    processes it starts write log lines to file descriptor 1: point fd 1 at stderr and keep our stdout on a
    copy of the real one; Ray's Python threads print to sys.stdout: _MainThreadStdout sends them to stderr."""
    sys.stdout.flush()
    real_stdout = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = _MainThreadStdout(os.fdopen(real_stdout, "w", buffering=1), sys.stderr)


def _ray_output_done() -> None:
    """After our last line, stdout takes nothing more: Ray drains the cluster's messages at exit (ray.shutdown in
    atexit, on the main thread), which would land after the --json result; the real stdout now leads to stderr."""
    if isinstance(sys.stdout, _MainThreadStdout):
        sys.stdout.flush()
        os.dup2(2, sys.stdout.out.fileno())
        sys.stdout = sys.stderr


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    ray_mode = bool(getattr(args, "ray", None)) and argv is None    # a real process (not a test calling main())
    if ray_mode:
        _ray_output_to_stderr()
    try:
        return _run(args)
    finally:
        if ray_mode:
            _ray_output_done()


def _run(args) -> int:
    handler = COMMANDS.get(args.command) or getattr(args, "handler", None)
    try:
        result = handler(args)
    except AReLULabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if getattr(args, "json", False):
            print(json.dumps({"error": str(exc)}))
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if getattr(args, "json", False):
        print(json.dumps(result, default=str))
    if isinstance(result, dict) and result.get("status") in ("diverged", "stopped"):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
