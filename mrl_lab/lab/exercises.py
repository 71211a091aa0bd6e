"""Checkers for the quickstart's exercises: grade a learner's function against the package's own.

Each check runs the attempt on a few random inputs, compares it with the package (``truncate``,
``MatryoshkaLoss``), prints one line and returns ``True`` (passed) or ``False``. A wrong answer gets
a hint that names the likely mistake; an unfinished one (still ``raise NotImplementedError``) gets
"not yet". A check never raises, so a notebook with its exercises left blank still runs top to
bottom, as CI runs it.

Example:
    >>> from mrl_lab.lab.exercises import check_truncate
    >>> from mrl_lab import truncate
    >>> check_truncate(truncate)
    truncate: correct. Every prefix is cut and re-normalised like mrl_lab.truncate.
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mrl_lab.core.loss import MatryoshkaLoss


def _report(name: str, passed: bool, message: str) -> bool:
    print(f"{name}: {'correct' if passed else 'not yet'}. {message}")
    return passed


def _attempt(fn, *args):
    """Call the learner's function; return (result, None) or (None, what went wrong)."""
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, "Replace `raise NotImplementedError` with your code, run that cell, then this one."
    except Exception as e:  # a learner's bug: report it as a hint instead of stopping the notebook
        return None, f"Your function raised {type(e).__name__}: {e}"


def check_truncate(fn) -> bool:
    """Grade ``fn(z, d)``: the first ``d`` features of each row of ``z``, re-normalised to length 1."""
    z = torch.randn(6, 16) * torch.rand(6, 1) * 5  # rows of different lengths
    original = z.clone()
    for d in (1, 4, 16):
        out, problem = _attempt(fn, z, d)
        if problem:
            return _report("truncate", False, problem)
        if not torch.equal(z, original):
            return _report("truncate", False, "It changed its input in place; return a new tensor instead.")
        if not isinstance(out, torch.Tensor) or out.shape != (6, d):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            return _report("truncate", False, f"For d={d} it returned {shape}; expected (rows, d) = (6, {d}).")
        expected = F.normalize(z[:, :d], dim=1)
        if torch.allclose(out, expected, atol=1e-5):
            continue
        if torch.allclose(out, z[:, :d], atol=1e-5):
            hint = "The right features, but not re-normalised: a prefix of a unit vector is shorter than 1."
        elif torch.allclose(out, F.normalize(z[:, -d:], dim=1), atol=1e-5) or torch.allclose(out, z[:, -d:]):
            hint = "Those are the last d features; the prefix is the first d, z[:, :d]."
        elif torch.allclose(out, F.normalize(z, dim=1)[:, :d], atol=1e-5):
            hint = "It normalised before cutting; cut first, then scale each row of the prefix to length 1."
        elif torch.allclose(out, F.normalize(z[:, :d], dim=0), atol=1e-5):
            hint = "It normalised each column; normalise each row (dim=1)."
        else:
            hint = "Its values differ from mrl_lab.truncate; keep z[:, :d] and divide each row by its length."
        return _report("truncate", False, f"For d={d}: {hint}")
    return _report("truncate", True, "Every prefix is cut and re-normalised like mrl_lab.truncate.")


def check_matryoshka_loss(fn) -> bool:
    """Grade ``fn(logits, y, weights)``: the weighted sum of each size's cross-entropy.

    ``logits`` is one tensor per size (what :class:`~mrl_lab.core.heads.MRLHead` returns), ``y`` the
    labels, ``weights`` one number per size.
    """
    generator = torch.Generator().manual_seed(0)
    logits = [torch.randn(8, 5, generator=generator, requires_grad=True) for _ in range(3)]
    y, weights = torch.randint(0, 5, (8,), generator=generator), [1.0, 0.5, 2.0]
    out, problem = _attempt(fn, logits, y, weights)
    if problem:
        return _report("matryoshka_loss", False, problem)
    if not isinstance(out, torch.Tensor) or out.ndim != 0:
        return _report("matryoshka_loss", False, "Return one number, a 0-dimensional tensor, not a list.")
    if not out.requires_grad:
        return _report("matryoshka_loss", False, "The result has no gradient; keep it a tensor (no .item()).")
    per_size = [F.cross_entropy(x, y) for x in logits]
    expected = MatryoshkaLoss(nn.CrossEntropyLoss(), [1, 2, 3], weights)(logits, y)
    if torch.allclose(out, expected, atol=1e-5):
        return _report("matryoshka_loss", True, "It equals MatryoshkaLoss on every size, with the weights.")
    if torch.allclose(out, sum(per_size), atol=1e-5):
        hint = "It ignores the weights: multiply each size's loss by its weight before adding."
    elif torch.allclose(out, expected / sum(weights), atol=1e-5) or torch.allclose(out, expected / 3, atol=1e-5):
        hint = "It averages; the Matryoshka loss is the weighted sum (the weights already set the balance)."
    elif any(torch.allclose(out, w * p, atol=1e-5) or torch.allclose(out, p) for w, p in zip(weights, per_size)):
        hint = "It scores one size only; add up the losses of every size."
    else:
        hint = "Its value differs from MatryoshkaLoss; compute F.cross_entropy(logits_d, y) per size, weight, add."
    return _report("matryoshka_loss", False, hint)
