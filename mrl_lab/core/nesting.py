"""Nested sizes and truncation: the two small ideas every other module builds on.

A Matryoshka embedding is trained so that its first ``d`` features, for every ``d`` in a
nesting list such as ``[8, 16, 32, 64]``, form a usable embedding on their own. These
helpers make that list and cut vectors down to one of its sizes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mrl_lab.core.checks import check_count


def nesting_dims(full_dim: int, smallest: int = 8) -> list[int]:
    """Halving sizes from ``full_dim`` down to the last one that is still ``>= smallest``.

    This is the nesting list of the MRL paper: ``{8, 16, ..., 2048}`` for a 2048-d ResNet-50.

    Args:
        full_dim: width of the full embedding (the largest size).
        smallest: no size below this is produced.

    Returns:
        The sizes in ascending order, always ending with ``full_dim``.

    References:
        Kusupati et al., "Matryoshka Representation Learning", NeurIPS 2022, section 3.

    Example:
        >>> nesting_dims(512)
        [8, 16, 32, 64, 128, 256, 512]
        >>> nesting_dims(384)
        [12, 24, 48, 96, 192, 384]
        >>> nesting_dims(256, smallest=2)
        [2, 4, 8, 16, 32, 64, 128, 256]
    """
    for name, value in (("full_dim", full_dim), ("smallest", smallest)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"nesting_dims: {name} must be an int; got {value!r}")
        if value < 1:
            raise ValueError(f"nesting_dims: {name} must be >= 1; got {value}")
    if smallest > full_dim:
        raise ValueError(
            f"nesting_dims: smallest={smallest} is wider than full_dim={full_dim}; pass a smallest size <= {full_dim}"
        )
    dims = [full_dim]
    while dims[-1] % 2 == 0 and dims[-1] // 2 >= smallest:
        dims.append(dims[-1] // 2)
    return dims[::-1]


def truncate(x: torch.Tensor, d: int, normalize: bool = True) -> torch.Tensor:
    """Keep the first ``d`` features along the last axis, L2-renormalised unless told not to.

    Cutting a unit vector leaves a shorter vector of length < 1; re-normalising puts it back on
    the unit sphere, which is what cosine similarity and dot-product search expect.

    Args:
        x: embeddings, shape ``(..., D)``.
        d: how many leading features to keep, ``1 <= d <= D``.
        normalize: re-normalise the kept prefix to unit length (default ``True``).

    Returns:
        A tensor of shape ``(..., d)``.

    Example:
        >>> x = torch.tensor([[3.0, 4.0, 12.0]])
        >>> truncate(x, 2)
        tensor([[0.6000, 0.8000]])
        >>> truncate(x, 2, normalize=False)
        tensor([[3., 4.]])
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"truncate: x must be a torch.Tensor; got {type(x).__name__}")
    if x.ndim == 0:
        raise ValueError("truncate: x is a scalar; pass embeddings of shape (..., D)")
    if isinstance(d, bool) or not isinstance(d, int):
        raise TypeError(f"truncate: d must be an int; got {d!r}")
    width = x.shape[-1]
    if not 1 <= d <= width:
        raise ValueError(f"truncate: d={d} is outside 1..{width} (the embedding width); pick d in that range")
    out = x[..., :d]
    return F.normalize(out, dim=-1) if normalize else out


def dense_grid(full_dim: int) -> list[int]:
    """Every size from 1 to 64, then steps of 16 up to ``full_dim``: sizes mostly never trained.

    Example:
        >>> dense_grid(128)[-6:]
        [63, 64, 80, 96, 112, 128]
    """
    full_dim = check_count(full_dim, "full_dim", "dense_grid")
    return list(range(1, min(64, full_dim) + 1)) + list(range(80, full_dim + 1, 16))
