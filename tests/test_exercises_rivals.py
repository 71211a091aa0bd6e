"""Notebook 07's exercise: CSR's top-k sparsification, graded with a hint that names the likely mistake."""

import pytest
import torch

from mrl_lab.lab.exercises import check_top_k


def right(c, k):
    t = c.topk(k, dim=1)
    return torch.zeros_like(c).scatter(1, t.indices, t.values)


def per_column(c, k):
    t = c.topk(k, dim=0)
    return torch.zeros_like(c).scatter(0, t.indices, t.values)


def by_size(c, k):
    i = c.abs().topk(k, dim=1).indices
    return torch.zeros_like(c).scatter(1, i, c.gather(1, i))


def values_only(c, k):
    return c.topk(k, dim=1).values


def one_too_many(c, k):
    return right(c, min(k + 1, c.shape[1]))


def in_place(c, k):
    c[c < c.topk(k, dim=1).values[:, -1:]] = 0
    return c


def unwritten(c, k):
    raise NotImplementedError


def test_the_right_top_k_passes(capsys):
    assert check_top_k(right) is True
    assert "top_k: correct" in capsys.readouterr().out


@pytest.mark.parametrize("fn, hint", [
    (per_column, "each column's k largest"), (by_size, "in size (abs)"), (values_only, "values alone"),
    (one_too_many, "keep exactly k=1"), (in_place, "in place"), (unwritten, "Not written yet"),
])  # fmt: skip
def test_each_usual_slip_fails_with_its_hint(fn, hint, capsys):
    assert check_top_k(fn) is False
    assert hint in capsys.readouterr().out


def test_the_exercise_matches_sentence_transformers_top_k_on_a_csr_code(tmp_cache):
    from mrl_lab.experiments import csr

    z = torch.nn.functional.normalize(torch.randn(64, 16), dim=1)
    model, _ = csr.train(csr.Settings(k=4, ks=(4,), k_aux=16, steps=3, batch_size=32), csr.Data(z, z), progress=False)
    every = csr.encode(model, z, model.hidden_dim)  # the whole code, every entry active
    assert torch.allclose(right(every, 4), csr.encode(model, z, 4), atol=1e-6)
