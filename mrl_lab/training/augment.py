"""Augmenting image batches on their own device: random shifts, crops and flips."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mrl_lab.core.checks import check_count


def random_crop_flip(images: torch.Tensor, pad: int = 4, size: int | None = None) -> torch.Tensor:
    """Augment a batch on its own device: pad each side with ``pad`` zero pixels, cut a random
    ``size`` x ``size`` window (default: the image's own size, i.e. a random shift of up to ``pad``
    pixels) and flip it horizontally half of the time; each image is drawn independently.

    A window smaller than the image (``size=24`` on 32x32 CIFAR images) is also cheaper to train
    on: a convolutional network's cost grows with the number of pixels.

    Works on uint8 or float ``(N, C, H, W)``.

    Example:
        >>> x = torch.arange(2 * 3 * 8 * 8, dtype=torch.uint8).view(2, 3, 8, 8)
        >>> random_crop_flip(x).shape, random_crop_flip(x, pad=0, size=6).shape
        (torch.Size([2, 3, 8, 8]), torch.Size([2, 3, 6, 6]))
    """
    if images.ndim != 4:
        raise ValueError(f"random_crop_flip: images must have shape (N, C, H, W); got {tuple(images.shape)}")
    n, c, h, w = images.shape
    pad = check_count(pad, "pad", "random_crop_flip", low=0)
    size = h if size is None else size
    if not 0 < size <= min(h, w) + 2 * pad:
        raise ValueError(
            f"random_crop_flip: size={size} does not fit in {h}x{w} images padded by {pad}; "
            f"choose 1 <= size <= {min(h, w) + 2 * pad}"
        )
    padded = F.pad(images, (pad, pad, pad, pad))
    dy = torch.randint(0, h + 2 * pad - size + 1, (n, 1), device=images.device)
    dx = torch.randint(0, w + 2 * pad - size + 1, (n, 1), device=images.device)
    rows = (dy + torch.arange(size, device=images.device))[:, None, :, None]  # (n, 1, size, 1)
    cols = (dx + torch.arange(size, device=images.device))[:, None, None, :]  # (n, 1, 1, size)
    batch = torch.arange(n, device=images.device)[:, None, None, None]
    channel = torch.arange(c, device=images.device)[None, :, None, None]
    out = padded[batch, channel, rows, cols]
    flip = torch.rand(n, device=images.device) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(3), out)
