"""Deep CIFAR networks (the paper's Fig. 4 and Fig. 5) built from timm, any registry activation at every site.

    create_network("resnet18", "arelu", in_channels=3, num_classes=100, width=0.5)
    list_networks()  -> ["mnist-conv", "resnet18", "seresnet18", "vgg16", "densenet121", "mobilenetv2"]

The five deep ones: ResNet-18 and SE-ResNet-18 (the paper names these two), plus VGG-16 (with
BatchNorm), DenseNet-121 and MobileNetV2: the other standard CIFAR baselines of the pytorch-cifar /
pytorch-cifar100 collections (a plain deep stack, dense connectivity, depthwise-separable inverted
residuals: three designs unlike ResNet's). timm builds them; we give each a CIFAR stem (3x3 conv,
stride 1, no max-pool) so a 32x32 (or 28x28) image is not shrunk 4x before the first stage.

timm calls `act_layer(...)` once per activation site (sometimes with inplace=True): our factory
ignores those arguments and builds a fresh registry module each time, so every site has its own
alpha, beta (or PAU coefficients, PReLU slope). In SE-ResNet the squeeze-excitation's hidden
activation is a site too (its gate stays a sigmoid).

`width` scales every channel count (1.0 = the published networks), so a shipped checkpoint can stay
small: ResNet-18 at width 0.375 is 1.6 M parameters (6 MB) instead of 11 M.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .activations import activation_info, create_activation
from .errors import ConfigError


@dataclass(frozen=True)
class NetworkInfo:
    key: str
    name: str
    builder: Callable[..., nn.Module] | None   # (act_layer, in_channels, num_classes, width) -> timm model
    note: str
    deep: bool = True


def _scaled(channels, width: float) -> tuple[int, ...]:
    return tuple(max(4, int(round(c * width))) for c in channels)


def _cifar_resnet(act_layer, in_channels, num_classes, width, se=False):
    from timm.layers import SEModule
    from timm.models.resnet import BasicBlock, ResNet
    block_args = dict(attn_layer=partial(SEModule, act_layer=act_layer)) if se else None
    channels = _scaled((64, 128, 256, 512), width)
    # timm sizes its plain stem at 64 channels whatever the width; its "deep" stem is 2 x stem_width
    # wide. We take the latter's sizing and put the CIFAR stem in its place (one 3x3 conv, stride 1).
    model = ResNet(BasicBlock, (2, 2, 2, 2), num_classes=num_classes, in_chans=in_channels, channels=channels,
                   stem_type="deep", stem_width=channels[0] // 2, act_layer=act_layer, block_args=block_args,
                   zero_init_last=False)   # as the CIFAR ResNets (pytorch-cifar100): no zero-gamma residual branches
    model.conv1 = nn.Conv2d(in_channels, channels[0], 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _cifar_vgg16(act_layer, in_channels, num_classes, width):
    from timm.layers import ClassifierHead
    from timm.models.vgg import VGG
    cfg = [v if v == "M" else _scaled((v,), width)[0] for v in VGG16_CFG]
    # timm's ImageNet head is a 7x7 conv MLP to 4096 features (100 M weights); the CIFAR VGG has a
    # single linear layer on the 512 pooled features. A tiny mlp_ratio keeps the throw-away head cheap.
    model = VGG(cfg, num_classes=num_classes, in_chans=in_channels, act_layer=act_layer,
                norm_layer=nn.BatchNorm2d, mlp_ratio=1 / 4096)
    # The fifth max-pool takes a 32x32 input's 2x2 map to 1x1; a 28x28 (Fashion-MNIST) input reaches it at
    # 1x1 and a plain pool would leave nothing. An adaptive max-pool to 1x1 is the same op at 32x32.
    last_pool = max(i for i, m in enumerate(model.features) if isinstance(m, nn.MaxPool2d))
    model.features[last_pool] = nn.AdaptiveMaxPool2d(1)
    model.pre_logits = nn.Identity()
    model.head = ClassifierHead(cfg[-2], num_classes, pool_type="avg")
    model.num_features = cfg[-2]
    return model


def _cifar_densenet121(act_layer, in_channels, num_classes, width):
    from timm.models.densenet import DenseNet
    growth = max(4, int(round(32 * width)))
    model = DenseNet(growth_rate=growth, block_config=(6, 12, 24, 16), num_classes=num_classes,
                     in_chans=in_channels, act_layer=act_layer)
    model.features.conv0 = nn.Conv2d(in_channels, 2 * growth, 3, stride=1, padding=1, bias=False)
    model.features.pool0 = nn.Identity()
    return model


def _cifar_mobilenetv2(act_layer, in_channels, num_classes, width):
    from timm.models.efficientnet import _gen_mobilenet_v2
    model = _gen_mobilenet_v2("mobilenetv2_100", channel_multiplier=width, num_classes=num_classes,
                              in_chans=in_channels, act_layer=act_layer, pretrained=False)
    stem = model.conv_stem
    model.conv_stem = nn.Conv2d(in_channels, stem.out_channels, 3, stride=1, padding=1, bias=False)
    # As the CIFAR MobileNetV2 (kuangliu/pytorch-cifar): the second stage keeps the resolution too,
    # so a 32x32 input ends at 4x4 rather than 1x1.
    model.blocks[1][0].conv_dw.stride = (1, 1)
    return model


NETWORKS: dict[str, NetworkInfo] = {n.key: n for n in (
    NetworkInfo("mnist-conv", "MNIST-Conv", None, "the paper's 3-block test network (Table 1)", deep=False),
    NetworkInfo("resnet18", "ResNet-18", partial(_cifar_resnet, se=False), "the paper's Fig. 4 and Fig. 5 network"),
    NetworkInfo("seresnet18", "SE-ResNet-18", partial(_cifar_resnet, se=True), "ResNet-18 with squeeze-excitation (Fig. 4)"),
    NetworkInfo("vgg16", "VGG-16 (BN)", _cifar_vgg16, "a plain 13-conv stack with BatchNorm, linear head"),
    NetworkInfo("densenet121", "DenseNet-121", _cifar_densenet121, "dense connectivity, growth rate 32"),
    NetworkInfo("mobilenetv2", "MobileNetV2", _cifar_mobilenetv2, "depthwise-separable inverted residuals"),
)}
DEEP_NETWORKS = tuple(k for k, n in NETWORKS.items() if n.deep)


def list_networks(deep_only: bool = False) -> list[str]:
    return [k for k, n in NETWORKS.items() if n.deep or not deep_only]


def network_info(name: str) -> NetworkInfo:
    key = str(name).strip().lower().replace("_", "-")
    key = {"resnet-18": "resnet18", "se-resnet18": "seresnet18", "se-resnet-18": "seresnet18",
           "vgg-16": "vgg16", "densenet-121": "densenet121", "mobilenet-v2": "mobilenetv2",
           "mnistconv": "mnist-conv"}.get(key, key)
    if key not in NETWORKS:
        raise ConfigError(f"unknown network {name!r}; choose one of: {', '.join(NETWORKS)}")
    return NETWORKS[key]


def _site(activation: str, params: dict, *timm_args, **timm_kwargs) -> nn.Module:
    """timm's act_layer (bound with partial, a type timm's norm-act layers accept): a fresh registry
    activation per call, i.e. per site; timm's own arguments (inplace=True) do not apply to ours."""
    module = create_activation(activation, **params)
    module.arelu_site = True       # how activation_modules() tells our sites from timm's own gates
    return module


class DeepNetwork(nn.Module):
    """A timm CIFAR network with the MNISTConv contract: forward -> log-probs, activation_parameters()."""

    def __init__(self, network: str, activation: str = "relu", in_channels: int = 3, num_classes: int = 100,
                 width: float = 1.0, **activation_params):
        super().__init__()
        info = network_info(network)
        if not info.deep:
            raise ConfigError(f"{info.name} is not a deep network; use create_network")
        if not (isinstance(width, (int, float)) and math.isfinite(width) and 0 < width <= 4):
            raise ConfigError(f"width must be a number in (0, 4], got {width!r}")
        if getattr(create_activation(activation, **activation_params), "channel_multiplier", 1) != 1:
            raise ConfigError(f"{activation_info(activation).name} changes the channel count; "
                              f"the deep networks take element-wise activations only")
        act_layer = partial(_site, activation, dict(activation_params))
        self.net = info.builder(act_layer, in_channels, num_classes, float(width))
        self.network_name, self.width = info.key, float(width)
        self.sites = len(self.activation_modules())
        self.activation_name, self.activation_params = activation, dict(activation_params)
        self.in_channels, self.num_classes = in_channels, num_classes

    def logits(self, x):
        """Class scores before softmax (what CAMs and their metrics explain), as MNISTConv.logits."""
        return self.net(x).float()

    def forward(self, x):
        return F.log_softmax(self.logits(x), dim=1)

    def activation_modules(self) -> list[tuple[str, nn.Module]]:
        """(qualified name, module) of every activation site, in forward order of construction."""
        return [(n, m) for n, m in self.net.named_modules() if getattr(m, "arelu_site", False)]

    def activation_parameters(self) -> list[dict[str, float]]:
        """Scalar learnable parameters (alpha, beta, ...) of each site; [] for a fixed activation."""
        layers = [{name: p.item() for name, p in m.named_parameters() if p.numel() == 1}
                  for _, m in self.activation_modules()]
        return layers if any(layers) else []

    def stages(self) -> list[tuple[str, nn.Module]]:
        """(label, module) whose outputs are the maps Grad-CAM looks at: the first layer, then each stage."""
        n = self.net
        if self.network_name in ("resnet18", "seresnet18"):
            return [("first layer", n.act1)] + [(f"stage {i}", getattr(n, f"layer{i}")) for i in range(1, 5)]
        if self.network_name == "vgg16":
            acts = [m for m in n.features if getattr(m, "arelu_site", False)]
            ends = [i for i, m in enumerate(n.features) if isinstance(m, (nn.MaxPool2d, nn.AdaptiveMaxPool2d))]
            return [("first layer", acts[0])] + [(f"stage {k + 1}", n.features[i - 1]) for k, i in enumerate(ends)]
        if self.network_name == "densenet121":
            f = n.features
            return [("first layer", f.norm0)] + [(f"stage {i}", getattr(f, f"denseblock{i}")) for i in range(1, 5)]
        return [("first layer", n.bn1)] + [(f"stage {i}", b) for i, b in enumerate(n.blocks, start=1)]


def create_network(name: str, activation: str = "relu", in_channels: int = 1, num_classes: int = 10,
                   width: float = 1.0, **activation_params) -> nn.Module:
    """Any network of list_networks() with `activation` at every site (MNIST-Conv ignores width)."""
    info = network_info(name)
    if not info.deep:
        from .network import MNISTConv
        return MNISTConv(activation, in_channels=in_channels, num_classes=num_classes, **activation_params)
    return DeepNetwork(info.key, activation, in_channels, num_classes, width, **activation_params)


def network_table(activations: list[str], in_channels: int = 3, num_classes: int = 100, width: float = 1.0) -> list[dict]:
    """Per network: activation sites and parameter count with each activation.

    The weights are counted on the ReLU network built on the meta device (shapes only, no
    initialisation), plus, per site, the parameters of one built activation (PAU fits its
    coefficients when built: that needs a real device)."""
    per_site = {a: sum(p.numel() for p in create_activation(a).parameters()) for a in activations}
    rows = []
    for key in list_networks():
        with torch.device("meta"):
            model = create_network(key, "relu", in_channels, num_classes, width)
        base = sum(p.numel() for p in model.parameters())
        sites = model.sites if isinstance(model, DeepNetwork) else len(model.blocks)
        rows.append({"key": key, "name": NETWORKS[key].name, "sites": sites, "note": NETWORKS[key].note,
                     "parameters": {a: base + sites * n for a, n in per_site.items()}})
    return rows
