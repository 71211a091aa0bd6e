"""Notebook 03's checker: the learner's paired bootstrap interval of two methods' difference in recall."""

import numpy as np
import pytest
import torch

from mrl_lab.lab.exercises import check_bootstrap_interval


def unfinished(*args):
    raise NotImplementedError


def resampled(hits_a, hits_b, resamples, seed, paired=True):
    """Each resample's difference in mean hits: the same query indices for both methods when ``paired``."""
    a, b = np.asarray(hits_a, dtype=float), np.asarray(hits_b, dtype=float)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(a), size=(resamples, len(a)))
    other = rows if paired else rng.integers(0, len(a), size=(resamples, len(a)))
    return a[rows].mean(axis=1) - b[other].mean(axis=1)


def paired(hits_a, hits_b, resamples, seed):
    low, high = np.percentile(resampled(hits_a, hits_b, resamples, seed), [2.5, 97.5])
    return low, high


def in_torch(hits_a, hits_b, resamples, seed):  # another correct solution: torch, a loop, np.quantile-like ends
    generator = torch.Generator().manual_seed(seed)
    a, b = torch.as_tensor(hits_a).float(), torch.as_tensor(hits_b).float()
    diffs = torch.stack([(a[i] - b[i]).mean() for i in torch.randint(len(a), (resamples, len(a)), generator=generator)])
    return tuple(torch.quantile(diffs, torch.tensor([0.025, 0.975])).tolist())


def normal_approximation(hits_a, hits_b, resamples, seed):  # the difference +- 1.96 bootstrap standard errors
    diffs = resampled(hits_a, hits_b, resamples, seed)
    centre = np.mean(np.asarray(hits_a, float)) - np.mean(np.asarray(hits_b, float))
    return centre - 1.96 * diffs.std(), centre + 1.96 * diffs.std()


def unseeded(hits_a, hits_b, resamples, seed):
    return paired(hits_a, hits_b, resamples, None)


def permuted(hits_a, hits_b, resamples, seed):  # without replacement: every resample has the same mean
    a, b = np.asarray(hits_a, float), np.asarray(hits_b, float)
    rng = np.random.default_rng(seed)
    diffs = [(a[p] - b[p]).mean() for p in (rng.permutation(len(a)) for _ in range(resamples))]
    return tuple(np.percentile(diffs, [2.5, 97.5]))


def in_place(hits_a, hits_b, resamples, seed):
    out = paired(hits_a, hits_b, resamples, seed)
    hits_a[0] = ~hits_a[0]
    return out


@pytest.mark.parametrize("attempt", [paired, in_torch, normal_approximation], ids=lambda f: f.__name__)
def test_a_paired_bootstrap_passes(attempt, capsys):
    assert check_bootstrap_interval(attempt) is True
    assert capsys.readouterr().out.startswith("bootstrap_interval: correct.")


@pytest.mark.parametrize(
    "attempt, hint",
    [
        (unfinished, "Replace `raise NotImplementedError`"),
        (lambda a, b, r, s: None, "returned None"),
        (lambda a, b, r, s: tuple(np.percentile(resampled(a, b, r, s, paired=False), [2.5, 97.5])), "independently"),
        (lambda a, b, r, s: tuple(np.percentile(resampled(a, b, r, s), [5, 95])), "90 % interval"),
        (lambda a, b, r, s: tuple(np.percentile(resampled(a, b, r, s), [0.025, 0.975])), "np.percentile takes"),
        (lambda a, b, r, s: resampled(a, b, r, s).std(), "standard error"),
        (lambda a, b, r, s: resampled(a, b, r, s).mean(), "the difference itself"),
        (lambda a, b, r, s: (resampled(a, b, r, s).mean(), resampled(a, b, r, s).std()), "(difference, standard"),
        (lambda a, b, r, s: np.asarray(a, float).mean(), "one method's mean"),
        (lambda a, b, r, s: paired(a, b, r, s)[::-1], "low > high"),
        (lambda a, b, r, s: paired(b, a, r, s), "b minus a"),
        (lambda a, b, r, s: tuple(100 * v for v in paired(a, b, r, s)), "in percent"),
        (lambda a, b, r, s: (*paired(a, b, r, s), 0.0), "three numbers"),
        (lambda a, b, r, s: "interval", "two numbers"),
        (unseeded, "same seed"),
        (permuted, "with replacement"),
        (in_place, "in place"),
        (lambda a, b: (0, 1), "TypeError"),
        (lambda a, b, r, s: tuple(v + 0.01 for v in paired(a, b, r, s)), "differs from the package's"),
    ],
)
def test_each_usual_mistake_is_named(attempt, hint, capsys):
    assert check_bootstrap_interval(attempt) is False
    line = capsys.readouterr().out
    assert line.startswith("bootstrap_interval: not yet.") and hint in line, line
