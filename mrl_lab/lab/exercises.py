"""Checkers for the notebooks' exercises: grade a learner's function against the package's own.

Each check runs the attempt on a few random inputs, compares it with the package (``truncate`` and
``MatryoshkaLoss`` in the quickstart, ``target_ranks`` in the text notebook, ``AdaptiveIndex`` in the
adaptive one), prints one line and returns ``True`` (passed) or ``False``. A wrong answer gets a
hint that names the likely mistake; an unfinished one (still ``raise NotImplementedError``, or a
body of ``...`` that returns ``None``) gets "not written yet". A check never raises, so a notebook
with its exercises left blank still runs top to bottom, as CI runs it.

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
from mrl_lab.evaluation.metrics import recall_at_k
from mrl_lab.evaluation.search import search, target_ranks
from mrl_lab.serving.funnel import AdaptiveIndex

NOT_WRITTEN = "Not written yet."


def _report(name: str, passed: bool, message: str) -> bool:
    print(f"{name}: {'correct' if passed else 'not yet'}. {message}")
    return passed


def _attempt(fn, *args):
    """Call the learner's function; return (result, None) or (None, what went wrong)."""
    try:
        out = fn(*args)
    except NotImplementedError:
        return None, f"{NOT_WRITTEN} Replace `raise NotImplementedError` with your code, run that cell, then this one."
    except Exception as e:  # a learner's bug: report it as a hint instead of stopping the notebook
        return None, f"Your function raised {type(e).__name__}: {e}"
    if out is None:
        return None, f"{NOT_WRITTEN} It returned None: write the body (and its `return`), run that cell, then this one."
    return out, None


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


def _inputs_kept(originals, args) -> bool:
    return all(torch.equal(a, b) for a, b in zip(originals, args))


def _one_number(out, m: int):
    """The learner's recall as a float, or (None, what is wrong with its type or shape)."""
    if isinstance(out, bool):
        return None, "It returned True/False; return the share of queries, a number between 0 and 1."
    if hasattr(out, "shape") and tuple(out.shape) != ():
        shape = tuple(out.shape)
        if shape == (m,):
            return None, f"It returned shape {shape}, one hit per query; return their mean, one number."
        return None, f"It returned shape {shape}; return one number, the share of the {m} queries."
    try:
        return float(out), None
    except (TypeError, ValueError):
        return None, f"It returned a {type(out).__name__}; return one number, the share of queries."


def _recall_case(seed: int, m: int, d: int):
    """``m`` queries near their documents; documents of very different lengths, so dot product != cosine."""
    generator = torch.Generator().manual_seed(seed)
    corpus = torch.randn(m, d, generator=generator) * torch.randn(m, 1, generator=generator).mul(1.5).exp()
    queries = F.normalize(corpus, dim=1) + 0.45 * torch.randn(m, d, generator=generator)
    return queries, corpus


def check_recall_at_k(fn) -> bool:
    """Grade ``fn(queries, corpus, k)``: the share of queries whose own document (corpus row ``i`` for
    query ``i``) is among its ``k`` most similar corpus rows by cosine similarity."""
    name = "recall_at_k"
    for seed, m, d, k in ((0, 40, 8, 5), (0, 40, 8, 1), (1, 30, 6, 3)):
        queries, corpus = _recall_case(seed, m, d)
        originals = (queries.clone(), corpus.clone())
        out, problem = _attempt(fn, queries, corpus, k)
        if problem:
            return _report(name, False, problem)
        if not _inputs_kept(originals, (queries, corpus)):
            return _report(name, False, "It changed its inputs in place; normalise into new tensors instead.")
        value, problem = _one_number(out, m)
        if problem:
            return _report(name, False, f"For {m} queries and k={k}: {problem}")
        targets = torch.arange(m)
        expected = recall_at_k(search(queries, corpus, k, device="cpu"), targets, k)
        if abs(value - expected) < 1e-6:
            continue
        cosine = target_ranks(queries, corpus, targets)  # rank of each query's own document, 1 = best
        scores = queries @ corpus.T
        dot = (scores >= scores.diagonal()[:, None]).sum(dim=1)
        transposed = target_ranks(corpus, queries, targets)

        def share(ranks, k):
            return (ranks <= k).float().mean().item()

        if abs(value - expected * m) < 1e-4 and expected * m != expected:
            hint = f"It returned a count ({value:g} of {m} queries); divide by the number of queries for a share."
        elif abs(value - 100 * expected) < 1e-4:
            hint = "It returned a percentage; return the share, between 0 and 1."
        elif abs(value - share(dot, k)) < 1e-6:
            hint = (
                "It ranks by dot product, not cosine: long documents win whatever their direction. "
                "Normalise the rows (F.normalize(..., dim=1)) before comparing; cut vectors are not unit length."
            )
        elif abs(value - share(cosine, k - 1)) < 1e-6 or abs(value - share(cosine, k + 1)) < 1e-6:
            hint = "Off by one in k: a hit is a rank 1..k (rank <= k), i.e. the first k of topk(k), no more, no fewer."
        elif abs(value - share(transposed, k)) < 1e-6:
            hint = "It ranks the queries for each document; rank the corpus for each query (scores = q @ corpus.T)."
        else:
            hint = "Its value differs from the package's (target_ranks <= k, averaged); compare cosines row by row."
        return _report(name, False, f"For {m} queries and k={k}: {hint} (expected {expected:.3f}, got {value:.3f})")
    return _report(name, True, "It equals the package's recall@k (mrl_lab.evaluation.metrics) on every case.")


def _funnel_case(seed: int, n: int = 50, full: int = 16):
    """Database rows of different lengths and one query near row 0 (a case where the funnel's mistakes show)."""
    generator = torch.Generator().manual_seed(seed)
    corpus = torch.randn(n, full, generator=generator) * torch.rand(n, 1, generator=generator).add(0.2)
    query = F.normalize(corpus[0], dim=0) + 0.6 * torch.randn(full, generator=generator)
    return query, corpus


def _funnel_mistakes(query, corpus, d, shortlist, k) -> list[tuple[str, torch.Tensor]]:
    """What each typical mistake returns on this case, with its hint, in the order they are named."""
    unit, q = F.normalize(corpus, dim=1), F.normalize(query, dim=0)
    prefix_q = F.normalize(query[:d], dim=0)

    def rerank(rows, vectors=unit, keep=k):
        return rows[(vectors[rows] @ q).topk(keep).indices]

    right = (F.normalize(corpus[:, :d], dim=1) @ prefix_q).topk(shortlist).indices
    renorm = (
        "The shortlist was scored on prefixes that are not re-normalised: cut each row to d dims, then F.normalize."
    )
    return [
        (renorm, rerank((corpus[:, :d] @ prefix_q).topk(shortlist).indices)),
        (renorm, rerank((unit[:, :d] @ prefix_q).topk(shortlist).indices)),
        (
            "It re-ranked the whole corpus at full width (exact search); re-rank only the shortlist.",
            rerank(torch.arange(len(corpus))),
        ),
        (
            "Those are positions in the shortlist; map them back to corpus rows (shortlist[positions]).",
            (unit[right] @ q).topk(k).indices,
        ),
        ("That is the prefix's top k: re-rank the shortlist with the full vectors.", right[:k]),
        ("The re-rank uses dot products; use full-width cosine (normalise the full rows too).", rerank(right, corpus)),
        (
            "The shortlist kept only k rows; keep `shortlist` rows (>= k) by the prefix, then the best k.",
            rerank(right[:k]),
        ),
    ]


def check_funnel(fn) -> bool:
    """Grade ``fn(query, corpus, d, shortlist, k)``: the ``k`` best corpus rows (indices, best first) for one
    ``(D,)`` query, found by keeping the ``shortlist`` best rows by cosine on the first ``d`` dims (cut and
    re-normalised), then re-ranking those by full-width cosine, like :class:`~mrl_lab.serving.funnel.AdaptiveIndex`."""
    name = "funnel"
    for seed, d, shortlist, k in ((4, 4, 8, 3), (15, 2, 6, 2)):
        query, corpus = _funnel_case(seed)
        originals = (query.clone(), corpus.clone())
        out, problem = _attempt(fn, query, corpus, d, shortlist, k)
        if problem:
            return _report(name, False, problem)
        if not _inputs_kept(originals, (query, corpus)):
            return _report(name, False, "It changed its inputs in place; normalise into new tensors instead.")
        case = f"For d={d}, shortlist={shortlist}, k={k}"
        try:
            rows = torch.as_tensor(out).long()
        except (TypeError, ValueError, RuntimeError):
            return _report(name, False, f"{case}: it returned a {type(out).__name__}; return k row indices.")
        if rows.ndim != 1:
            hint = f"it returned shape {tuple(rows.shape)}; return a 1-D list of k = {k} row indices for the one query."
            return _report(name, False, f"{case}: {hint}")
        if len(rows) != k:
            more = " (the whole shortlist: keep its best k)" if len(rows) == shortlist else ""
            return _report(name, False, f"{case}: it returned {len(rows)} rows{more}; expected k = {k}.")
        expected = AdaptiveIndex(corpus, coarse_dims=[d]).search(query[None], k, stages=[(d, shortlist)])[0]
        if torch.equal(rows, expected):
            continue
        hint = next(
            (h for h, wrong in _funnel_mistakes(query, corpus, d, shortlist, k) if torch.equal(rows, wrong)), None
        )
        if hint is None and sorted(rows.tolist()) == sorted(expected.tolist()):
            hint = "The right rows in the wrong order: best first, by full-width cosine, descending."
        elif hint is None:
            hint = f"Its rows differ from AdaptiveIndex's funnel: expected {expected.tolist()}, got {rows.tolist()}."
        return _report(name, False, f"{case}: {hint}")
    return _report(name, True, "It returns the same rows, in the same order, as AdaptiveIndex's funnel.")
