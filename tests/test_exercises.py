"""The quickstart's checkers pass the package's own functions and name the usual mistakes."""

import pytest
import torch.nn.functional as F

from mrl_lab.core.nesting import truncate
from mrl_lab.lab.exercises import check_matryoshka_loss, check_truncate


def unfinished(*args):
    raise NotImplementedError


def weighted_sum(logits, y, weights):
    return sum(w * F.cross_entropy(x, y) for w, x in zip(weights, logits))


def test_the_package_truncate_passes(capsys):
    assert check_truncate(truncate) is True
    assert capsys.readouterr().out.startswith("truncate: correct.")


@pytest.mark.parametrize(
    "attempt, hint",
    [
        (unfinished, "Replace `raise NotImplementedError`"),
        (lambda z, d: z[:, :d], "not re-normalised"),
        (lambda z, d: F.normalize(z[:, -d:], dim=1), "last d features"),
        (lambda z, d: F.normalize(z, dim=1)[:, :d], "normalised before cutting"),
        (lambda z, d: F.normalize(z[:, :d], dim=0), "normalise each row"),
        (lambda z, d: z.mul_(2)[:, :d], "in place"),
        (lambda z, d: z[:d], "expected (rows, d)"),
        (lambda z, d: z[:, :d].tolist(), "returned list"),
        (lambda z: z, "TypeError"),
    ],
)
def test_a_wrong_truncate_fails_with_a_hint(attempt, hint, capsys):
    assert check_truncate(attempt) is False
    line = capsys.readouterr().out
    assert line.startswith("truncate: not yet.") and hint in line


def test_the_weighted_sum_passes(capsys):
    assert check_matryoshka_loss(weighted_sum) is True
    assert "matryoshka_loss: correct." in capsys.readouterr().out


@pytest.mark.parametrize(
    "attempt, hint",
    [
        (unfinished, "Replace `raise NotImplementedError`"),
        (lambda logits, y, w: sum(F.cross_entropy(x, y) for x in logits), "ignores the weights"),
        (lambda logits, y, w: weighted_sum(logits, y, w) / sum(w), "averages"),
        (lambda logits, y, w: w[-1] * F.cross_entropy(logits[-1], y), "one size only"),
        (lambda logits, y, w: weighted_sum(logits, y, w).item(), "0-dimensional tensor"),
        (lambda logits, y, w: weighted_sum(logits, y, w).detach(), "no gradient"),
        (lambda logits, y, w: weighted_sum(logits, y, w) + 1, "differs from MatryoshkaLoss"),
    ],
)
def test_a_wrong_loss_fails_with_a_hint(attempt, hint, capsys):
    assert check_matryoshka_loss(attempt) is False
    line = capsys.readouterr().out
    assert line.startswith("matryoshka_loss: not yet.") and hint in line


def test_a_bug_in_the_attempt_is_reported_not_raised(capsys):
    assert check_truncate(lambda z, d: 1 / 0) is False
    assert check_matryoshka_loss(lambda logits, y, w: logits[5]) is False
    out = capsys.readouterr().out
    assert "raised ZeroDivisionError" in out and "raised IndexError" in out
