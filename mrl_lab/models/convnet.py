"""Small, readable networks: a ResNet-9-style CIFAR encoder and an encoder + head classifier."""

from __future__ import annotations

import torch
from torch import nn

from mrl_lab.core.checks import check_callable, check_count, check_tensor

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def conv_bn(c_in: int, c_out: int, kernel: int = 3) -> nn.Sequential:
    """Convolution (3x3 by default, same size out), batch norm, GELU: the encoder's building block."""
    conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.GELU())


class Residual(nn.Module):
    """``x + f(x)`` with ``f`` two conv-bn blocks of the same width."""

    def __init__(self, channels: int):
        super().__init__()
        self.f = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    def forward(self, x):
        return x + self.f(x)


class ConvNet(nn.Module):
    """A ResNet-9-style encoder for 32x32 images (Page's DAWNBench net, as in airbench's lineage).

    uint8 images in, an ``embed_dim`` vector out. Four stages of 3x3 convolutions, ``width``,
    ``2 * width``, ``4 * width`` and ``8 * width`` channels wide, each but the first halving the
    resolution (32 -> 16 -> 8 -> 4); then a 1x1 convolution maps the last stage's channels to
    ``embed_dim`` channels, and their global max-pool is the embedding. That pooled vector is the
    representation MRL shapes (as the paper does with ResNet-50's 2048-d pooled features).

    Why the 1x1 convolution: it lets the embedding be wider than the last stage at little cost. With
    3x3 convolutions ``embed_dim`` channels wide at the end instead, that last block would hold a large
    share of the network's multiply-adds when the network is narrow and the embedding wide.

    Any image size that survives three 2x2 poolings works (e.g. 24x24 training crops): the final
    max-pool is global.

    Args:
        embed_dim: width of the embedding (the full nesting size).
        width: channels of the first stage; the next stages use 2, 4 and 8 times as many.

    Inputs / outputs:
        uint8 or float images ``(batch, 3, H, W)`` with values 0-255 -> ``(batch, embed_dim)``.

    References:
        He et al., "Deep Residual Learning for Image Recognition", 2016; Page, "How to train your
        ResNet", 2018; Jordan, "airbench", 2024.

    Example:
        >>> net = ConvNet(embed_dim=64, width=8)
        >>> net(torch.zeros(2, 3, 32, 32, dtype=torch.uint8)).shape
        torch.Size([2, 64])
    """

    def __init__(self, embed_dim: int = 256, width: int = 64):
        super().__init__()
        self.embed_dim = check_count(embed_dim, "embed_dim", "ConvNet")
        check_count(width, "width", "ConvNet")
        self.register_buffer("mean", torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(CIFAR10_STD).view(1, 3, 1, 1) * 255)
        self.layers = nn.Sequential(
            conv_bn(3, width),  # 32x32
            conv_bn(width, 2 * width),
            nn.MaxPool2d(2),
            Residual(2 * width),  # 16x16
            conv_bn(2 * width, 4 * width),
            nn.MaxPool2d(2),
            conv_bn(4 * width, 8 * width),  # 8x8
            nn.MaxPool2d(2),
            Residual(8 * width),  # 4x4
            conv_bn(8 * width, embed_dim, kernel=1),  # mixes the channels into the embedding's coordinates
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
        )

        # The input is checked by a hook that runs before forward, so that forward itself stays traceable by
        # torch.fx (mrl_lab.experiments.cifar fuses each batch norm into its convolution that way).
        self.register_forward_pre_hook(_check_images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() - self.mean) / self.std
        return self.layers(x)


def _check_images(net: ConvNet, args) -> None:
    """An error unless the images are ``(batch, 3, H, W)``, at least 8x8 (each of three 2x2 poolings halves them)."""
    images = check_tensor(args[0], "ConvNet: images", ("batch", 3, "H", "W"))
    if min(images.shape[2:]) < 8:
        raise ValueError(f"ConvNet: images are {tuple(images.shape[2:])} pixels; it needs at least 8x8")


class Classifier(nn.Module):
    """An encoder followed by a head: ``head(encoder(x))``; ``embed(x)`` stops at the encoder.

    With an :class:`MRLHead` of several sizes this is an MRL model; with ``dims=[embed_dim]`` it is
    the ordinary ("normal") model; with ``dims=[d]`` (one classifier reading the first ``d`` features of the
    full-width encoder) it is one of the paper's separately trained fixed-feature models.

    Example:
        >>> from mrl_lab.core import MRLHead
        >>> model = Classifier(ConvNet(64, width=8), MRLHead(64, 10, [8, 16, 32, 64]))
        >>> [tuple(l.shape) for l in model(torch.zeros(2, 3, 32, 32))]
        [(2, 10), (2, 10), (2, 10), (2, 10)]
    """

    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder = check_callable(encoder, "encoder", "Classifier", "ConvNet(64)")
        self.head = check_callable(head, "head", "Classifier", "MRLHead(64, 10, [8, 16, 32, 64])")

    def forward(self, x):
        return self.head(self.encoder(x))
