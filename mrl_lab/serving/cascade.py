"""Adaptive classification: a cascade over an MRL model's heads.

Try the smallest size first; if its prediction is confident enough (top softmax probability at
least ``threshold``), stop there; otherwise go up one size. Easy inputs are answered with a few
dims, hard ones get the full vector. Sweeping the threshold traces accuracy against the *expected*
size per input, which can be compared with the fixed-size curve.

One threshold serves every head only if "0.9 confident" means about the same at every size. Heads
trained with label smoothing are under-confident (and each by its own amount), so first calibrate:
divide each head's logits by a temperature fitted on held-out validation data
(:func:`fit_temperature`, Guo et al. 2017), then pick the threshold on that validation data
(:func:`pick_threshold`) and report it on test data the choice never saw. Or give each head a
threshold of its own, chosen on the validation data too (:func:`pick_thresholds`): small heads are
often right when only mildly sure, and then stop many more inputs.

References:
    Kusupati et al., "Matryoshka Representation Learning", NeurIPS 2022, section 4.2.1
    ("Adaptive Classification": the accuracy of a 512-dim model at an expected 37 dims on ImageNet);
    Guo et al., "On Calibration of Modern Neural Networks", ICML 2017 (temperature scaling).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mrl_lab.core.checks import (
    check_count,
    check_dims,
    check_embeddings,
    check_items,
    check_labels,
    check_number,
    check_records,
)
from mrl_lab.evaluation.intervals import lead


def cascade(logits, dims, threshold):
    """Run the cascade once.

    Args:
        logits: one ``(N, classes)`` tensor per size, smallest first (what :class:`MRLHead` returns).
        dims: the sizes of ``logits``.
        threshold: stop at the first size whose top softmax probability is >= this; 1.0 (or more)
            always goes to the full size, 0 always stops at the smallest. One number for every
            head, or one per head (the last is never read: the full size always answers).

    Returns:
        ``(predictions, sizes)``: each input's predicted class and the size that answered it.

    Example:
        >>> small = torch.tensor([[4.0, 0.0], [0.1, 0.0]])  # confident, unsure
        >>> full = torch.tensor([[0.0, 3.0], [0.0, 3.0]])
        >>> cascade([small, full], [8, 64], threshold=0.9)
        (tensor([0, 1]), tensor([ 8, 64]))
    """
    dims, tops = _heads(logits, dims, "cascade")
    return _decide(tops, dims, _per_head(threshold, dims, "cascade"))


def _heads(logits, dims, where: str):
    """The checked sizes, and each head's top softmax probability and its class: ``[(confidence, guess), ...]``."""
    dims = check_dims(dims, where=where)
    if len(logits) != len(dims):
        raise ValueError(f"{where}: {len(logits)} logit tensors for {len(dims)} sizes {dims}; pass one per size")
    for i, out in enumerate(logits):
        check_embeddings(out, f"{where}: logits[{i}]")
    if len({len(out) for out in logits}) > 1:
        rows = [len(out) for out in logits]
        raise ValueError(f"{where}: the logit tensors have {rows} rows; pass each size's logits for the same inputs")
    return dims, [out.float().softmax(dim=1).max(dim=1) for out in logits]


def _per_head(threshold, dims, where: str) -> list[float]:
    """``threshold`` (one number, or one per size) as one threshold per size, checked."""
    thresholds = [threshold] * len(dims) if isinstance(threshold, (int, float)) else list(threshold)
    thresholds = [check_number(t, "threshold", where) for t in thresholds]
    if len(thresholds) != len(dims):
        raise ValueError(
            f"{where}: {len(thresholds)} thresholds for {len(dims)} sizes {dims}; pass one or one per size"
        )
    if not all(t >= 0 for t in thresholds):
        raise ValueError(f"{where}: threshold={threshold} must be >= 0 (a softmax probability)")
    return thresholds


def _decide(tops, dims, thresholds):
    """The cascade on ``_heads``' confidences: each input's prediction and the size that answered it."""
    n = len(tops[0][0])
    predictions = torch.full((n,), -1, dtype=torch.long)
    sizes = torch.zeros(n, dtype=torch.long)
    undecided = torch.ones(n, dtype=torch.bool)
    for i, (d, (confidence, guess), t) in enumerate(zip(dims, tops, thresholds)):
        stop = undecided & ((confidence >= t) | (i == len(dims) - 1))
        predictions[stop], sizes[stop] = guess[stop], d
        undecided &= ~stop
    return predictions, sizes


def cascade_curve(logits, labels: torch.Tensor, dims, thresholds) -> list[dict]:
    """Accuracy and expected size of the cascade at each threshold (a number, or one per head).

    Returns:
        One dict per threshold: ``threshold``, ``accuracy``, ``expected_dims`` (the mean size
        that answered) and ``share_at_smallest`` (inputs answered by the smallest size).

    Example:
        >>> small = torch.tensor([[4.0, 0.0], [0.1, 0.0]])
        >>> full = torch.tensor([[0.0, 3.0], [0.0, 3.0]])
        >>> [p["expected_dims"] for p in cascade_curve([small, full], torch.tensor([0, 1]), [8, 64], [0.0, 0.9, 1.0])]
        [8.0, 36.0, 64.0]
    """
    dims, tops = _heads(logits, dims, "cascade_curve")
    _check_labels(labels, logits, "cascade_curve")
    return [dict(threshold=t, **_point(tops, labels, dims, _per_head(t, dims, "cascade_curve"))) for t in thresholds]


def _check_labels(labels, logits, where: str) -> None:
    """An error unless ``labels`` holds one class per input of ``logits``."""
    if len(labels) != len(logits[0]):
        raise ValueError(f"{where}: {len(labels)} labels for {len(logits[0])} inputs; pass one label per input")
    check_labels(labels, len(logits[0]), "labels", where, classes=logits[0].shape[1])


def _point(tops, labels: torch.Tensor, dims, thresholds: list[float]) -> dict:
    """Accuracy, expected dims and the share answered at the smallest size, at these thresholds."""
    predictions, sizes = _decide(tops, dims, thresholds)
    return dict(
        accuracy=(predictions == labels).float().mean().item(),
        expected_dims=sizes.float().mean().item(),
        share_at_smallest=(sizes == min(dims)).float().mean().item(),
    )


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, grid=None) -> float:
    """The temperature ``T`` that makes ``softmax(logits / T)`` best calibrated on held-out data.

    Temperature scaling: the ``T`` (from ``grid``, default 0.05 to 20, log-spaced) with the lowest
    cross-entropy of ``logits / T`` against ``labels``. ``T > 1`` softens an over-confident head,
    ``T < 1`` sharpens an under-confident one (label smoothing makes them so); predictions do not
    change, only the confidence the cascade reads. Fit it on validation data, never on the test set.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> labels = torch.randint(0, 4, (2000,))
        >>> sharp = 4 * torch.nn.functional.one_hot(labels, 4).float() + torch.randn(2000, 4)
        >>> fit_temperature(sharp / 4, labels) < 0.5  # logits divided by 4 are under-confident: sharpen them
        True
    """
    check_embeddings(logits, "fit_temperature: logits")
    if len(logits) != len(labels):
        raise ValueError(f"fit_temperature: {len(logits)} rows of logits for {len(labels)} labels; pass one per row")
    check_labels(labels, len(logits), "labels", "fit_temperature", classes=logits.shape[1])
    if grid is None:
        grid = torch.logspace(-1.3, 1.3, 105)
    else:
        grid = torch.tensor([check_number(t, "grid", "fit_temperature", low=0, open_low=True) for t in grid])
    if len(grid) == 0:
        raise ValueError("fit_temperature: grid is empty; pass temperatures > 0, or None for 0.05 to 20")
    losses = [F.cross_entropy(logits.float() / t, labels).item() for t in grid]
    return float(grid[min(range(len(grid)), key=losses.__getitem__)])


def pick_threshold(curve: list[dict], min_accuracy: float) -> dict | None:
    """The point of a :func:`cascade_curve` with the fewest expected dims whose accuracy is at least
    ``min_accuracy`` (choose on validation data, then report that threshold on test data); ``None``
    if no threshold reaches it.

    Example:
        >>> curve = [dict(threshold=0.5, accuracy=0.80, expected_dims=10.0),
        ...          dict(threshold=0.9, accuracy=0.86, expected_dims=20.0),
        ...          dict(threshold=1.01, accuracy=0.87, expected_dims=64.0)]
        >>> pick_threshold(curve, 0.865)["threshold"]
        1.01
    """
    curve = check_records(curve, "curve", ("accuracy", "expected_dims"), "pick_threshold", "pass cascade_curve(...)")
    check_number(min_accuracy, "min_accuracy", "pick_threshold", 0, 1)
    good = [p for p in curve if p["accuracy"] >= min_accuracy]
    return min(good, key=lambda p: p["expected_dims"]) if good else None


THRESHOLDS = [i / 100 for i in range(100)] + [0.995, 0.999, 1.01]  # 1.01: never stop there


def against_target(right, full_right, within: float) -> str:
    """A threshold chosen on validation data, checked on test data: the cascade's test accuracy against the
    full head's, paired image by image (with a 95 % interval), and whether the target, at most ``within``
    below the full head, was met. A target met on validation can be missed on test; this says so plainly.

    Args:
        right: per test input, whether the cascade was right (a boolean tensor).
        full_right: per test input, whether the full head was right.
        within: the accuracy the target allows below the full head, as a fraction (0.005: half a point).

    Example:
        >>> full = torch.arange(1000) % 10 < 8  # 80 % right
        >>> against_target(full, full, 0.005)
        'accuracy 80.0% (full head 80.0%): +0.0 pt [+0.0, +0.0]; target (at most 0.5 pt below) met'
        >>> against_target(full & (torch.arange(1000) % 100 != 0), full, 0.005)  # 10 more wrong: 1 pt
        'accuracy 79.0% (full head 80.0%): -1.0 pt [-1.7, -0.4]; target (at most 0.5 pt below) missed by 0.5 pt'
    """
    if not 0 <= within < 1:
        raise ValueError(f"against_target: within={within} must be a fraction in [0, 1), e.g. 0.005 for half a point")
    right, full_right = (x.bool() for x in check_items("against_target", 2, right=right, full_right=full_right))
    x, low, high = lead(right, full_right)
    line = (f"accuracy {right.float().mean().item():.1%} (full head {full_right.float().mean().item():.1%}): "
            f"{100 * x:+.1f} pt [{100 * low:+.1f}, {100 * high:+.1f}]; "
            f"target (at most {100 * within:.1f} pt below)")  # fmt: skip
    short = round(100 * (-x - within), 1)  # in the points printed: "missed by 0.0 pt" would say nothing
    return line + (f" missed by {short:.1f} pt" if short > 0 else " met")


def met_target(accuracy: float, full_accuracy: float, within: float) -> bool:
    """Whether ``accuracy`` is at most ``within`` below ``full_accuracy``, in the points :func:`against_target` prints.

    Example:
        >>> met_target(0.79, 0.80, 0.005), met_target(0.797, 0.80, 0.005)
        (False, True)
    """
    return round(100 * (full_accuracy - accuracy - within), 1) <= 0


def if_all_met(word: str, met: dict) -> str:
    """A cost verdict (``word``: "cheaper", "dearer", ...) only where every method in ``met`` ({name: met its
    target on test}) met its target on test: fewer dims at a lower accuracy is no saving. Else it says who
    met it and who missed it.

    Example:
        >>> if_all_met("cheaper", {"raw": True, "calibrated": False})
        'not at equal accuracy: raw met it, calibrated missed it'
    """
    if all(met.values()):
        return word
    return "not at equal accuracy: " + ", ".join(f"{name} {'met' if ok else 'missed'} it" for name, ok in met.items())


def pick_thresholds(logits, labels: torch.Tensor, dims, min_accuracy: float, grid=THRESHOLDS, sweeps: int = 5):
    """One threshold per head: the fewest expected dims at accuracy >= ``min_accuracy`` on this data.

    A single threshold asks every head to be equally sure. But heads differ: a small head may be
    right whenever it is even mildly confident, a larger one only when it is very sure. This picks
    each head's own threshold by coordinate descent: start with every input answered at the full
    size (thresholds above 1); then, for each head but the last, smallest first, take the value
    of ``grid`` that gives the fewest expected dims while accuracy stays >= ``min_accuracy`` (the
    other heads fixed); repeat until a sweep changes nothing (at most ``sweeps``). Choose on
    validation data and report on test data: thresholds fitted to one split flatter it.

    Returns:
        One threshold per size (pass them to :func:`cascade`), or ``None`` if even the full size
        is below ``min_accuracy``.

    Example:
        >>> small = torch.tensor([[4.0, 0.0], [0.1, 0.0]])  # sure and right, unsure and wrong
        >>> full = torch.tensor([[3.0, 0.0], [0.0, 3.0]])  # right twice
        >>> pick_thresholds([small, full], torch.tensor([0, 1]), [8, 64], min_accuracy=1.0)
        [0.53, 1.01]
    """
    dims, tops = _heads(logits, dims, "pick_thresholds")
    _check_labels(labels, logits, "pick_thresholds")
    check_number(min_accuracy, "min_accuracy", "pick_thresholds", 0, 1)
    check_count(sweeps, "sweeps", "pick_thresholds")
    grid = [check_number(t, "grid", "pick_thresholds", low=0) for t in grid]
    if not grid or max(grid) <= 1:
        raise ValueError(f"pick_thresholds: grid={grid} has no value above 1; add one (1.01: never stop there)")

    def score(thresholds):  # (accuracy, expected dims)
        point = _point(tops, labels, dims, thresholds)
        return point["accuracy"], point["expected_dims"]

    thresholds = [max(grid)] * len(dims)
    accuracy, cost = score(thresholds)
    if accuracy < min_accuracy:
        return None
    for _ in range(sweeps):
        before = thresholds
        for i in range(len(dims) - 1):
            for t in grid:
                trial = thresholds[:i] + [t] + thresholds[i + 1 :]
                accuracy, expected = score(trial)
                if accuracy >= min_accuracy and expected < cost:
                    thresholds, cost = trial, expected
        if thresholds == before:
            break
    return thresholds
