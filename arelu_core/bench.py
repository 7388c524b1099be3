"""`arelu bench`: the speed and memory goals, measured side by side in one run.

    op      AReLU forward+backward vs ReLU's (and the official formulation's) on a 256x64x56x56
            float32 tensor, plus the peak memory of each backward.      goal: AReLU <= 1.5x ReLU
            With compiled=True (--compiled) also the torch.compile path and its compile time.
    epoch   one MNIST-Conv training epoch, AReLU vs ReLU (same seed).    goal: <= 1.2x
    loader  the trainer's samples/s vs a DataLoader + ToTensor loop over torchvision's MNIST
            (how the official code trains), same model and batch.       goal: >= 1.5x
    resnet  one ResNet-18 training step (CIFAR-100 shapes: 3x32x32, 100 classes, batch 64, the paper's
            SGD), AReLU vs ReLU, steps interleaved so load changes hit both; eager
            (and with --compiled the torch.compile path).               goal: <= 1.15x
            On CUDA the steps use bfloat16 autocast + channels-last, as the trainer does.
    cifar   a full CIFAR-100-sized ResNet-18 epoch: 50 000 synthetic 3x32x32 images through
            trainer.train, ReLU then AReLU, seconds and samples/s (default on CUDA only).
            On CUDA, op and resnet also time AReLU pinned to the torch-ops path (`arelu_torch_ops`),
            beside the default there (the Triton kernels): what those kernels gain.
    maml    Table 3's 5-way 1-shot MAML with AReLU (the official protocol, second order): seconds of
            meta-training per 100 iterations, vectorised (vmap) vs looped (create_graph), not
            part of the default set (it needs a minute).                 goal: <= 30 s vectorised
"""
from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from .activations import create_activation
from .activations import _kernels
from .activations.compiled import use_compiled, use_kernel
from .trainer import TrainConfig, device_label, make_optimizer, resolve_device, train

GOALS = {"op_ratio_max": 1.5, "epoch_ratio_max": 1.2, "loader_speedup_min": 1.5, "resnet_ratio_max": 1.15,
         "maml_seconds_max": 30.0}


def default_kernel(device, dtype) -> str:
    """Which implementation AReLU's fused op picks for `dtype` activations on `device`."""
    one = torch.ones((), device=device)
    return _kernels.pick_kernel(torch.ones(1, device=device, dtype=dtype), one, one)


def official_arelu(x, alpha, beta):
    """The official repository's formulation: several full passes over memory."""
    return F.relu(x) * (1 + torch.sigmoid(beta)) - F.relu(-x) * alpha.clamp(0.01, 0.99)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _return_freed_memory_to_os():
    """glibc keeps freed large blocks mapped (dynamic mmap threshold), hiding them from RSS; a
    fixed 128 KiB threshold makes every large tensor its own mapping, so RSS tracks live tensors."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


class _PeakMemory:
    """Peak extra memory of a block: CUDA allocator stats, or the process's RSS high-water mark."""

    def __init__(self, device):
        self.device = device
        if device.type == "cpu":
            _return_freed_memory_to_os()

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            self.base = _rss_kib("VmRSS")
            try:  # "5" resets the VmHWM high-water mark (Linux)
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                self.base = None
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak_mib = (torch.cuda.max_memory_allocated() - self.base) / 2**20
        else:
            peak = _rss_kib("VmHWM")
            self.peak_mib = None if self.base is None or peak is None else (peak - self.base) / 1024


def _rss_kib(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def bench_op(shape=(256, 64, 56, 56), repeats=5, device="cpu", verbose=True, compiled=False) -> dict:
    device = resolve_device(device)
    x = torch.randn(shape, device=device)
    arelu = create_activation("arelu").to(device)
    alpha, beta = arelu.alpha, arelu.beta
    candidates = {"relu": F.relu, "arelu": arelu, "arelu_official": lambda t: official_arelu(t, alpha, beta)}
    if device.type == "cuda":
        torch_ops_arelu = create_activation("arelu").to(device)
        use_kernel(torch_ops_arelu, "torch")
        candidates["arelu_torch_ops"] = torch_ops_arelu
    if compiled:
        compiled_arelu = create_activation("arelu").to(device)
        use_compiled(compiled_arelu)
        candidates["arelu_compiled"] = compiled_arelu
    times, memory, first_call = {}, {}, {}
    for name, fn in candidates.items():
        samples = []
        for i in range(repeats + 1):  # first run warms up (Numba or torch.compile compiles, allocator)
            xi = x.detach().requires_grad_(True)
            _sync(device)
            start = time.perf_counter()
            y = fn(xi)
            grad = torch.ones_like(y)
            _sync(device)
            with _PeakMemory(device) as peak:
                y.backward(grad)
            _sync(device)
            if i:
                samples.append(time.perf_counter() - start)
            else:
                first_call[name] = time.perf_counter() - start
            del y, grad, xi
        times[name] = statistics.median(samples)
        memory[name] = peak.peak_mib
    out = {"shape": list(shape), "device": device_label(device), "arelu_kernel": default_kernel(device, torch.float32),
           "seconds": times, "backward_peak_mib": memory,
           "arelu_vs_relu": times["arelu"] / times["relu"],
           "official_vs_relu": times["arelu_official"] / times["relu"]}
    if compiled:
        out["compiled_vs_relu"] = times["arelu_compiled"] / times["relu"]
        out["compile_seconds"] = first_call["arelu_compiled"] - times["arelu_compiled"]
    if verbose:
        print(f"[op] forward+backward on {tuple(shape)} float32, {device_label(device)}, median of {repeats}")
        for name in candidates:
            mem = "n/a" if memory[name] is None else f"{memory[name]:.0f} MiB"
            print(f"  {name:<15} {times[name] * 1e3:8.1f} ms  x{times[name] / times['relu']:.2f} of ReLU"
                  f"   backward peak +{mem}")
        if compiled:
            print(f"  (arelu_compiled: {out['compile_seconds']:.1f} s of compiling before its first step)")
    return out


def bench_epoch(data_dir=None, device="cpu", train_subset=None, verbose=True) -> dict:
    base = dict(optimizer="sgd", lr=1e-3, batch_size=128, seed=0, device=device, data_dir=data_dir,
                train_subset=train_subset)
    for act in ("relu", "arelu"):  # warm-up: Numba compile, data load, allocator
        train(TrainConfig(activation=act, **{**base, "train_subset": 512}))
    result = {}
    for act in ("relu", "arelu"):
        run = train(TrainConfig(activation=act, **base))
        result[act] = {"epoch_seconds": run.epoch_seconds[0], "samples_per_second": run.samples_per_second,
                       "test_accuracy": run.test_accuracy}
    ratio = result["arelu"]["epoch_seconds"] / result["relu"]["epoch_seconds"]
    out = {"device": run.device, "train_subset": train_subset, **result, "arelu_vs_relu": ratio}
    if verbose:
        print(f"[epoch] MNIST-Conv, batch 128, SGD 1e-3, {run.device}"
              + (f", first {train_subset} digits" if train_subset else ", 60 000 digits"))
        for act in ("relu", "arelu"):
            r = result[act]
            print(f"  {act:<6} {r['epoch_seconds']:6.2f} s  {r['samples_per_second']:8.0f} samples/s  "
                  f"test {r['test_accuracy']:.2f}%")
        print(f"  AReLU/ReLU epoch time x{ratio:.2f}")
    return out


def bench_loader(data_dir=None, device="cpu", steps=200, verbose=True) -> dict:
    """Same model (AReLU MNIST-Conv), batch 128, SGD: our in-memory trainer vs DataLoader+ToTensor."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms
    from .data import load_mnist, resolve_data_dir
    from .network import MNISTConv
    device = resolve_device(device)
    batch = 128
    load_mnist(True, data_dir, device)  # load outside the timing, as the app and the CLI keep it in memory
    ours = train(TrainConfig(activation="arelu", batch_size=batch, seed=0, device=str(device), data_dir=data_dir,
                             train_subset=steps * batch, test_subset=100))
    dataset = datasets.MNIST(str(resolve_data_dir(data_dir)), train=True, download=True,
                             transform=transforms.ToTensor())
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=0)
    torch.manual_seed(0)
    model = MNISTConv("arelu").to(device)
    optimizer = make_optimizer(TrainConfig(), model.parameters())
    start, done = time.perf_counter(), 0
    for i, (x, y) in enumerate(loader):
        if i == steps:
            break
        x, y = x.to(device), y.to(device)
        loss = F.nll_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        done += len(y)
    _sync(device)
    loader_sps = done / (time.perf_counter() - start)
    out = {"device": device_label(device), "steps": steps, "trainer_samples_per_second": ours.samples_per_second,
           "dataloader_samples_per_second": loader_sps, "speedup": ours.samples_per_second / loader_sps}
    if verbose:
        print(f"[loader] AReLU MNIST-Conv, batch {batch}, {steps} steps, {device_label(device)}")
        print(f"  trainer (tensors in memory)  {ours.samples_per_second:8.0f} samples/s")
        print(f"  DataLoader + ToTensor        {loader_sps:8.0f} samples/s   speed-up x{out['speedup']:.2f}")
    return out


def bench_resnet(steps: int = 5, device="cpu", verbose=True, compiled=False) -> dict:
    """ResNet-18 training step time, ReLU vs AReLU (median over `steps`, after a warm-up step)."""
    from .deep_networks import create_network
    from .trainer import deep_recipe, use_amp
    device = resolve_device(device)
    config = deep_recipe("resnet18", device=str(device)).validate()
    amp = use_amp(config, device)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(64, 3, 32, 32, generator=gen).to(device)
    y = torch.randint(0, 100, (64,), generator=gen).to(device)
    if amp:
        x = x.contiguous(memory_format=torch.channels_last)
    variants = {"relu": ("relu", "auto"), "arelu": ("arelu", "auto")}
    if device.type == "cuda":          # what the Triton kernels gain over the torch-ops path
        variants["arelu_torch_ops"] = ("arelu", "torch")
    if compiled:
        variants["arelu_compiled"] = ("arelu", "compiled")
    models, first = {}, {}
    for name, (act, kernel) in variants.items():
        torch.manual_seed(0)
        model = create_network("resnet18", act, 3, 100).to(device)
        if amp:
            model = model.to(memory_format=torch.channels_last)
        use_kernel(model, kernel)
        optimizer = make_optimizer(config, model.parameters())
        models[name] = (model, optimizer)

    def step(name):
        model, optimizer = models[name]
        _sync(device)
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss = F.nll_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        _sync(device)
        return time.perf_counter() - start

    for name in variants:          # warm-up: Numba / torch.compile compile, cuDNN picks its algorithms
        first[name] = step(name)
    samples = {name: [] for name in variants}
    for _ in range(steps):         # interleaved: a burst of load from elsewhere hits every variant
        for name in variants:
            samples[name].append(step(name))
    seconds = {name: statistics.median(v) for name, v in samples.items()}
    out = {"device": device_label(device), "batch": 64, "steps": steps, "amp_channels_last": amp,
           "arelu_kernel": default_kernel(device, torch.bfloat16 if amp else torch.float32), "step_seconds": seconds, "samples_per_second": {n: 64 / t for n, t in seconds.items()},
           "arelu_vs_relu": seconds["arelu"] / seconds["relu"]}
    if compiled:
        out["compiled_vs_relu"] = seconds["arelu_compiled"] / seconds["relu"]
        out["compile_seconds"] = first["arelu_compiled"] - seconds["arelu_compiled"]
    if verbose:
        print(f"[resnet] ResNet-18 training step, batch 64 of 3x32x32, 100 classes, SGD, {out['device']}"
              f"{', bfloat16 + channels-last' if amp else ''}, median of {steps}; AReLU's kernel: {out['arelu_kernel']}")
        for name, t in seconds.items():
            print(f"  {name:<15} {t * 1e3:8.1f} ms  {64 / t:8.0f} samples/s  x{t / seconds['relu']:.2f} of ReLU")
    return out


def bench_cifar_epoch(device="auto", verbose=True, images: int = 50_000) -> dict:
    """One CIFAR-100-sized epoch (50 000 random 3x32x32 images) per activation through trainer.train."""
    device = resolve_device(device)
    from .data import MNISTTensors
    from .trainer import deep_recipe
    gen = torch.Generator().manual_seed(0)
    train_data = MNISTTensors(torch.rand(images, 3, 32, 32, generator=gen), torch.randint(0, 100, (images,), generator=gen))
    test_data = MNISTTensors(train_data.images[:1000], train_data.labels[:1000])
    out = {"device": device_label(device), "images": images}
    for act in ("relu", "arelu"):
        config = deep_recipe("resnet18", activation=act, dataset="cifar100", device=str(device), params_every=0,
                             compile="off")
        run = train(config, train_data=train_data, test_data=test_data)
        out[act] = {"epoch_seconds": run.epoch_seconds[0], "samples_per_second": run.samples_per_second}
    out["arelu_vs_relu"] = out["arelu"]["epoch_seconds"] / out["relu"]["epoch_seconds"]
    if verbose:
        print(f"[cifar] one CIFAR-100-sized ResNet-18 epoch ({images:,} synthetic images, crop + flip, trainer.train), "
              f"{out['device']}")
        for act in ("relu", "arelu"):
            print(f"  {act:<6} {out[act]['epoch_seconds']:6.1f} s  {out[act]['samples_per_second']:8.0f} samples/s")
    return out


def bench_maml(iterations: int = 100, looped_iterations: int = 10, data_dir=None, device="cpu",
               verbose=True) -> dict:
    """One 5-way 1-shot MAML meta-training (AReLU), vectorised then looped; seconds per 100 iterations
    (the task pool and model built inside, as in a run; the held-out evaluation left out)."""
    from .data import load_mnist
    from .reproduce.meta import MetaConfig, train_maml
    device = resolve_device(device)
    train_data, test_data = load_mnist(True, data_dir, device), load_mnist(False, data_dir, device)
    out = {"device": device_label(device), "threads": torch.get_num_threads(), "activation": "arelu",
           "ways": 5, "shots": 1}
    for mode, count in (("vectorised", iterations), ("looped", looped_iterations)):
        result = train_maml(MetaConfig("arelu", iterations=count, test_tasks=1, mode=mode), train_data, test_data, device)
        out[mode] = {"iterations": count, "train_seconds": result["train_seconds"],
                     "seconds_per_100": result["train_seconds"] * 100 / count}
    out["looped_vs_vectorised"] = out["looped"]["seconds_per_100"] / out["vectorised"]["seconds_per_100"]
    if verbose:
        print(f"[maml] 5-way 1-shot MAML, AReLU, 32 tasks x 5 inner steps, second order, {out['device']}, "
              f"{out['threads']} threads")
        for mode in ("vectorised", "looped"):
            r = out[mode]
            print(f"  {mode:<11} {r['train_seconds']:7.1f} s for {r['iterations']} iterations"
                  f"  -> {r['seconds_per_100']:6.1f} s per 100 (a run)")
    return out


def run_benchmarks(quick=False, steps=None, parts=None, data_dir=None, device="auto", verbose=True,
                   compiled=False) -> dict:
    # maml only when asked (it takes a minute); the 50 000-image epoch by default only where it is quick (CUDA)
    parts = parts or ["op", "epoch", "loader", "resnet"] + (["cifar"] if resolve_device(device).type == "cuda"
                                                            and not quick else [])
    results = {"torch_version": torch.__version__, "threads": torch.get_num_threads(), "quick": quick}
    if "op" in parts:
        results["op"] = bench_op((32, 64, 56, 56) if quick else (256, 64, 56, 56), repeats=3 if quick else 5,
                                 device=device, verbose=verbose, compiled=compiled)
    if "epoch" in parts:
        results["epoch"] = bench_epoch(data_dir, device, train_subset=10_000 if quick else None, verbose=verbose)
    if "loader" in parts:
        results["loader"] = bench_loader(data_dir, device, steps or (40 if quick else 200), verbose=verbose)
    if "resnet" in parts:
        results["resnet"] = bench_resnet(2 if quick else 5, device, verbose, compiled)
    if "cifar" in parts:
        results["cifar"] = bench_cifar_epoch(device, verbose, 1_000 if quick else 50_000)
    if "maml" in parts:
        results["maml"] = bench_maml(20 if quick else 100, 4 if quick else 10, data_dir, device, verbose)
    results["goals"] = _check_goals(results)
    if verbose:
        for goal, verdict in results["goals"].items():
            print(f"goal {goal}: {verdict}")
    return results


def _check_goals(r) -> dict:
    goals = {}
    if "op" in r:
        goals["arelu_op <= 1.5x relu"] = f"{r['op']['arelu_vs_relu']:.2f}x " + ("met" if r["op"]["arelu_vs_relu"] <= GOALS["op_ratio_max"] else "MISSED")
    if "epoch" in r:
        goals["arelu_epoch <= 1.2x relu"] = f"{r['epoch']['arelu_vs_relu']:.2f}x " + ("met" if r["epoch"]["arelu_vs_relu"] <= GOALS["epoch_ratio_max"] else "MISSED")
    if "loader" in r:
        goals["trainer >= 1.5x dataloader"] = f"{r['loader']['speedup']:.2f}x " + ("met" if r["loader"]["speedup"] >= GOALS["loader_speedup_min"] else "MISSED")
    if "resnet" in r:
        ratio = r["resnet"]["arelu_vs_relu"]
        goals["resnet18_step <= 1.15x relu"] = f"{ratio:.2f}x " + ("met" if ratio <= GOALS["resnet_ratio_max"] else "MISSED")
    if "maml" in r:
        seconds = r["maml"]["vectorised"]["seconds_per_100"]
        goals["maml_5way1shot <= 30 s per run"] = f"{seconds:.1f} s " + ("met" if seconds <= GOALS["maml_seconds_max"] else "MISSED")
    return goals
