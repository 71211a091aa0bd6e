"""Augmenting image batches on their own device: random shifts, crops and flips, and a schedule of them
over the epochs that starts with small images (progressive resizing)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mrl_lab.core.checks import check_count, check_number, check_tensor


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
    n, c, h, w = check_tensor(images, "random_crop_flip: images", ("N", "C", "H", "W")).shape
    pad = check_count(pad, "pad", "random_crop_flip", low=0)
    size = h if size is None else check_count(size, "size", "random_crop_flip")
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


def small_images(images):
    """16x16 images: shifted and flipped as :func:`random_crop_flip` does, then 2x2-averaged."""
    return F.avg_pool2d(random_crop_flip(images).float(), 2)


def crops_24(images):
    """A random 24x24 window of each 32x32 image, flipped half of the time."""
    return random_crop_flip(images, pad=0, size=24)


def augmentations(epochs: int, progressive: bool, small_share: float = 0.6) -> list:
    """The augmentation of each training epoch: random shifts (or crops) and flips.

    With ``progressive`` the images start small, because a convolution's cost grows with the number
    of pixels ("progressive resizing", as in fast.ai's DAWNBench entries): the first
    ``small_share`` of the epochs see 16x16 images, the next ones random 24x24 crops, and the
    last epoch the full 32x32 images, as the test does. Small epochs are what let the six models
    of notebook 01 train at the ``cpu`` budget in a workshop's time, at the price of some accuracy
    against a longer recipe; ``benchmarks/cifar10.py`` prints the time per model and the accuracy.

    Example:
        >>> [f.__name__ for f in augmentations(5, progressive=True, small_share=0.4)]
        ['small_images', 'small_images', 'crops_24', 'crops_24', 'random_crop_flip']
        >>> [f.__name__ for f in augmentations(2, progressive=False)]
        ['random_crop_flip', 'random_crop_flip']
    """
    check_count(epochs, "epochs", "augmentations")
    check_number(small_share, "small_share", "augmentations", 0, 1)
    if not progressive:
        return [random_crop_flip] * epochs
    small = min(epochs - 1, int(small_share * epochs))
    return [small_images] * small + [crops_24] * (epochs - small - 1) + [random_crop_flip]
