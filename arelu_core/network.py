"""MNIST-Conv, the paper's test network (reference section 2).

    conv 1->10 k5 (28->24) -> maxpool 2 (->12) -> activation
    conv 10->20 k5 (12->8) -> maxpool 2 (->4)  -> activation
    conv 20->40 k3 (4->2)  -> maxpool 2 (->1)  -> activation
    flatten 40 -> Linear(40, 10) -> log-softmax

The activation sits after each pooling layer. An activation that pools channels (Maxout, with
`channel_multiplier` k) gets k times the conv outputs, so every block still hands on 10/20/40.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .activations import create_activation

CHANNELS = (10, 20, 40)
KERNELS = (5, 5, 3)


class Block(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel: int, activation: nn.Module):
        super().__init__()
        multiplier = getattr(activation, "channel_multiplier", 1)
        self.conv = nn.Conv2d(in_channels, out_channels * multiplier, kernel)
        self.pool = nn.MaxPool2d(2)
        self.act = activation

    def forward(self, x):
        """(pre, post): the maps before the activation (after max-pooling) and after it."""
        pre = self.pool(self.conv(x))
        return pre, self.act(pre)


class MNISTConv(nn.Module):
    def __init__(self, activation: str = "relu", in_channels: int = 1, num_classes: int = 10, **activation_params):
        super().__init__()
        self.activation_name = activation
        self.activation_params = dict(activation_params)
        self.in_channels, self.num_classes = in_channels, num_classes
        blocks = []
        for out_channels, kernel in zip(CHANNELS, KERNELS):
            act = create_activation(activation, **activation_params)
            blocks.append(Block(in_channels, out_channels, kernel, act))
            in_channels = out_channels
        self.blocks = nn.ModuleList(blocks)
        self.classifier = nn.Linear(CHANNELS[-1], num_classes)

    def logits_and_features(self, x):
        """The one forward pass: class scores before softmax and, per block, {"pre", "post"} maps."""
        features = []
        for block in self.blocks:
            pre, x = block(x)
            features.append({"pre": pre, "post": x})
        return self.classifier(x.flatten(1)), features

    def logits(self, x):
        """Class scores before softmax (what CAMs explain: d log p / d z vanishes for a sure prediction)."""
        return self.logits_and_features(x)[0]

    def forward(self, x):
        return F.log_softmax(self.logits(x), dim=1)

    def forward_features(self, x):
        """Log-probabilities and, per block, the pre-activation (after pooling) and post-activation maps."""
        logits, features = self.logits_and_features(x)
        return F.log_softmax(logits, dim=1), features

    def feature_layers(self) -> list[dict[str, nn.Module]]:
        """Per block, the modules whose outputs forward_features reports as "pre" and "post" (CAM hooks)."""
        return [{"pre": block.pool, "post": block.act} for block in self.blocks]

    def activation_parameters(self) -> list[dict[str, float]]:
        """The scalar learnable parameters (alpha, beta, ...) of each block's activation."""
        return [{name: p.item() for name, p in block.act.named_parameters() if p.numel() == 1}
                for block in self.blocks]


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 2000) -> float:
    """Top-1 accuracy in percent, in eval mode (RReLU uses its mean slope)."""
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = model(images[start:start + batch_size])
        correct += (logits.argmax(1) == labels[start:start + batch_size]).sum().item()
    model.train(was_training)
    return 100.0 * correct / max(len(images), 1)
