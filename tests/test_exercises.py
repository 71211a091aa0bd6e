"""The notebooks' checkers pass correct solutions and name the usual mistakes."""

import pytest
import torch
import torch.nn.functional as F

from mrl_lab.core.nesting import truncate
from mrl_lab.lab.exercises import check_funnel, check_matryoshka_loss, check_recall_at_k, check_truncate


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


def scaffold(*args):
    """A scaffold cell left as shipped: the body is `...`."""
    ...


def own_ranks(queries, corpus, normalize=True):
    """The rank (1 = best) of each query's own document, corpus row i for query i."""
    if normalize:
        queries, corpus = F.normalize(queries, dim=1), F.normalize(corpus, dim=1)
    scores = queries @ corpus.T
    return (scores >= scores.diagonal()[:, None]).sum(dim=1)


def my_recall_at_k(queries, corpus, k):
    return (own_ranks(queries, corpus) <= k).float().mean().item()


def test_a_correct_recall_at_k_passes(capsys):
    assert check_recall_at_k(my_recall_at_k) is True
    assert capsys.readouterr().out.startswith("recall_at_k: correct.")


def by_topk(queries, corpus, k, normalize=True, keep=None):
    """recall@k the way a learner often writes it: topk of the score matrix, then look for the own row."""
    if normalize:
        queries, corpus = F.normalize(queries, dim=1), F.normalize(corpus, dim=1)
    top = (queries @ corpus.T).topk(keep or k, dim=1).indices
    return (top == torch.arange(len(queries))[:, None]).any(dim=1)


@pytest.mark.parametrize(
    "attempt, hint",
    [
        (unfinished, "Not written yet. Replace `raise NotImplementedError`"),
        (scaffold, "Not written yet. It returned None"),
        (lambda q, c, k: by_topk(q, c, k).float().mean(), None),  # a 0-d tensor is one number: correct
        (lambda q, c, k: by_topk(q, c, k, normalize=False).float().mean(), "dot product, not cosine"),
        (lambda q, c, k: (own_ranks(q, c) < k).float().mean(), "Off by one in k"),
        (lambda q, c, k: by_topk(q, c, k, keep=k + 1).float().mean(), "Off by one in k"),
        (lambda q, c, k: by_topk(q, c, k).sum().item(), "returned a count"),
        (lambda q, c, k: 100 * my_recall_at_k(q, c, k), "percentage"),
        (lambda q, c, k: by_topk(q, c, k), "one hit per query"),
        (lambda q, c, k: F.normalize(q, dim=1) @ F.normalize(c, dim=1).T, "return one number"),
        (lambda q, c, k: [my_recall_at_k(q, c, k)], "returned a list"),
        (lambda q, c, k: my_recall_at_k(c, q, k), "ranks the queries for each document"),
        (lambda q, c, k: my_recall_at_k(F.normalize(q, dim=1), c.div_(c.norm(dim=1, keepdim=True)), k), "in place"),
        (lambda q, c, k: 1 / 0, "raised ZeroDivisionError"),
        (lambda q, c, k: my_recall_at_k(q, c, k) + 0.01, "differs from the package's"),
    ],
)
def test_a_wrong_recall_at_k_fails_with_a_hint(attempt, hint, capsys):
    assert_verdict(check_recall_at_k, "recall_at_k", attempt, hint, capsys)


def assert_verdict(check, name, attempt, hint, capsys):
    """``check(attempt)`` passes with "correct" when ``hint`` is None, else fails with a line holding ``hint``."""
    passed = check(attempt)
    line = capsys.readouterr().out
    if hint is None:
        assert passed is True and line.startswith(f"{name}: correct.")
    else:
        assert passed is False and line.startswith(f"{name}: not yet.") and hint in line, line


def my_funnel(query, corpus, d, shortlist, k, renormalize=True, rerank_all=False, positions=False, keep=None):
    """The funnel, with switches for the usual mistakes."""
    prefix = corpus[:, :d]
    if renormalize:
        prefix = F.normalize(prefix, dim=1)
    rows = (prefix @ F.normalize(query[:d], dim=0)).topk(keep or shortlist).indices
    if rerank_all:
        rows = torch.arange(len(corpus))
    best = (F.normalize(corpus[rows], dim=1) @ F.normalize(query, dim=0)).topk(k).indices
    return best if positions else rows[best]


def test_a_correct_funnel_passes(capsys):
    assert check_funnel(my_funnel) is True
    assert capsys.readouterr().out.startswith("funnel: correct.")


def no_rerank(query, corpus, d, shortlist, k):
    return (F.normalize(corpus[:, :d], dim=1) @ F.normalize(query[:d], dim=0)).topk(k).indices


def dot_rerank(query, corpus, d, shortlist, k):
    rows = (F.normalize(corpus[:, :d], dim=1) @ F.normalize(query[:d], dim=0)).topk(shortlist).indices
    return rows[(corpus[rows] @ query).topk(k).indices]


@pytest.mark.parametrize(
    "attempt, hint",
    [
        (unfinished, "Not written yet. Replace `raise NotImplementedError`"),
        (scaffold, "Not written yet. It returned None"),
        (lambda *a: my_funnel(*a).tolist(), None),  # a list of ints is fine: correct
        (lambda *a: my_funnel(*a, renormalize=False), "not re-normalised"),
        (lambda q, c, d, n, k: my_funnel(q, F.normalize(c, dim=1), d, n, k, renormalize=False), "not re-normalised"),
        (lambda *a: my_funnel(*a, rerank_all=True), "re-ranked the whole corpus"),
        (lambda *a: my_funnel(*a, positions=True), "positions in the shortlist"),
        (lambda q, c, d, n, k: my_funnel(q, c, d, n, k, keep=k), "kept only k rows"),
        (lambda q, c, d, n, k: my_funnel(q, c, d, n, n), "the whole shortlist"),
        (lambda q, c, d, n, k: my_funnel(q, c, d, n, k + 1), "expected k ="),
        (no_rerank, "prefix's top k"),
        (dot_rerank, "dot products"),
        (lambda *a: my_funnel(*a).flip(0), "wrong order"),
        (lambda *a: my_funnel(*a)[None], "1-D"),
        (lambda *a: "rows", "return k row indices"),
        (lambda q, c, d, n, k: my_funnel(q, c.mul_(2), d, n, k), "in place"),
        (lambda q, c, d, n, k: my_funnel(q, c, d, n, k) + 1, "differ from AdaptiveIndex"),
        (lambda q, c, d, n, k: c[1000], "raised IndexError"),
    ],
)
def test_a_wrong_funnel_fails_with_a_hint(attempt, hint, capsys):
    assert_verdict(check_funnel, "funnel", attempt, hint, capsys)
