"""The methods every experiment compares, by name, and the sizes each one trains.

- ``normal``: the loss at the full width only;
- ``MRL``: the loss at every nesting size, summed;
- ``MRL-E``: MRL with one weight matrix shared by all sizes' classifiers (needs classification heads);
- ``FF-<d>``: the loss at size ``d`` alone, the paper's fixed-feature model for that size.
"""

from __future__ import annotations

from mrl_lab.core.checks import check_dims


def methods(per_size, tied: bool = False) -> list[str]:
    """The methods an experiment trains: normal, MRL, MRL-E when ``tied``, then one ``FF-<d>`` per size.

    Example:
        >>> methods([16, 64])
        ['normal', 'MRL', 'FF-16', 'FF-64']
        >>> methods([4], tied=True)
        ['normal', 'MRL', 'MRL-E', 'FF-4']
    """
    return ["normal", "MRL"] + (["MRL-E"] if tied else []) + [f"FF-{d}" for d in check_dims(per_size, where="methods")]


def ff_size(name: str) -> int | None:
    """The size of a fixed-feature method's name (``"FF-16"`` -> 16, also at the end of a longer name such as
    ``"fine-tuned FF-16"``), or None when the name is not one.

    Example:
        >>> ff_size("FF-16"), ff_size("fine-tuned FF-64"), ff_size("MRL"), ff_size("FF-3two")
        (16, 64, None, None)
    """
    if not isinstance(name, str):
        return None
    stem, _, size = name.rpartition("-")
    return int(size) if stem.endswith("FF") and size.isdigit() and int(size) > 0 else None


def ff_sizes(per_size, dims) -> list[int]:
    """The sizes with a fixed-feature model of their own: ``per_size``, or every nesting size below the full
    width when it is None.

    Example:
        >>> ff_sizes(None, [8, 16, 32]), ff_sizes((16,), [8, 16, 32])
        ([8, 16], [16])
    """
    return list(dims[:-1]) if per_size is None else list(per_size)


def trained_sizes(method: str, dims) -> list[int]:
    """The sizes whose loss ``method`` trains, given the nesting sizes ``dims`` (the last is the full width).

    Example:
        >>> [trained_sizes(m, [8, 16, 32]) for m in ("normal", "MRL", "MRL-E", "FF-8")]
        [[32], [8, 16, 32], [8, 16, 32], [8]]
        >>> trained_sizes("FF-3two", [8, 16, 32])
        Traceback (most recent call last):
        ...
        ValueError: trained_sizes: unknown method 'FF-3two'; use 'normal', 'MRL', 'MRL-E' or 'FF-<size>', e.g. 'FF-32'
    """
    dims = check_dims(dims, where="trained_sizes")
    if method == "normal":
        return [dims[-1]]
    if method in ("MRL", "MRL-E"):
        return dims
    if ff_size(method) is not None and method.startswith("FF-"):
        return [ff_size(method)]
    raise ValueError(
        f"trained_sizes: unknown method {method!r}; use 'normal', 'MRL', 'MRL-E' or 'FF-<size>', e.g. 'FF-32'"
    )
