"""Notebook 05's int8 exercise: the checker passes the package's and sentence-transformers' int8 codes and names
the usual mistakes; the package's int8 codes are sentence-transformers' (rounding down) or the nearest level."""

import numpy as np
import pytest
import torch

from mrl_lab.evaluation.quantize import int8_codes, int8_values, quantize
from mrl_lab.lab.exercises import _int8_case, check_int8_quantization


def unfinished(x, calibration):
    raise NotImplementedError


def levels(x, lo, hi, steps=255):
    """(x - lo) / step for a grid of ``steps`` steps: the learner's usual first line."""
    return (x - lo) / ((hi - lo) / steps)


def per_dim(calibration):
    return calibration.min(dim=0).values, calibration.max(dim=0).values


def nearest(x, calibration):
    lo, hi = per_dim(calibration)
    return (levels(x, lo, hi).round().clamp(0, 255) - 128).to(torch.int8)


def in_numpy(x, calibration):  # a learner who writes it in numpy, floor like sentence-transformers
    x, c = x.numpy(), calibration.numpy()
    lo, hi = c.min(axis=0), c.max(axis=0)
    return (np.clip(np.floor((x - lo) / ((hi - lo) / 255)), 0, 255) - 128).astype(np.int8)


def sentence_transformers_int8(x, calibration):
    from sentence_transformers import quantize_embeddings

    return quantize_embeddings(x.numpy(), "int8", calibration_embeddings=calibration.numpy())


@pytest.mark.parametrize(
    "attempt",
    [nearest, in_numpy, sentence_transformers_int8, int8_codes, lambda x, c: int8_codes(x, c, rounding="floor")],
)
def test_correct_int8_codes_pass(attempt, capsys):
    assert check_int8_quantization(attempt) is True
    assert capsys.readouterr().out.startswith("int8: correct.")


def global_range(x, c):
    return (levels(x, c.min(), c.max()).round().clamp(0, 255) - 128).to(torch.int8)


def embeddings_range(x, c):
    return nearest(x, x)


def unclipped(x, c):
    lo, hi = per_dim(c)
    return (levels(x, lo, hi).round() - 128).to(torch.int8)  # outside the range: wraps around


def old_sentence_transformers(x, c):  # its int8 before it clipped: a cast after the shift, no clip
    lo, hi = per_dim(c)
    return (levels(x, lo, hi) - 128).to(torch.int8)


def cut_toward_zero(x, c):
    lo, hi = per_dim(c)
    return (levels(x, lo, hi) - 128).clamp(-128, 127).to(torch.int8)


def not_shifted(x, c):
    lo, hi = per_dim(c)
    return levels(x, lo, hi).round().clamp(0, 255).to(torch.int8)


def steps_256(x, c):
    lo, hi = per_dim(c)
    return (levels(x, lo, hi, steps=256).floor().clamp(0, 255) - 128).to(torch.int8)


def levels_255(x, c):
    lo, hi = per_dim(c)
    return (levels(x, lo, hi, steps=254).round().clamp(0, 254) - 127).to(torch.int8)


def in_place(x, c):
    x -= c.min(dim=0).values
    return nearest(x, c)


@pytest.mark.parametrize(
    "attempt, hint",
    [
        (unfinished, "Replace `raise NotImplementedError`"),
        (lambda x, c: None, "returned None"),
        (lambda x, c: x[0, 99], "raised IndexError"),
        (global_range, "One range for all dimensions"),
        (embeddings_range, "ranges come from the embeddings"),
        (unclipped, "outside the calibration range: clip"),
        (old_sentence_transformers, "outside the calibration range: clip"),
        (cut_toward_zero, "cuts toward zero"),
        (not_shifted, "not shifted"),
        (steps_256, "255 steps apart"),
        (levels_255, "that is 255 levels"),
        (lambda x, c: nearest(x, c).float(), "The right codes, but as float32"),
        (lambda x, c: nearest(x, c).long(), "It returned int64; cast"),
        (lambda x, c: (nearest(x, c).long() + 128).to(torch.uint8), "returned uint8"),
        (lambda x, c: int8_values(nearest(x, c), c), "not values in the original units"),
        (lambda x, c: nearest(x, c).T, "expected ("),
        (lambda x, c: nearest(x, c).tolist()[0], "expected ("),
        (in_place, "in place"),
        (lambda x, c: nearest(x, c) // 2, "differ from the package's int8_codes"),
    ],
)
def test_a_wrong_int8_fails_with_a_hint(attempt, hint, capsys):
    assert check_int8_quantization(attempt) is False
    line = capsys.readouterr().out
    assert line.startswith("int8: not yet.") and hint in line, line


def test_the_case_shows_every_mistake():
    """The case has stored values outside the calibration range on both sides, and dims of very different spreads."""
    x, c = _int8_case(0, 40, 6)
    lo, hi = per_dim(c)
    assert (x > hi).sum() >= 3 and (x < lo).sum() >= 3
    assert (hi - lo).max() / (hi - lo).min() > 20


def test_int8_codes_round_down_exactly_like_sentence_transformers():
    x, c = _int8_case(2, 200, 16)
    theirs = torch.from_numpy(sentence_transformers_int8(x, c))
    assert torch.equal(int8_codes(x, c, rounding="floor"), theirs)
    near = int8_codes(x, c)
    assert near.dtype == torch.int8 and 0 < (near != theirs).float().mean() < 1
    assert ((near.long() - theirs.long()) >= 0).all() and ((near.long() - theirs.long()) <= 1).all()


def test_int8_values_invert_the_codes_within_half_a_step():
    x, c = _int8_case(3, 50, 8)
    lo, hi = per_dim(c)
    inside = x.clamp(lo, hi)
    error = (int8_values(int8_codes(inside, c), c) - inside).abs()
    assert (error <= (hi - lo) / 255 / 2 + 1e-6).all()
    assert torch.allclose(quantize(x, "int8"), int8_values(int8_codes(x, x), x))


def test_int8_codes_refuse_mismatched_widths():
    with pytest.raises(ValueError, match="embeddings have 4 dims, calibration 3"):
        int8_codes(torch.zeros(2, 4), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="rounding='up'"):
        int8_codes(torch.zeros(2, 4), torch.zeros(5, 4), rounding="up")


def test_step_seconds_times_every_loss_at_every_step():
    """Notebook 05's timing: one model and batch, the losses in turn step by step; only the loss differs."""
    from test_text import tiny_data, tiny_settings

    from mrl_lab.core.contrastive import InfoNCE
    from mrl_lab.core.loss import MatryoshkaLoss
    from mrl_lab.experiments import text

    settings = tiny_settings()
    losses = {n: MatryoshkaLoss(InfoNCE(0.05), settings.dims, n_dims_per_step=n) for n in (None, 1)}
    times = text.step_seconds(settings, tiny_data(settings), losses, steps=4, device="cpu")
    assert list(times) == [None, 1] and all(len(t) == 4 and min(t) > 0 for t in times.values())
