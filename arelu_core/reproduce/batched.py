"""Train a group of MNIST-Conv models as one computation (the reproduction's speed-up).

G runs (TrainConfigs) that share a schedule, everything but activation, its parameters and seed,
become one network:

    conv     grouped convolution, groups=G: input channel g carries model g's own batch
             (images[perm_g[batch]]), so every model keeps its seed's batch order
    classify batched linear (einsum over [B, G, 40] x [G, 10, 40])
    act      per model, on its channel slice: AReLU / ELSA's attention term vectorised with
             per-model alpha, beta tensors; fixed activations once over the whole tensor;
             other learnable ones through torch.func.vmap(functional_call) over stacked params
    loss     sum of the per-model NLL means

The parameters of different models never meet, so each model's gradient is exactly what it
would get alone, and SGD-momentum and Adam are element-wise, so one optimizer over the stacked
parameters is G separate optimizers. Each model starts from the very weights MNISTConv gets after
torch.manual_seed(seed), as trainer.train does: batched and sequential runs of a seed agree up to
floating-point summation order (and RReLU's noise, which is drawn differently).
A model whose loss goes non-finite is marked diverged and frozen at zero; the others go on.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from ..activations.arelu import AReLU, attention_inputs
from ..activations.elsa import ELSA
from ..data import MNISTTensors, dataset_info
from ..network import CHANNELS, MNISTConv
from ..trainer import TrainConfig, TrainResult, device_label, make_optimizer
from ._group_kernels import group_sign_scale

# On the CPU, oneDNN's grouped convolutions and max-pooling are markedly faster channels-last
# (scripts/bench_reproduce.py measures it; docs/ARCHITECTURE.md has one machine's figures);
# CUDA keeps the default layout.
CHANNELS_LAST = True


PER_MODEL = ("activation", "activation_params", "seed")


class _ChannelsLastGrad(torch.autograd.Function):
    """Identity whose backward hands the gradient on channels-last. Max-pooling's backward on a
    channels-last input converts a gradient in the default layout (what cat, vmap and the classifier's
    reshape give back) with full copies: a third of a mixed group's step (the layout fix measured in
    docs/ARCHITECTURE.md, "Notes on measurements")."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return g.contiguous(memory_format=torch.channels_last)


def schedule(config: TrainConfig) -> tuple:
    """Runs with equal schedules can share one batched computation: everything but what is per model."""
    return tuple((k, repr(v)) for k, v in sorted(asdict(config).items()) if k not in PER_MODEL)


# Measured on 2 CPU cores (scripts/bench_reproduce.py, AReLU, one MNIST epoch per model): 3.6 s per
# model in groups of 5, 4.7 s in groups of 10, 5.5 s one at a time. On a GPU, larger groups pay.
DEFAULT_GROUP_SIZE = 5


def make_groups(specs: list[TrainConfig], group_size: int) -> list[list[TrainConfig]]:
    """Consecutive runs of one activation and schedule share a group of at most group_size.

    train_group also takes mixed activations, but on the CPU one activation per group was faster
    (measured: 14 ms per model-step for 4 ReLU or 4 PReLU models, 18 for 2 + 2).
    """
    groups: list[list[TrainConfig]] = []
    last = None
    for spec in specs:
        key = (schedule(spec), spec.activation)
        if key != last or len(groups[-1]) >= group_size:
            groups.append([])
            last = key
        groups[-1].append(spec)
    return groups


# ---------------------------------------------------------------- per-model activations

class _Segment(nn.Module):
    """n consecutive models sharing one activation type: applies it to their slice [B, n, C, ...]."""

    def __init__(self, acts: list[nn.Module]):
        super().__init__()
        first = acts[0]
        self.n = len(acts)
        self.sign_offset = None
        if isinstance(first, (AReLU, ELSA)):
            # AReLU and ELSA's attention term: vectorised over the models' (alpha, beta).
            self.sign_offset = 1.0 if isinstance(first, AReLU) else 0.0
            self.learn = first.learn       # one segment, one `learn` (it is part of _segment_key)
            self.alpha = nn.Parameter(torch.stack([a.alpha.detach() for a in acts]), requires_grad=first.alpha.requires_grad)
            self.beta = nn.Parameter(torch.stack([a.beta.detach() for a in acts]), requires_grad=first.beta.requires_grad)
            bases = [a.base for a in acts] if isinstance(first, ELSA) else None
            self.base = _Segment(bases) if bases else None
            return
        self.names = [name for name, _ in first.named_parameters()]
        if not self.names:
            self.fixed = first          # registered: train()/eval() reaches RReLU
            return
        # Other learnable activations: one vmap over the stacked per-model parameters.
        self.template = (first,)        # a tuple hides it from the module tree (its own params stay out)
        self.stacked = nn.ParameterList(
            [nn.Parameter(torch.stack([a.get_parameter(name).detach() for a in acts])) for name in self.names])

    def forward(self, x):  # x: [B, n, C, H, W]
        if self.sign_offset is not None:
            alpha, beta = attention_inputs(self.alpha, self.beta, self.learn)   # frozen ones: no gradient
            if self.base is None:
                return group_sign_scale(x, alpha, beta, self.sign_offset)
            out = self.base(x)
            attend_to = out if out.shape != x.shape else x   # as ELSA does for Maxout
            return out + group_sign_scale(attend_to, alpha, beta, 0.0)
        if not self.names:
            return self.fixed(x.flatten(1, 2)).unflatten(1, (self.n, -1))  # channel-local: Maxout stays in its slice
        params = dict(zip(self.names, self.stacked))
        return vmap(lambda p, xs: functional_call(self.template[0], p, (xs,)), in_dims=(0, 1), out_dims=1)(params, x)

    def values(self) -> list[dict[str, float]]:
        """Per model {name: value}, named as MNISTConv.activation_parameters() names them."""
        if self.sign_offset is not None:
            base = self.base.values() if self.base is not None else [{} for _ in range(self.n)]
            return [{**{f"base.{k}": v for k, v in b.items()}, "alpha": a, "beta": c}
                    for b, a, c in zip(base, self.alpha.tolist(), self.beta.tolist())]
        if not self.names:
            return [{} for _ in range(self.n)]
        # one number per model, as activation_parameters() keeps (torch's PReLU holds its slope in shape (1,))
        columns = {name: p.reshape(self.n, -1) for name, p in zip(self.names, self.stacked)}
        columns = {name: col[:, 0].tolist() for name, col in columns.items() if col.shape[1] == 1}
        return [{name: col[g] for name, col in columns.items()} for g in range(self.n)]


def _segment_key(spec: TrainConfig, act: nn.Module):
    """Models can share a segment when they differ only in learnable parameter values."""
    learnable = {name.split(".")[-1] for name, _ in act.named_parameters()}
    config = tuple(sorted((k, repr(v)) for k, v in spec.activation_params.items() if k not in learnable))
    return spec.activation.lower(), config


class GroupActivation(nn.Module):
    def __init__(self, specs: list[TrainConfig], acts: list[nn.Module]):
        super().__init__()
        bounds, start = [], 0
        for g in range(1, len(acts) + 1):
            if g == len(acts) or _segment_key(specs[g], acts[g]) != _segment_key(specs[start], acts[start]):
                bounds.append((start, g))
                start = g
        self.bounds = bounds
        self.segments = nn.ModuleList([_Segment(acts[a:b]) for a, b in bounds])

    def forward(self, x):  # x: [B, G * C, H, W]
        channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        x = x.unflatten(1, (sum(s.n for s in self.segments), -1))
        if len(self.segments) == 1:
            out = self.segments[0](x).flatten(1, 2)
        else:
            out = torch.cat([seg(x[:, a:b]) for seg, (a, b) in zip(self.segments, self.bounds)], dim=1).flatten(1, 2)
        # cat and vmap hand back the default layout; the next convolution is much slower on that
        # than channels-last (docs/ARCHITECTURE.md, "Notes on measurements").
        return out.contiguous(memory_format=torch.channels_last) if channels_last else out

    def values(self) -> list[dict[str, float]]:
        return [v for seg in self.segments for v in seg.values()]


class GroupedMNISTConv(nn.Module):
    """G MNIST-Conv models as one network; built from (and equal to) the G given models."""

    def __init__(self, specs: list[TrainConfig], models: list[MNISTConv]):
        super().__init__()
        self.G = G = len(models)
        multipliers = {getattr(m.blocks[0].act, "channel_multiplier", 1) for m in models}
        if len(multipliers) != 1:
            raise ValueError("models in one group must have the same channel multiplier (Maxout apart)")
        self.weights, self.biases, self.acts = nn.ParameterList(), nn.ParameterList(), nn.ModuleList()
        for i in range(len(CHANNELS)):
            # Model g's conv weight [out, in, k, k] becomes rows g*out:(g+1)*out of the grouped one.
            self.weights.append(nn.Parameter(torch.cat([m.blocks[i].conv.weight.detach() for m in models])))
            self.biases.append(nn.Parameter(torch.cat([m.blocks[i].conv.bias.detach() for m in models])))
            self.acts.append(GroupActivation(specs, [m.blocks[i].act for m in models]))
        self.fc_weight = nn.Parameter(torch.stack([m.classifier.weight.detach() for m in models]))  # [G, 10, 40]
        self.fc_bias = nn.Parameter(torch.stack([m.classifier.bias.detach() for m in models]))      # [G, 10]

    def forward(self, x):
        """x: [B, G * C, H, W], channels g*C..(g+1)*C = model g's images -> log-probs [B, G, classes]."""
        channels_last = x.device.type == "cpu" and CHANNELS_LAST
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for w, b, act in zip(self.weights, self.biases, self.acts):
            pooled = F.max_pool2d(F.conv2d(x, w, b, groups=self.G), 2)
            x = act(_ChannelsLastGrad.apply(pooled) if channels_last and torch.is_grad_enabled() else pooled)
        logits = torch.einsum("bgi,goi->bgo", x.reshape(len(x), self.G, -1), self.fc_weight) + self.fc_bias
        return F.log_softmax(logits, dim=-1)

    def model_rows(self):
        """(parameter, first model, models): viewed as [models, -1], row r belongs to model first + r.

        Optimizer state tensors have the parameter's layout, so the same rows index them.
        """
        rows = [(p, 0, self.G) for p in (*self.weights, *self.biases, self.fc_weight, self.fc_bias)]
        for act in self.acts:
            for seg, (a, b) in zip(act.segments, act.bounds):
                rows += [(p, a, b - a) for p in seg.parameters()]
        return rows

    def activation_parameters(self) -> list[list[dict[str, float]]]:
        """Per model, per block: {name: value}, as MNISTConv.activation_parameters()."""
        per_block = [act.values() for act in self.acts]
        return [[per_block[i][g] for i in range(len(per_block))] for g in range(self.G)]

    @torch.no_grad()
    def copy_into(self, g: int, model: MNISTConv) -> MNISTConv:
        """Model g's trained weights into `model` (built as model g was): the inverse of __init__."""
        for i, block in enumerate(model.blocks):
            block.conv.weight.copy_(self.weights[i].reshape(self.G, *block.conv.weight.shape)[g])
            block.conv.bias.copy_(self.biases[i].reshape(self.G, -1)[g])
            for name, value in self.acts[i].values()[g].items():
                block.act.get_parameter(name).fill_(value)
        model.classifier.weight.copy_(self.fc_weight[g])
        model.classifier.bias.copy_(self.fc_bias[g])
        return model


@torch.no_grad()
def group_accuracy(net: GroupedMNISTConv, images, labels, batch_size: int = 2000) -> list[float]:
    """Each model's top-1 test accuracy (%), eval mode; every model sees the same test digits."""
    was_training = net.training
    net.eval()
    correct = torch.zeros(net.G, dtype=torch.long, device=images.device)
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].unsqueeze(1).expand(-1, net.G, -1, -1, -1).flatten(1, 2)
        pred = net(x).argmax(-1)                                    # [B, G]
        correct += (pred == labels[start:start + batch_size, None]).sum(0)
    net.train(was_training)
    return [100.0 * c / max(len(images), 1) for c in correct.tolist()]


# ---------------------------------------------------------------- training

@torch.no_grad()
def _freeze(net: GroupedMNISTConv, optimizer, g: int):
    """Zero model g's parameters, gradients and optimizer state: it no longer moves or makes NaNs."""
    for p, first, count in net.model_rows():
        if not first <= g < first + count:
            continue
        row = g - first
        p.view(count, -1)[row] = 0
        if p.grad is not None:
            p.grad.view(count, -1)[row] = 0
        for state in optimizer.state.get(p, {}).values():
            if torch.is_tensor(state) and state.shape == p.shape:
                state.view(count, -1)[row] = 0


def fresh_models(specs: list[TrainConfig], in_channels: int = 1) -> list[MNISTConv]:
    """Each run's untrained model: the weights MNISTConv gets after torch.manual_seed(its seed), as in
    trainer.train; classes from its dataset, input channels as the images have them."""
    models = []
    for s in specs:
        torch.manual_seed(s.seed)
        models.append(MNISTConv(s.activation, in_channels=in_channels,
                                num_classes=dataset_info(s.dataset).num_classes, **s.activation_params))
    return models


def train_group(specs: list[TrainConfig], train_data: MNISTTensors, test_data: MNISTTensors,
                device: torch.device | str = "cpu", progress: Callable[[int, int], None] | None = None,
                should_stop: Callable[[], bool] | None = None,
                init_models: list[MNISTConv] | None = None) -> list[TrainResult]:
    """Train the runs in `specs` (one schedule: see schedule()) together; one TrainResult per run, as
    trainer.train returns it (its model holds the trained weights; wall_seconds is the group's).

    Images may have any channel count and size that MNIST-Conv takes (Table 2: 3 x 28 x 28); the
    classes are those of specs' dataset. init_models: go on training these models (Table 2's
    fine-tuning) instead of the seeds' fresh ones."""
    specs = [spec.validate() for spec in specs]
    if len({schedule(s) for s in specs}) != 1:
        raise ValueError("a group's runs must share optimizer, lr, epochs, batch size and subset")
    device = torch.device(device)
    spec0, G = specs[0], len(specs)
    started = time.perf_counter()
    train_data, test_data = train_data.subset(spec0.train_subset), test_data.subset(spec0.test_subset)
    images, labels = train_data.images.to(device), train_data.labels.to(device)   # [N, C, H, W]
    test_images, test_labels = test_data.images.to(device), test_data.labels.to(device)

    models = list(init_models) if init_models is not None else fresh_models(specs, images.shape[1])
    net = GroupedMNISTConv(specs, models).to(device)
    optimizer = make_optimizer(spec0, net.parameters())
    orders = [torch.Generator().manual_seed(s.seed) for s in specs]
    learnable = [bool(any(layer for layer in layers)) for layers in net.activation_parameters()]

    alive, ended = [True] * G, [0] * G        # ended: steps a model trained before it diverged
    status, message = ["finished"] * G, ["training finished"] * G
    accuracy = [[] for _ in range(G)]
    snapshots = [[layers] for layers in net.activation_parameters()]
    traces = [[] for _ in range(G)]
    step_losses, epoch_seconds = [], []       # [G] tensors, read once at the end (no sync per step)
    n, step = len(labels), 0
    total = spec0.epochs * math.ceil(n / spec0.batch_size)
    alive_mask = torch.ones(G, dtype=torch.bool, device=device)
    params_every = spec0.params_every

    def trace():
        for g, layers in enumerate(net.activation_parameters()):
            if alive[g] and learnable[g]:
                traces[g].append({"step": step, "layers": layers})

    if params_every:
        trace()
    stopped = False
    for epoch in range(1, spec0.epochs + 1):
        net.train()
        epoch_started = time.perf_counter()
        perms = torch.stack([torch.randperm(n, generator=o) for o in orders]).to(device)   # [G, n]
        for batch in perms.split(spec0.batch_size, dim=1):                                # [G, B]
            if should_stop and should_stop():
                stopped = True
                break
            x = images[batch].transpose(0, 1).flatten(1, 2)       # [B, G * C, H, W]: model g's images in group g
            logp = net(x)
            y = labels[batch].T                                   # [B, G]
            losses = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).mean(0)   # [G] per-model NLL means
            finite = torch.isfinite(losses.detach())
            if not bool((finite | ~alive_mask).all()):
                for g in (~finite & alive_mask).nonzero().flatten().tolist():
                    alive[g], status[g] = False, "diverged"
                    message[g] = (f"loss became {losses[g].item()} at step {step + 1} (epoch {epoch}); the learning "
                                  f"rate {spec0.lr:g} is too large for {specs[g].activation}")
                    alive_mask[g], ended[g] = False, step
                if not any(alive):
                    break
            optimizer.zero_grad(set_to_none=True)
            # Masked sum: a diverged model's NaN gets no gradient and cannot reach the others.
            torch.where(alive_mask, losses, torch.zeros_like(losses)).sum().backward()
            for g in range(G):      # after backward: the graph still needs the old values
                if not alive[g]:
                    _freeze(net, optimizer, g)
            optimizer.step()
            step_losses.append(losses.detach())
            step += 1
            if progress:
                progress(step, total)
            if params_every and step % params_every == 0:
                trace()
        if stopped or not any(alive):
            break
        epoch_seconds.append(time.perf_counter() - epoch_started)
        accs = group_accuracy(net, test_images, test_labels)
        layers_now = net.activation_parameters()
        for g in range(G):
            if alive[g]:
                accuracy[g].append(accs[g])
                snapshots[g].append(layers_now[g])
    if stopped:
        for g in range(G):
            if alive[g]:
                status[g], message[g] = "stopped", f"stopped by request at step {step}"
    wall = time.perf_counter() - started
    losses_per_model = torch.stack(step_losses).T.tolist() if step_losses else [[] for _ in range(G)]
    ended = [step if alive[g] else ended[g] for g in range(G)]
    train_seconds = sum(epoch_seconds)
    label = device_label(device)
    return [TrainResult(config=specs[g], model=net.copy_into(g, models[g]).eval(), status=status[g], message=message[g],
                        device=label, epoch_accuracies=accuracy[g], epoch_seconds=list(epoch_seconds[:len(accuracy[g])]),
                        samples_per_second=n * len(accuracy[g]) / train_seconds if train_seconds > 0 else 0.0,
                        steps=ended[g], losses=losses_per_model[g][:ended[g]],
                        params_trace=traces[g], live_evals=[],
                        epoch_parameters=snapshots[g] if learnable[g] else [], wall_seconds=wall)
            for g in range(G)]
