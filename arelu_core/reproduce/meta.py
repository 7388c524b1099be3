"""Table 3: MAML on MNIST with the protocol of the paper's official code (reference section 3).

    tasks       N-way K-shot from MNIST's training digits: a fixed pool of 1000 tasks drawn once per
                seed (N classes, 2K digits each; K to adapt on (support), K to evaluate (query));
                labels 0..N-1; inputs normalised with mean 0.1307, std 0.3081
    inner loop  5 SGD steps of lr 0.005 on the support loss (NLL mean), from the meta-parameters
    meta-step   32 tasks sampled from the pool; meta-loss = mean over tasks of the query NLL mean
                divided by the number of query digits (as the official code does); second-order
                meta-gradient (through the inner steps); Adam lr 0.005; 100 iterations
    `mean`      the official metric: best, over iterations, of the mean query accuracy of that
                iteration's 32 (meta-training) tasks: optimistic, no held-out tasks
    `test_mean` held out: after meta-training, `test_tasks` tasks from MNIST's test digits, adapted
                the same way; mean query accuracy with a 95% interval

The inner (adaptation) learning rate is 0.005 because that is what produced the published table:
`meta_mnist.py`'s argparse default for `--maml-lr` is 0.005 (the 0.01 in its `main()` signature is never
used when it runs as a script) and `meta_mnist.sh` passes only `--afs`, `--iterations 100`, `--ways` and
`--shots`. 0.01 is kept as a named variant (`--inner-lr 0.01`; our shipped grid of it in
assets/results/table3-inner-lr-0.01/). It matters: at 0.01 ReLU's official metric is 85.6 on (5, 1)
against the paper's 70.0; the run key holds the inner lr, so the two never mix in one cell.

Labels: each task's N classes get the labels 0..N-1 in the random order its classes were drawn, i.e. a
per-task random mapping, as learn2learn's `RemapLabels` has done by default since its first version
(the official code's task pool caches each task with its mapping); `ConsecutiveLabels` there only
sorts the data. That mapping must stay: with sorted labels a meta-learner learns the label order
(tested on randomly labelled tasks, its held-out accuracy falls from about 89 to 61-70).

PAU is built as the official code built it (paper.official_code_params: the official denominator form);
its runs carry `params` and their key ends in `|params=form=official`.

Two implementations of a meta-step, which give the same meta-gradient (tests/test_meta.py):
"looped"     task by task with torch.autograd.grad(create_graph=True): the fused AReLU op and its
             differentiable backward;
"vectorised" torch.func: vmap over the 32 tasks of grad(task loss), whose inner loop is itself
             torch.func.grad (AReLU/ELSA take the formula's torch ops inside transforms).
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from ..errors import ConfigError
from ..network import MNISTConv

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
MODES = ("vectorised", "looped")


@dataclass(frozen=True)
class MetaConfig:
    activation: str
    ways: int = 5
    shots: int = 1
    seed: int = 0
    iterations: int = 100
    tasks_per_step: int = 32
    inner_steps: int = 5
    inner_lr: float = 0.005
    meta_lr: float = 0.005
    task_pool: int = 1000
    test_tasks: int = 500
    mode: str = "vectorised"
    params: dict = field(default_factory=dict)     # the activation's parameters (PAU's form)

    def validate(self) -> "MetaConfig":
        from ..activations import check_params
        check_params(self.activation, self.params)
        for name in ("ways", "shots", "iterations", "tasks_per_step", "task_pool", "test_tasks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name.replace('_', ' ')} must be a positive integer, got {value!r}")
        if self.ways > 10:
            raise ConfigError(f"ways must be at most 10 (MNIST has 10 classes), got {self.ways}")
        if not (isinstance(self.inner_steps, int) and self.inner_steps >= 0):
            raise ConfigError(f"inner steps must be a non-negative integer, got {self.inner_steps!r}")
        for name in ("inner_lr", "meta_lr"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name.replace('_', ' ')} must be a positive number, got {value!r}")
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode {self.mode!r}; choose {' or '.join(MODES)}")
        return self

    def key(self) -> str:
        """Identity in a results file (the mode is how, not what: looped and vectorised runs are one run)."""
        return (f"{self.activation.lower()}|ways={self.ways}|shots={self.shots}|seed={self.seed}"
                f"|iters={self.iterations}|tps={self.tasks_per_step}|inner={self.inner_steps}x{self.inner_lr:g}"
                f"|meta_lr={self.meta_lr:g}|pool={self.task_pool}|test={self.test_tasks}"
                + ("|params=" + ",".join(f"{k}={v}" for k, v in sorted(self.params.items())) if self.params else ""))


# ---------------------------------------------------------------- tasks

class TaskSampler:
    """N-way 2K-shot tasks over one split: class_index[c] = indices of digit c in `images`."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, ways: int, shots: int):
        self.images = (images - MNIST_MEAN) / MNIST_STD          # [N, 1, 28, 28], the official normalisation
        self.ways, self.shots = ways, shots
        self.class_index = [torch.nonzero(labels == c).flatten() for c in range(10)]
        if min(len(ix) for ix in self.class_index) < 2 * shots:
            raise ConfigError(f"{shots}-shot tasks need {2 * shots} digits of every class; the data has fewer")

    def draw(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """[count, ways, 2K] digit indices: N distinct classes, 2K distinct digits of each."""
        tasks = torch.empty(count, self.ways, 2 * self.shots, dtype=torch.long)
        for t in range(count):
            classes = torch.randperm(10, generator=generator)[:self.ways]
            for j, c in enumerate(classes.tolist()):
                ix = self.class_index[c]
                tasks[t, j] = ix[torch.randperm(len(ix), generator=generator)[:2 * self.shots]].cpu()
        return tasks

    def batch(self, tasks: torch.Tensor):
        """Support and query sets of `tasks` [T, ways, 2K]: every other digit of a class adapts (as the
        official code splits), the rest evaluate. Returns xs, ys, xq, yq: [T, ways*K, 1, 28, 28] / [T, ways*K]."""
        T = len(tasks)
        device = self.images.device
        labels = torch.arange(self.ways, device=device).repeat_interleave(self.shots).expand(T, -1)
        support = tasks[:, :, 0::2].reshape(T, -1).to(device)
        query = tasks[:, :, 1::2].reshape(T, -1).to(device)
        return self.images[support], labels, self.images[query], labels


# ---------------------------------------------------------------- one task, functionally

def _nll(model, params, x, y):
    return F.nll_loss(functional_call(model, params, (x,)), y)


def _task_outcome(model, params, xs, ys, xq, yq, steps: int, lr: float):
    """Adapt `steps` SGD steps on (xs, ys) from params (torch.func.grad: differentiable, so the caller's
    grad is second order), then (query loss / query size, query accuracy)."""
    for _ in range(steps):
        g = grad(lambda p: _nll(model, p, xs, ys))(params)
        params = {k: p - lr * g[k] for k, p in params.items()}
    logp = functional_call(model, params, (xq,))
    return F.nll_loss(logp, yq) / len(yq), (logp.argmax(-1) == yq).float().mean()


def meta_gradient_vectorised(model, params: dict, xs, ys, xq, yq, steps: int, lr: float):
    """(meta-loss, mean query accuracy, grads) of one meta-step, the tasks vmapped."""
    params = {k: v.detach() for k, v in params.items()}     # torch.func computes the grads, not autograd
    def meta_loss(p):
        losses, accs = vmap(lambda a, b, c, d: _task_outcome(model, p, a, b, c, d, steps, lr),
                            randomness="different")(xs, ys, xq, yq)
        return losses.mean(), (losses.mean(), accs.mean())      # (objective, aux)
    grads, (loss, acc) = grad(meta_loss, has_aux=True)(params)
    return loss, acc.item(), grads


def meta_gradient_looped(model, params: dict, xs, ys, xq, yq, steps: int, lr: float):
    """The same, task by task with create_graph autograd (the fused ops' differentiable backward)."""
    names, leaves = list(params), [p.detach().requires_grad_(True) for p in params.values()]
    total, acc_sum, T = 0.0, 0.0, len(xs)
    for t in range(T):
        fast = leaves
        for _ in range(steps):
            loss = _nll(model, dict(zip(names, fast)), xs[t], ys[t])
            g = torch.autograd.grad(loss, fast, create_graph=True)
            fast = [p - lr * gi for p, gi in zip(fast, g)]
        logp = functional_call(model, dict(zip(names, fast)), (xq[t],))
        task_loss = F.nll_loss(logp, yq[t]) / len(yq[t]) / T
        task_loss.backward()                       # accumulate into the leaves: one graph at a time
        total += task_loss.item()
        acc_sum += (logp.argmax(-1) == yq[t]).float().mean().item()
    return torch.tensor(total, dtype=torch.float64), acc_sum / T, {n: p.grad for n, p in zip(names, leaves)}


META_STEPS = {"vectorised": meta_gradient_vectorised, "looped": meta_gradient_looped}


def evaluate_tasks(model, params: dict, sampler: TaskSampler, tasks: torch.Tensor, steps: int, lr: float,
                   chunk: int = 100) -> torch.Tensor:
    """Query accuracy of each task after adapting (no meta-gradient: the parameters are detached)."""
    params = {k: v.detach() for k, v in params.items()}
    out = []
    for start in range(0, len(tasks), chunk):
        xs, ys, xq, yq = sampler.batch(tasks[start:start + chunk])
        _, acc = vmap(lambda a, b, c, d: _task_outcome(model, params, a, b, c, d, steps, lr),
                      randomness="different")(xs, ys, xq, yq)
        out.append(acc.detach().cpu())
    return torch.cat(out)


# ---------------------------------------------------------------- a run

def train_maml(config: MetaConfig, train_data, test_data, device: torch.device | str = "cpu",
               progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> dict:
    """Meta-train one (activation, ways, shots, seed); returns the run's outcome (JSON-ready).

    train_data/test_data: MNISTTensors-like (images [N, 1, 28, 28] in [0, 1], labels)."""
    config.validate()
    device = torch.device(device)
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    model = MNISTConv(config.activation, in_channels=1, num_classes=config.ways, **config.params).to(device)
    train_tasks = TaskSampler(train_data.images.to(device), train_data.labels.to(device), config.ways, config.shots)
    test_tasks = TaskSampler(test_data.images.to(device), test_data.labels.to(device), config.ways, config.shots)
    gen = torch.Generator().manual_seed(config.seed)
    pool = train_tasks.draw(config.task_pool, gen)                       # drawn once, as the official code
    optimizer = torch.optim.Adam(model.parameters(), lr=config.meta_lr)
    step_fn = META_STEPS[config.mode]
    accuracy, losses, status, message = [], [], "finished", "meta-training finished"
    for it in range(config.iterations):
        if should_stop and should_stop():
            status, message = "stopped", f"stopped by request at iteration {it}"
            break
        picks = torch.randint(len(pool), (config.tasks_per_step,), generator=gen)
        batch = train_tasks.batch(pool[picks])
        params = dict(model.named_parameters())
        loss, acc, grads = step_fn(model, params, *batch, config.inner_steps, config.inner_lr)
        if not math.isfinite(float(loss.detach())):
            status, message = "diverged", f"meta-loss became {float(loss)} at iteration {it + 1}"
            break
        accuracy.append(round(100.0 * acc, 4))
        losses.append(float(loss))
        optimizer.zero_grad(set_to_none=True)
        for name, p in model.named_parameters():
            p.grad = grads[name].detach()
        optimizer.step()
        if progress:
            progress(it + 1, config.iterations)
    train_seconds = time.perf_counter() - started
    result = {"status": status, "message": message, "accuracy": accuracy, "meta_loss": losses,
              "mean": max(accuracy) if accuracy and status == "finished" else None,
              "best_iteration": accuracy.index(max(accuracy)) + 1 if accuracy else None,
              "train_seconds": round(train_seconds, 3),
              "activation_parameters": model.activation_parameters()}
    if status == "finished":
        test_gen = torch.Generator().manual_seed(10_000 + config.seed)
        accs = 100.0 * evaluate_tasks(model, dict(model.named_parameters()), test_tasks,
                                      test_tasks.draw(config.test_tasks, test_gen), config.inner_steps, config.inner_lr)
        std = accs.std().item() if len(accs) > 1 else 0.0
        result.update({"test_mean": round(accs.mean().item(), 4), "test_std": round(std, 4),
                       "test_n": len(accs), "test_ci95": round(1.96 * std / math.sqrt(len(accs)), 4)})
    result["wall_seconds"] = round(time.perf_counter() - started, 3)
    return result


def config_fields(config: MetaConfig) -> dict:
    return asdict(config)


# ---------------------------------------------------------------- the grid (resumable)

def table3_configs(activations=None, ways=None, shots=None, seeds=None, iterations=None, test_tasks=None,
                   mode: str = "vectorised", inner_lr: float | None = None) -> list[MetaConfig]:
    """The grid: the paper's 12 activations x (5, 1), (5, 5) x seeds 0-4 by default."""
    from ..activations import resolve_name
    from .paper import official_code_params, table3_activations, table3_settings
    acts = [resolve_name(a)[0] + ("+elsa" if resolve_name(a)[1] else "") for a in (activations or table3_activations())]
    settings = table3_settings()
    if ways is not None or shots is not None:
        settings = [(w, k) for w in (ways or [5]) for k in (shots or [1, 5])]
    seeds = [0, 1, 2, 3, 4] if seeds is None else list(seeds)
    if not (acts and seeds):
        raise ConfigError("nothing to run: give at least one activation and one seed")
    extra = {k: v for k, v in (("iterations", iterations), ("test_tasks", test_tasks), ("inner_lr", inner_lr))
             if v is not None}
    return [MetaConfig(a, ways=w, shots=k, seed=s, mode=mode, params=official_code_params(a), **extra).validate()
            for w, k in settings for a in dict.fromkeys(acts) for s in dict.fromkeys(seeds)]


def run_table3(*, activations=None, ways=None, shots=None, seeds=None, iterations=None, test_tasks=None,
               mode: str = "vectorised", inner_lr: float | None = None, device: str = "auto", out=None, data_dir=None,
               progress: Callable[[dict], None] | None = None, should_stop: Callable[[], bool] | None = None) -> dict:
    """Meta-train what <out>/runs.jsonl lacks (one fsynced line per finished run), then summarise.

    progress(event): {"kind": "group", "index", "groups", "runs"} before each run, {"kind": "step", "step",
    "total"} per meta-iteration, {"kind": "run", "record"} after it (the batched experiments' events)."""
    from .. import __version__
    from ..data import load_mnist
    from ..trainer import device_label, disable_tf32, resolve_device, tf32_enabled
    from .results import FORMAT, FORMAT_VERSION, RESULTS_NAME, ResultsFile, now_iso, write_json_atomic
    from .summary import summarise_table3

    started = time.perf_counter()
    emit = progress or (lambda event: None)
    configs = table3_configs(activations, ways, shots, seeds, iterations, test_tasks, mode, inner_lr)
    out = Path(out) if out else Path("results") / "table3"
    results = ResultsFile(out / RESULTS_NAME, "table3")
    done = {r["key"] for r in results.read()}
    todo = [c for c in configs if c.key() not in done]
    trained = 0
    if todo:
        torch_device = resolve_device(device)
        label = device_label(torch_device)
        disable_tf32()
        train_data, test_data = load_mnist(True, data_dir, torch_device), load_mnist(False, data_dir, torch_device)
        for index, config in enumerate(todo):
            if should_stop and should_stop():
                break
            emit({"kind": "group", "index": index, "groups": len(todo),
                  "runs": [f"{config.activation} ({config.ways}, {config.shots}) seed {config.seed}"]})
            outcome = train_maml(config, train_data, test_data, torch_device, should_stop=should_stop,
                                 progress=lambda step, total: emit({"kind": "step", "step": step, "total": total}))
            if outcome["status"] == "stopped":
                break
            record = {"format": FORMAT, "format_version": FORMAT_VERSION, "experiment": "table3", "key": config.key(),
                      **config_fields(config), "optimizer": "adam", "lr": config.meta_lr, **outcome,
                      "device": label, "tf32": tf32_enabled(), "threads": torch.get_num_threads(),
                      "library_version": __version__,
                      "torch_version": torch.__version__, "finished_at": now_iso()}
            results.append([record])
            trained += 1
            emit({"kind": "run", "record": record})
    wanted = {c.key() for c in configs}
    records = [r for r in results.read() if r["key"] in wanted]
    summary = summarise_table3(records)
    summary.update({"title": "Table 3: MAML on MNIST (5-way 1-shot and 5-shot)",
                    "note": "mean: the official code's metric (best over iterations of the mean query accuracy on "
                            "meta-training tasks); test_mean: held-out tasks from MNIST's test digits, 95% interval.",
                    "results_file": str(results.path), "requested": len(configs), "finished": len(records),
                    "skipped": len(configs) - len(todo), "trained_now": trained,
                    "seconds_this_call": round(time.perf_counter() - started, 1),
                    "status": "finished" if len(records) == len(configs) else "partial"})
    write_json_atomic(out / "summary.json", summary)
    return summary


# Our shipped Table 3 grids (assets/results/README.md): the official script's inner lr, then the variant.
SHIPPED_TABLE3 = tuple(Path(__file__).resolve().parents[2] / "assets" / "results" / name / "runs.jsonl"
                       for name in ("table3", "table3-inner-lr-0.01"))


def table3_comparison(paths=None) -> dict:
    """compare_table3 over the runs of `paths` (results files or their folders; default: the shipped grids at
    inner lr 0.005 and 0.01), so both inner learning rates stand side by side with the paper."""
    from .results import RESULTS_NAME, ResultsFile
    from .summary import compare_table3
    records = []
    for path in (paths or SHIPPED_TABLE3):
        path = Path(path)
        records += ResultsFile(path / RESULTS_NAME if path.is_dir() else path, "table3").read()
    comparison = compare_table3(records)
    comparison["results_files"] = [str(p) for p in (paths or SHIPPED_TABLE3)]
    return comparison
