"""Timings that hold still: a speed comparison is made from repeated measurement, and called *faster* or
*slower* only when the repeats do not overlap; otherwise "no measurable difference".

One timing of a fast operation on a shared laptop moves by tens of percent from run to run, so a
single ratio such as "1.2x faster" can flip in the next run. Every speed verdict the lab prints
comes from :func:`speed_words` (two timed things, each a median with the spread of its repeats) or
:func:`ratio_words` (a ratio with its interval).
"""

from __future__ import annotations

import time

import numpy as np

from mrl_lab.core.checks import check_callable, check_count, check_number

SAME = "no measurable difference"


def repeated(fn, repeats: int = 3) -> dict:
    """Time ``fn()`` ``repeats`` times (at least 3): ``{"median", "low", "high"}`` in seconds, low and high being
    the fastest and the slowest repeat.

    Example:
        >>> t = repeated(lambda: sum(range(1000)), repeats=3)
        >>> t["low"] <= t["median"] <= t["high"]
        True
    """
    check_callable(fn, "fn", "repeated", "lambda: index.search(queries, 10)")
    check_count(repeats, "repeats", "repeated", low=3)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return spread(times)


def spread(times) -> dict:
    """``{"median", "low", "high"}`` of repeated timings (at least 3).

    Example:
        >>> spread([3.0, 1.0, 2.0])
        {'median': 2.0, 'low': 1.0, 'high': 3.0}
    """
    times = np.asarray([check_number(t, "each timing", "spread", low=0) for t in times])
    if len(times) < 3:
        raise ValueError(f"spread: need 3 or more timings; got {times.tolist()!r}. Repeat the measurement")
    return {"median": float(np.median(times)), "low": float(times.min()), "high": float(times.max())}


def speed_words(a: dict, b: dict) -> str:
    """How ``a`` compares with ``b`` in speed: ``"faster"`` when ``a``'s slowest repeat beats ``b``'s fastest,
    ``"slower"`` the other way round, else :data:`SAME` (the repeats overlap: the difference is inside the noise).

    Example:
        >>> speed_words({"median": 1.0, "low": 0.9, "high": 1.1}, {"median": 2.0, "low": 1.8, "high": 2.3})
        'faster'
        >>> speed_words({"median": 1.0, "low": 0.9, "high": 1.9}, {"median": 2.0, "low": 1.8, "high": 2.3})
        'no measurable difference'
    """
    for t, name in ((a, "a"), (b, "b")):
        if not isinstance(t, dict) or not {"low", "high"} <= set(t) or not 0 <= t["low"] <= t["high"]:
            raise ValueError(f"speed_words: {name}={t!r}; pass {{'median', 'low', 'high'}} from repeated() or spread()")
    if a["high"] < b["low"]:
        return "faster"
    if a["low"] > b["high"]:
        return "slower"
    return SAME


def ratio_words(low: float, high: float, below: str = "faster", above: str = "slower") -> str:
    """A cost ratio's verdict from its interval (``new / old``, of times or of any cost): ``below`` (``"faster"``)
    if it lies wholly below 1, ``above`` (``"slower"``) if wholly above, else :data:`SAME`.

    Example:
        >>> ratio_words(0.55, 0.7), ratio_words(0.9, 1.05), ratio_words(1.02, 1.2)
        ('faster', 'no measurable difference', 'slower')
        >>> ratio_words(0.97, 0.99, below="cheaper", above="dearer")  # a cost, not a time
        'cheaper'
    """
    check_number(low, "low", "ratio_words", low=0)
    check_number(high, "high", "ratio_words", low=0)
    if low > high:
        raise ValueError(f"ratio_words: the interval [{low}, {high}] must satisfy 0 <= low <= high")
    return below if high < 1 else above if low > 1 else SAME
