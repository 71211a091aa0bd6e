"""Argument checks shared by the whole package: each error names the function, the bad value and the fix."""

from __future__ import annotations

import numbers

import torch


def check_count(value, name: str, where: str, low: int = 1, high: int | None = None) -> int:
    """``value`` as an int if it is a whole number from ``low`` to ``high``, else an error naming ``where``.

    Example:
        >>> check_count(2.5, "epochs", "train")
        Traceback (most recent call last):
        ...
        ValueError: train: epochs=2.5; it must be a whole number >= 1
    """
    bound = f">= {low}" if high is None else f"in {low}..{high}"
    whole = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not whole or value < low or (high is not None and value > high):
        raise ValueError(f"{where}: {name}={value!r}; it must be a whole number {bound}")
    return int(value)


def check_fitted(state, where: str, fix: str):
    """``state`` (what ``fit`` sets) if it is there, else an error naming ``where`` and how to fit first.

    Example:
        >>> check_fitted(None, "PCA.transform", "call PCA().fit(train_embeddings) first")
        Traceback (most recent call last):
        ...
        ValueError: PCA.transform: not fitted yet; call PCA().fit(train_embeddings) first
    """
    if state is None:
        raise ValueError(f"{where}: not fitted yet; {fix}")
    return state


def check_dims(dims, full_dim: int | None = None, *, where: str = "dims") -> list[int]:
    """Validate a nesting list and return it as a list of ints.

    Sizes must be positive ints, strictly increasing, and (when ``full_dim`` is given) no wider
    than the embedding. Every error names the bad value and says how to fix it.

    Args:
        dims: the nesting sizes, e.g. ``[8, 16, 32]``.
        full_dim: the embedding width the sizes must fit in, if known.
        where: the caller's name, put at the start of error messages.

    Example:
        >>> check_dims([8, 16, 32], full_dim=32)
        [8, 16, 32]
    """
    try:
        dims = list(dims)
    except TypeError:
        raise TypeError(f"{where}: nesting sizes must be a list of ints; got {dims!r}") from None
    if not dims:
        raise ValueError(f"{where}: nesting sizes are empty; pass at least one, e.g. [8, 16, 32]")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int):
            raise TypeError(f"{where}: nesting sizes must be ints; got {d!r} in {dims}")
        if d <= 0:
            raise ValueError(f"{where}: nesting sizes must be >= 1; got {d} in {dims}")
    for a, b in zip(dims, dims[1:]):
        if a == b:
            raise ValueError(f"{where}: nesting size {a} is repeated in {dims}; list each size once")
        if a > b:
            raise ValueError(
                f"{where}: nesting sizes must increase; got {dims} ({a} before {b}) "
                f"- pass them sorted, e.g. {sorted(set(dims))}"
            )
    if full_dim is not None and dims[-1] > full_dim:
        raise ValueError(
            f"{where}: nesting size {dims[-1]} is wider than the embedding ({full_dim} features); "
            f"use sizes <= {full_dim}"
        )
    return dims


def check_embeddings(x: torch.Tensor, name: str = "embeddings") -> torch.Tensor:
    """Raise a clear error unless ``x`` is a non-empty 2-D tensor of finite numbers; return it.

    Example:
        >>> check_embeddings(torch.tensor([[float("nan"), 1.0]]), "queries")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: queries contain 1 NaN/inf value(s) (first at row 0); fix the model or drop those rows ...
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (N, dim); got shape {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} are empty (shape {tuple(x.shape)}); pass at least one row of at least one number")
    bad = ~torch.isfinite(x)
    if bad.any():
        row = int(bad.any(dim=1).nonzero()[0])
        raise ValueError(
            f"{name} contain {int(bad.sum())} NaN/inf value(s) (first at row {row}); "
            "fix the model or drop those rows before measuring"
        )
    return x


def check_labels(labels, rows: int, name: str, where: str) -> torch.Tensor:
    """Raise a clear error unless ``labels`` is a 1-D tensor with one entry per row (``rows``); return it.

    Example:
        >>> check_labels(torch.tensor([0, 1]), 3, "test_y", "knn_accuracy")
        Traceback (most recent call last):
        ...
        ValueError: knn_accuracy: test_y has shape (2,); it needs one entry per row: shape (3,)
    """
    shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or len(labels) != rows:
        raise ValueError(f"{where}: {name} has shape {shape}; it needs one entry per row: shape ({rows},)")
    return labels
