"""Which dataset is found where, without loading or downloading anything."""

from __future__ import annotations

from pathlib import Path

from mrl_lab.data.images import _find_cifar10
from mrl_lab.data.locate import data_roots, find_file


def locate_datasets(root=None) -> dict[str, Path | None]:
    """Where each dataset is found without loading or downloading anything (``None``: not found).

    Example:
        >>> sorted(locate_datasets("/nonexistent"))
        ['AG News', 'CIFAR-10', 'STS-B']
    """
    roots = data_roots(root)
    cifar, _ = _find_cifar10(roots, "test")
    return {
        "CIFAR-10": cifar[1] if cifar else None,
        "AG News": find_file(roots, "ag_news_csv/test.csv")[0],
        "STS-B": find_file(roots, "stsbenchmark/sts-test.csv")[0],
    }
