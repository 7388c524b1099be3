"""The one trainer the CLI, the app and the benchmarks share.

MNIST lives in memory on the training device; each epoch is a seeded permutation sliced into
batches, so there is no DataLoader and no per-sample PIL work. Progress goes to a callback as
plain dicts (easy to chart, to queue between threads and to dump as JSON):

    {"kind": "ready"}                                              (data loaded, model built: steps follow;
                                                                    a race's jobs are held here to start together)
    {"kind": "step",      "epoch", "step", "loss"}
    {"kind": "params",    "epoch", "step", "layers": [{"alpha": .., "beta": ..}, ...]}
    {"kind": "live_eval", "epoch", "step", "accuracy"}            (fixed test subset, optional)
    {"kind": "epoch",     "epoch", "step", "test_accuracy", "seconds", "samples_per_second", "train_loss"}
    {"kind": "end",       "status", "message"}
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from .activations import activation_info, check_params
from .activations.compiled import COMPILE_CHOICES, compile_pays, use_compiled
from .data import DatasetTensors, dataset_info, load_dataset
from .errors import ConfigError
from .deep_networks import create_network, network_info
from .network import MNISTConv, accuracy

OPTIMIZERS = ("sgd", "adam")


@dataclass
class TrainConfig:
    activation: str = "arelu"
    activation_params: dict = field(default_factory=dict)   # e.g. {"alpha": 0.9, "beta": 2.0}
    optimizer: str = "sgd"          # "sgd" (momentum 0.9) or "adam"
    lr: float = 1e-3
    batch_size: int = 128
    epochs: int = 1
    seed: int = 0
    device: str = "auto"            # "auto" (CUDA when available), "cpu", "cuda"
    data_dir: str | None = None
    train_subset: int | None = None  # first N training digits (quick demos and tests)
    test_subset: int | None = None   # epoch accuracy on the first N test digits (None: all 10 000)
    live_eval_every: int = 0         # steps between accuracy checks on a fixed test subset (0: off)
    live_eval_size: int = 1000
    params_every: int = 10           # steps between alpha/beta reports
    momentum: float = 0.9
    compile: str = "auto"            # AReLU/ELSA through torch.compile: "on", "off", or "auto" (where it pays)
    dataset: str = "mnist"           # a key of arelu_core.data.DATASETS (the network's input and classes follow it)
    # Deep networks (issue 12): deep_recipe() gives the paper's CIFAR-100 settings for them.
    network: str = "mnist-conv"      # a key of deep_networks.list_networks()
    width: float = 1.0               # channel multiplier of the deep networks (1: the published widths)
    weight_decay: float = 0.0
    augment: bool = False            # random crop (padding size/8) + horizontal flip, per batch on the device
    amp: str = "auto"                # mixed precision (bfloat16) + channels-last: "auto" = deep network on CUDA

    def validate(self) -> "TrainConfig":
        # The activation's own rules (activations/registry.py): which parameters, and their start ranges.
        self.activation_params = check_params(self.activation, self.activation_params, training=True)
        self.dataset = dataset_info(self.dataset).key
        self.network = network_info(self.network).key
        if not (isinstance(self.width, (int, float)) and math.isfinite(self.width) and 0 < self.width <= 4):
            raise ConfigError(f"width must be a number in (0, 4], got {self.width}")
        if not (isinstance(self.weight_decay, (int, float)) and math.isfinite(self.weight_decay)
                and self.weight_decay >= 0):
            raise ConfigError(f"weight decay must be a non-negative number, got {self.weight_decay}")
        self.amp = str(self.amp).lower()
        if self.amp not in COMPILE_CHOICES:
            raise ConfigError(f"amp must be one of {', '.join(COMPILE_CHOICES)}, got {self.amp!r}")
        self.optimizer = str(self.optimizer).lower()
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose sgd or adam")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"learning rate must be a positive number, got {self.lr}")
        for name in ("batch_size", "epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name.replace('_', ' ')} must be a positive integer, got {value}")
        for name in ("train_subset", "test_subset"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name.replace('_', ' ')} must be a positive integer, got {value}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        self.compile = str(self.compile).lower()
        if self.compile not in COMPILE_CHOICES:
            raise ConfigError(f"compile must be one of {', '.join(COMPILE_CHOICES)}, got {self.compile!r}")
        resolve_device(self.device)
        return self


# The paper's Fig. 4 recipe (reference section "Figure 4"): the deep networks' defaults.
DEEP_RECIPE = {"optimizer": "sgd", "lr": 0.1, "batch_size": 64, "weight_decay": 5e-4, "momentum": 0.9,
               "augment": True}


def deep_recipe(network: str = "resnet18", **overrides) -> TrainConfig:
    """A TrainConfig with the paper's deep-network settings (MNIST-Conv keeps its own defaults)."""
    base = DEEP_RECIPE if network_info(network).deep else {}
    return TrainConfig(network=network, **{**base, **overrides})


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    name = str(device).lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' asked for, but no CUDA GPU is available here; use --device cpu or auto")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r}; choose auto, cpu or cuda") from None


def disable_tf32() -> bool:
    """Reproductions compute float32 as float32: TF32 off for CUDA matmuls and cuDNN convolutions (cuDNN's
    default is on, which rounds a convolution's inputs to 10 mantissa bits on Ampere and later), so GPU and
    CPU runs are comparable. Returns the setting now in force (False), what every run record stores as "tf32"."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return tf32_enabled()


def tf32_enabled() -> bool:
    """Whether CUDA may use TF32 for float32 matmuls or convolutions in this process (no effect on a CPU)."""
    return bool(torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32)


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


@dataclass
class TrainResult:
    config: TrainConfig
    model: MNISTConv
    status: str                    # "finished" | "stopped" | "diverged"
    message: str
    device: str
    epoch_accuracies: list[float]
    epoch_seconds: list[float]
    samples_per_second: float
    steps: int
    losses: list[float]
    params_trace: list[dict]       # {"step", "layers"} as in the "params" events
    live_evals: list[dict]         # {"step", "accuracy"}
    compiled: bool = False         # AReLU/ELSA ran through torch.compile
    amp: bool = False              # bfloat16 autocast + channels-last (deep networks on CUDA)
    epoch_parameters: list = field(default_factory=list)  # activation_parameters() at the start and after
                                                           # each epoch ([] for an activation without any)
    wall_seconds: float = 0.0      # the whole call: data, model, training and evaluation

    @property
    def test_accuracy(self) -> float | None:
        return self.epoch_accuracies[-1] if self.epoch_accuracies else None

    def summary(self) -> dict:
        """JSON-ready figures (the CLI's --json line)."""
        return {"status": self.status, "message": self.message, "activation": self.config.activation,
                "config": asdict(self.config), "device": self.device, "test_accuracy": self.test_accuracy,
                "epoch_accuracies": self.epoch_accuracies, "epoch_seconds": self.epoch_seconds,
                "samples_per_second": self.samples_per_second, "steps": self.steps,
                "final_loss": self.losses[-1] if self.losses else None, "compiled": self.compiled, "amp": self.amp,
                "activation_parameters": self.model.activation_parameters()}


def make_model(config: TrainConfig):
    """The untrained network for a config: its input channels and classes follow the dataset."""
    info = dataset_info(config.dataset)
    return create_network(config.network, config.activation, info.channels, info.num_classes,
                          width=config.width, **config.activation_params)


def make_optimizer(config: TrainConfig, params):
    """The one optimizer factory (the batched reproduction stacks G models' parameters into one)."""
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def use_amp(config: TrainConfig, device: torch.device) -> bool:
    """bfloat16 autocast + channels-last: pays for the deep networks' convolutions on CUDA (tensor cores);
    MNIST-Conv is too small to gain, and the CPU has no fast bfloat16 convolutions here."""
    if config.amp == "auto":
        return device.type == "cuda" and network_info(config.network).deep
    return config.amp == "on" and device.type == "cuda"


def augment_batch(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop after zero-padding by size/8 pixels (4 for 32x32) and a random horizontal flip,
    per image, in one gather on the images' device. Draws come from a CPU generator, so a seed gives
    the same crops on every device (and in a Ray worker)."""
    n, _, h, w = images.shape
    pad = max(1, h // 8)
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator).to(images.device)
    flips = (torch.rand(n, generator=generator) < 0.5).to(images.device)
    padded = F.pad(images, (pad, pad, pad, pad))
    rows = (offsets[:, 0, None] + torch.arange(h, device=images.device))[:, None, :, None]
    cols = torch.arange(w, device=images.device).expand(n, w)
    cols = torch.where(flips[:, None], cols.flip(1), cols) + offsets[:, 1, None]
    batch = torch.arange(n, device=images.device)[:, None, None, None]
    channel = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    return padded[batch, channel, rows, cols[:, None, None, :]]


def warm_up(model: torch.nn.Module, inputs: torch.Tensor, autocast, amp: bool) -> None:
    """One forward and backward pass on a batch before the first step, so what compiles on first use does so
    before "ready": AReLU's Numba kernels took about 6 s in a fresh worker, which made it start its race that
    much after ReLU (tests/test_races.py) and charged it to its first epoch's time. In eval mode with the
    gradients dropped: weights, BatchNorm statistics, optimizer and random state stay as they were."""
    was_training = model.training
    model.eval()
    if amp:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    with autocast():
        model(inputs).float().sum().backward()
    model.zero_grad(set_to_none=True)
    model.train(was_training)


def train(config: TrainConfig, callback: Callable[[dict], None] | None = None,
          should_stop: Callable[[], bool] | None = None,
          train_data: DatasetTensors | None = None, test_data: DatasetTensors | None = None) -> TrainResult:
    """Train config.network on config.dataset. `should_stop()` is polled every step (cooperative stop).

    Deterministic on the CPU for a given seed: the seed fixes the initial weights, RReLU's noise
    and the batch order.
    """
    started_call = time.perf_counter()
    config.validate()
    emit = callback or (lambda event: None)
    device = resolve_device(config.device)
    info = dataset_info(config.dataset)
    train_data = (train_data or load_dataset(info.key, True, config.data_dir, device)).subset(config.train_subset)
    test_data = (test_data or load_dataset(info.key, False, config.data_dir, device)).subset(config.test_subset)
    train_images, train_labels = train_data.images.to(device), train_data.labels.to(device)
    test_images, test_labels = test_data.images.to(device), test_data.labels.to(device)
    live_images, live_labels = test_images[:config.live_eval_size], test_labels[:config.live_eval_size]

    torch.manual_seed(config.seed)
    model = make_model(config).to(device)
    amp = use_amp(config, device)
    if amp:
        model = model.to(memory_format=torch.channels_last)
    autocast = lambda: torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp)  # noqa: E731
    eval_batch = 500 if network_info(config.network).deep else 2000
    crops = torch.Generator().manual_seed(config.seed + 1)
    planned_steps = -(-len(train_images) // config.batch_size) * config.epochs
    if config.compile == "on" or (config.compile == "auto" and compile_pays(device, planned_steps)):
        compiled = use_compiled(model) > 0       # False for activations without an AReLU/ELSA term
    else:
        compiled = False
    optimizer = make_optimizer(config, model.parameters())
    order = torch.Generator().manual_seed(config.seed)
    has_params = any(model.activation_parameters())

    status, message = "finished", "training finished"
    losses, params_trace, live_evals = [], [], []
    epoch_parameters = [model.activation_parameters()] if has_params else []
    epoch_accuracies, epoch_seconds, train_seconds, step, samples = [], [], 0.0, 0, 0

    def report_params():
        if has_params:
            layers = model.activation_parameters()
            params_trace.append({"step": step, "layers": layers})
            emit({"kind": "params", "epoch": epoch, "step": step, "layers": layers})

    warm_up(model, train_images[:config.batch_size], autocast, amp)
    emit({"kind": "ready"})
    epoch = 0
    report_params()
    for epoch in range(1, config.epochs + 1):
        model.train()
        started = time.perf_counter()
        eval_time, epoch_loss, epoch_steps, epoch_samples = 0.0, 0.0, 0, 0
        permutation = torch.randperm(len(train_labels), generator=order).to(device)
        for batch in permutation.split(config.batch_size):
            if should_stop and should_stop():
                status, message = "stopped", f"stopped by request at step {step}"
                break
            inputs = train_images[batch]
            if config.augment:
                inputs = augment_batch(inputs, crops)
            if amp:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            with autocast():
                loss = F.nll_loss(model(inputs), train_labels[batch])
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                status = "diverged"
                message = (f"loss became {loss_value} at step {step + 1} (epoch {epoch}); "
                           f"the learning rate {config.lr:g} is too large for {activation_info(config.activation).name}")
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            epoch_steps += 1
            epoch_samples += len(batch)
            epoch_loss += loss_value
            losses.append(loss_value)
            emit({"kind": "step", "epoch": epoch, "step": step, "loss": loss_value})
            if config.params_every and step % config.params_every == 0:
                report_params()
            if config.live_eval_every and step % config.live_eval_every == 0:
                tick = time.perf_counter()
                with autocast():
                    live = accuracy(model, live_images, live_labels, eval_batch)
                eval_time += time.perf_counter() - tick
                live_evals.append({"step": step, "accuracy": live})
                emit({"kind": "live_eval", "epoch": epoch, "step": step, "accuracy": live})
        seconds = time.perf_counter() - started - eval_time
        train_seconds += seconds
        samples += epoch_samples
        if status != "finished":
            break
        with autocast():
            test_acc = accuracy(model, test_images, test_labels, eval_batch)
        epoch_accuracies.append(test_acc)
        epoch_seconds.append(seconds)
        if has_params:
            epoch_parameters.append(model.activation_parameters())
        report_params()
        emit({"kind": "epoch", "epoch": epoch, "step": step, "test_accuracy": test_acc, "seconds": seconds,
              "samples_per_second": epoch_samples / seconds,
              "train_loss": epoch_loss / max(epoch_steps, 1)})
    emit({"kind": "end", "status": status, "message": message})
    return TrainResult(config=config, model=model.eval(), status=status, message=message,
                       device=device_label(device), epoch_accuracies=epoch_accuracies,
                       epoch_seconds=epoch_seconds,
                       samples_per_second=samples / train_seconds if train_seconds > 0 else 0.0,
                       steps=step, losses=losses, params_trace=params_trace, live_evals=live_evals,
                       compiled=compiled, amp=amp, epoch_parameters=epoch_parameters,
                       wall_seconds=time.perf_counter() - started_call)
