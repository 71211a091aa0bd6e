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

import re

import torch
import torch.nn.functional as F
from torch import nn

from mrl_lab.core.loss import MatryoshkaLoss
from mrl_lab.evaluation.baselines import PCA
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
        got = type(out).__name__ if not isinstance(out, torch.Tensor) else f"a tensor of shape {tuple(out.shape)}"
        hint = f"Return one 0-dimensional tensor (got {got}), so the loss can be backpropagated."
        return _report("matryoshka_loss", False, hint)
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


def _attempt_keeping(fn, inputs: tuple, *rest, fix: str):
    """:func:`_attempt` on ``fn(*inputs, *rest)``, also refusing a function that changed ``inputs`` in place."""
    originals = tuple(x.clone() for x in inputs)
    out, problem = _attempt(fn, *inputs, *rest)
    if problem:
        return None, problem
    if not all(torch.equal(a, b) for a, b in zip(originals, inputs)):
        return None, f"It changed its inputs in place; {fix}"
    return out, None


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
        out, problem = _attempt_keeping(fn, (queries, corpus), k, fix="normalise into new tensors instead.")
        if problem:
            return _report(name, False, problem)
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
        out, problem = _attempt_keeping(fn, (query, corpus), d, shortlist, k, fix="normalise into new tensors instead.")
        if problem:
            return _report(name, False, problem)
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


def _pca_case(seed: int, n: int = 60, m: int = 20, full: int = 6):
    """Training rows with a large mean and well-separated variances along random directions; test rows with a
    mean of their own (so that fitting or centring on the test set shows)."""
    generator = torch.Generator().manual_seed(seed)
    rotation = torch.linalg.qr(torch.randn(full, full, generator=generator, dtype=torch.float64))[0]
    scales = torch.tensor([8.0, 5.0, 3.0, 2.0, 1.0, 0.5], dtype=torch.float64)[:full]
    mean = 4 + 2 * torch.randn(full, generator=generator, dtype=torch.float64)
    train = (torch.randn(n, full, generator=generator, dtype=torch.float64) * scales) @ rotation.T + mean
    shift = 3 * torch.randn(full, generator=generator, dtype=torch.float64)
    test = (torch.randn(m, full, generator=generator, dtype=torch.float64) * scales.flip(0)) @ rotation.T + mean + shift
    return train.float(), test.float()


def _directions(z: torch.Tensor, centre: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(U, S, Vh)`` of ``z - centre`` (float64): Vh's rows are the principal directions, largest variance first."""
    z = z.double()
    return torch.linalg.svd(z if centre is None else z - centre, full_matrices=False)


def _pca_mistakes(train, test, d) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """What each usual mistake returns as (train, test) projections on this case, with its hint, in order."""
    train, test = train.double(), test.double()
    mean, test_mean = train.mean(dim=0), test.mean(dim=0)
    u, _, vh = _directions(train, mean)
    raw, own = _directions(train, None)[2], _directions(test, test_mean)[2]
    top, last, columns = vh[:d].T, vh[-d:].flip(0).T, vh[:, :d]
    train_c, test_c = train - mean, test - mean
    fit_on_test = "Fit and centre on the training vectors only: the test set must not shape the projection."
    smallest = "Those are the smallest-variance directions (torch.linalg.eigh sorts ascending); keep the largest d."
    uncentred = "It fits on centred vectors but projects uncentred ones: subtract the training mean from both sets."
    own_mean = f"The test vectors are centred with their own mean. {fit_on_test}"
    own_directions = (
        "It fitted both the mean and the directions on the test set (the test vectors are projected on their "
        f"own principal directions). {fit_on_test}"
    )
    vh_columns = "Those are columns of Vh; the principal directions are its rows: project on Vh[:d].T."
    u_columns = (
        "Those are U's columns (one value per training row, scaled to length 1); the directions are the rows "
        "of Vh, so project with (z - mean) @ Vh[:d].T."
    )
    reversed_order = "The right directions in reverse order: the first column must be the largest-variance direction."
    return [
        ("It does not centre: subtract the training mean before the SVD.", train @ raw[:d].T, test @ raw[:d].T),
        (uncentred, train @ top, test @ top),
        (own_mean, train_c @ top, (test - test_mean) @ top),
        (own_directions, train_c @ top, (test - test_mean) @ own[:d].T),
        (vh_columns, train_c @ columns, test_c @ columns),
        (u_columns, u[:, :d], test_c @ top),
        (smallest, train_c @ vh[-d:].T, test_c @ vh[-d:].T),
        (smallest, train_c @ last, test_c @ last),
        (reversed_order, train_c @ top.flip(1), test_c @ top.flip(1)),
    ]


def _same_up_to_sign(out: tuple, expected: tuple) -> bool:
    """Whether ``out`` equals ``expected`` (train, test) once each column's sign is matched (on the training rows:
    a principal direction is only defined up to its sign, but one sign must serve both sets)."""
    sign = torch.where((out[0] * expected[0]).sum(dim=0) < 0, -1.0, 1.0).double()
    scale = expected[0].abs().max().item()
    return all(torch.allclose(o * sign, e, atol=2e-3 * scale, rtol=0) for o, e in zip(out, expected))


def _two_projections(out, shapes):
    """The learner's ``(train, test)`` as float64 tensors, or (None, what is wrong with their type or shape)."""
    if isinstance(out, torch.Tensor):
        return None, "It returned one tensor; return both projections, (train_d, test_d)."
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return None, f"It returned a {type(out).__name__}; return a pair of tensors, (train_d, test_d)."
    try:
        pair = tuple(torch.as_tensor(x).double() for x in out)
    except (TypeError, ValueError, RuntimeError):
        return None, "Return a pair of tensors, (train_d, test_d)."
    for part, x, shape in zip(("train", "test"), pair, shapes):
        if tuple(x.shape) != shape:
            why = " (that is the reconstruction in the original dims: return the d coordinates)" if (
                x.ndim == 2 and x.shape[0] == shape[0]) else ""  # fmt: skip
            return None, f"Its {part} projection has shape {tuple(x.shape)}; expected {shape}{why}."
    return pair, None


def _shape_hint(problem: str, d: int, full: int) -> str:
    """What a failed matrix product in a PCA attempt most likely means, from the shapes in torch's message."""
    shapes = re.search(r"\((\d+)x(\d+) and (\d+)x(\d+)\)", problem)
    if shapes and [int(x) for x in shapes.groups()[1:]] == [full, d, full]:
        return (" It multiplies by Vh[:d] untransposed: its rows are the d directions, shape (d, D); "
                "project with (z - mean) @ Vh[:d].T, shape (D, d).")  # fmt: skip
    return (" A matrix product of the wrong shapes often means the wrong singular vectors: U has one "
            "row per training vector; the directions are the rows of Vh, (k, D).")  # fmt: skip


def check_pca_projection(fn) -> bool:
    """Grade ``fn(train, test, d)``: both sets centred with the training mean and projected on the first ``d``
    principal directions of the centred training vectors, as ``(train_d, test_d)`` of shapes ``(N, d)`` and
    ``(M, d)``, like :class:`~mrl_lab.evaluation.baselines.PCA`. Each direction may come with either sign."""
    name = "pca_projection"
    for seed, d in ((0, 2), (1, 3)):
        train, test = _pca_case(seed)
        out, problem = _attempt_keeping(fn, (train, test), d, fix="subtract the mean into new tensors.")
        if problem and ("mat1 and mat2" in problem or "size of tensor" in problem):
            problem += _shape_hint(problem, d, train.shape[1])
        if problem:
            return _report(name, False, problem)
        case = f"For d={d}"
        pair, problem = _two_projections(out, ((len(train), d), (len(test), d)))
        if problem:
            return _report(name, False, f"{case}: {problem}")
        fitted = PCA().fit(train)
        expected = tuple(fitted.transform(z, d).double() for z in (train, test))
        if _same_up_to_sign(pair, expected):
            continue
        hint = next((h for h, *wrong in _pca_mistakes(train, test, d) if _same_up_to_sign(pair, wrong)), None)
        if hint is None and _same_up_to_sign(pair[:1], expected[:1]):
            hint = "Its training projection is right but its test one is not: project the test set the same way."
        elif hint is None:
            hint = "Its values differ from the package's PCA: centre with the training mean, SVD, project on Vh[:d].T."
        return _report(name, False, f"{case}: {hint}")
    return _report(name, True, "It matches the package's PCA (mrl_lab.evaluation.baselines), up to each sign.")


def _int8_case(seed: int, n: int, dims: int):
    """Vectors to store and calibration vectors whose dimensions have very different spreads; a few of the
    stored values fall outside the calibration range (where clipping shows)."""
    generator = torch.Generator().manual_seed(seed)
    spread = torch.logspace(-1.5, 0.5, dims)  # 0.03 .. 3: one range for all dims would squash the narrow ones
    calibration = torch.randn(300, dims, generator=generator) * spread
    embeddings = (torch.randn(n, dims, generator=generator) * 1.5 + 0.1) * spread
    return embeddings, calibration


def _int8_levels(x, lo, hi, rule: str = "nearest", steps: int = 255, shift: int = 128, clip: bool = True):
    """The int8 codes (as int64) of one way to quantise, and where its answer is a toss-up: a value within
    1e-3 of a level's boundary, where float32 and float64 arithmetic may pick different levels."""
    t = (x.double() - lo.double()) / ((hi.double() - lo.double()) / steps)
    if rule == "nearest":
        level, unsure = t.round(), (t - t.floor() - 0.5).abs() < 1e-3
    elif rule == "floor":
        level, unsure = t.floor(), (t - t.round()).abs() < 1e-3
    else:  # "toward zero": a cast to int8 after the shift cuts toward zero
        level, unsure = (t - shift).trunc() + shift, (t - t.round()).abs() < 1e-3
    if clip:
        level = level.clamp(0, min(steps, 255))  # 256 steps: the top level is still 255 (127 once shifted)
    return (level - shift).long(), unsure


def _same_codes(codes: torch.Tensor, expected: tuple, where=None) -> bool:
    """``codes`` equal ``expected`` (codes, toss-ups) everywhere (or at ``where``), up to one level at a toss-up."""
    want, unsure = expected
    ok = (codes == want) | (unsure & ((codes - want).abs() <= 1))
    return bool(ok[where].all() if where is not None else ok.all())


def _int8_mistakes(x, calibration) -> list[tuple[str, tuple]]:
    """What each typical mistake returns on this case (with both accepted roundings), with its hint."""
    lo, hi = calibration.min(dim=0).values, calibration.max(dim=0).values
    mistakes = []
    for rule in ("nearest", "floor"):
        right = _int8_levels(x, lo, hi, rule)
        mistakes += [
            ("One range for all dimensions: give each dimension its own min and max (min(dim=0), max(dim=0)), "
             "or the narrow dimensions get only a few of the 256 levels.",
             _int8_levels(x, calibration.min(), calibration.max(), rule)),
            ("The ranges come from the embeddings; take them from the calibration vectors (the vectors you "
             "store later are not seen in advance).",
             _int8_levels(x, x.min(dim=0).values, x.max(dim=0).values, rule)),
            ("The codes are not shifted: levels 0..255 cast to int8 wrap around (128 becomes -128); subtract 128 "
             "first.", (right[0] + 128 - 256 * (right[0] >= 0), right[1])),
            ("Off by one in the number of levels: 256 levels are 255 steps apart, step = (max - min) / 255, so "
             "min is -128 and max is 127.", _int8_levels(x, lo, hi, rule, steps=256)),
            ("Off by one in the number of levels: that is 255 levels (-127..127); int8 has 256 (-128..127), "
             "step = (max - min) / 255.", _int8_levels(x, lo, hi, rule, steps=254, shift=127)),
        ]  # fmt: skip
    cut = ("A cast to int8 cuts toward zero, so negative codes move up and positive ones down: round the level "
           "(torch.round) before you shift and cast.")  # fmt: skip
    return mistakes + [(cut, _int8_levels(x, lo, hi, "toward zero"))]


def _int8_dtype_hint(codes: torch.Tensor, accepted: list) -> str:
    """What to say about codes that are not int8."""
    kind = str(codes.dtype).removeprefix("torch.")
    if codes.dtype == torch.uint8:
        return "It returned uint8 (0..255); int8 codes run -128..127: subtract 128 from the level, cast to int8."
    if codes.dtype.is_floating_point:
        if any(_same_codes(codes.double().round().long(), a) for a in accepted):
            return f"The right codes, but as {kind}: cast them to int8 (.to(torch.int8)), one byte per number."
        return f"It returned {kind} numbers; return the int8 codes (-128..127), not values in the original units."
    return f"It returned {kind}; cast the codes to int8 (.to(torch.int8)): one byte per number."


def _int8_value_hint(codes: torch.Tensor, x: torch.Tensor, calibration: torch.Tensor, accepted: list) -> str:
    """The likely mistake behind int8 codes of the right shape and dtype but the wrong values."""
    hint = next((h for h, wrong in _int8_mistakes(x, calibration) if _same_codes(codes, wrong)), None)
    if hint is not None:
        return hint
    lo, hi = calibration.min(dim=0).values, calibration.max(dim=0).values
    inside = (x >= lo) & (x <= hi)
    unclipped = [_int8_levels(x, lo, hi, rule, clip=False) for rule in ("nearest", "floor", "toward zero")]
    if any(_same_codes(codes, v, inside) for v in accepted + unclipped):
        return ("Wrong only where a value lies outside the calibration range: clip the level to 0..255 before "
                "casting, or it wraps around (just above the max becomes a large negative code).")  # fmt: skip
    want = accepted[0][0]
    r, j = (codes != want).nonzero()[0].tolist()
    return (f"Its codes differ from the package's int8_codes at {int((codes != want).sum())} of {codes.numel()} "
            f"numbers (e.g. row {r}, dim {j}: expected {want[r, j].item()}, got {codes[r, j].item()}); per dimension: "
            "level = (x - min) / ((max - min) / 255), rounded, clipped to 0..255, minus 128.")  # fmt: skip


def check_int8_quantization(fn) -> bool:
    """Grade ``fn(embeddings, calibration)``: int8 codes of ``embeddings`` (N, D), as sentence-transformers'
    ``quantize_embeddings(embeddings, "int8", calibration_embeddings=calibration)`` makes them.

    Accepted, exactly: per dimension, ``min`` and ``max`` over ``calibration``, ``step = (max - min) / 255``,
    ``level = (x - min) / step`` rounded to the nearest integer (:func:`~mrl_lab.evaluation.quantize.int8_codes`)
    or down (sentence-transformers 6.x's ``np.floor``), clipped to 0..255, minus 128, as an int8 tensor
    or array; a level may differ by one only where ``(x - min) / step`` is within 1e-3 of a boundary.
    """
    name = "int8"
    for seed, n, dims in ((0, 40, 6), (1, 25, 10)):
        x, calibration = _int8_case(seed, n, dims)
        out, problem = _attempt_keeping(fn, (x, calibration), fix="compute the codes into a new tensor.")
        if problem:
            return _report(name, False, problem)
        case = f"For {n} vectors of {dims} dims"
        try:
            codes = torch.as_tensor(out)
        except (TypeError, ValueError, RuntimeError):
            return _report(name, False, f"{case}: it returned a {type(out).__name__}; return an (N, D) int8 tensor.")
        if tuple(codes.shape) != (n, dims):
            return _report(name, False, f"{case}: it returned shape {tuple(codes.shape)}; expected ({n}, {dims}).")
        lo, hi = calibration.min(dim=0).values, calibration.max(dim=0).values
        accepted = [_int8_levels(x, lo, hi, rule) for rule in ("nearest", "floor")]
        if codes.dtype != torch.int8:
            return _report(name, False, f"{case}: {_int8_dtype_hint(codes, accepted)}")
        if not any(_same_codes(codes.long(), a) for a in accepted):
            return _report(name, False, f"{case}: {_int8_value_hint(codes.long(), x, calibration, accepted)}")
    return _report(name, True, "Per-dimension calibration ranges, 256 levels, rounded and clipped: int8 codes "
                               "like the package's int8_codes and sentence-transformers'.")  # fmt: skip


def _bootstrap_case(seed: int, n: int, only_a: float, only_b: float):
    """Per-query hits of two methods on the same ``n`` queries that mostly agree (as two methods do): a share
    ``only_a`` of queries only ``a`` gets right, ``only_b`` only ``b``; the rest both get right or both miss."""
    generator = torch.Generator().manual_seed(seed)
    u, shared = torch.rand(n, generator=generator), torch.rand(n, generator=generator) < 0.6
    a_only, b_only = u < only_a, (u >= only_a) & (u < only_a + only_b)
    rest = ~(a_only | b_only)
    return a_only | (rest & shared), b_only | (rest & shared)


def _two_ends(out):
    """The learner's ``(low, high)`` as floats: ``(values, None)``, or ``(values, what is wrong with its shape)``."""
    try:
        values = [float(v) for v in (out if hasattr(out, "__len__") else [out])]
    except (TypeError, ValueError):
        return [], f"It returned a {type(out).__name__}; return two numbers, (low, high)."
    if len(values) == 3:
        return values, "It returned three numbers; return only the interval, (low, high), not the difference too."
    if len(values) != 2:
        return values, f"It returned {len(values)} number(s); return two, the interval's ends (low, high)."
    return values, None


def _bootstrap_mistake(low, high, diff, ref_low, ref_high) -> str | None:
    """The usual mistake that gives ``(low, high)`` where the package's paired interval is ``(ref_low, ref_high)``."""
    width, mine, centre = ref_high - ref_low, high - low, (low + high) / 2
    if abs(low / 100 - ref_low) < 0.1 * width and abs(high / 100 - ref_high) < 0.1 * width:
        return "It is in percent; return fractions (0.012 for 1.2 points), as the hits' means are."
    if low > high:
        return "low > high: return (low, high), the smaller end first."
    if abs(centre + diff) < 0.2 * width and abs(diff) > width:
        return "It is the interval of b minus a; the difference is mean(hits_a) - mean(hits_b)."
    if mine < 0.05 * width:
        return (
            "Every resample gave the same difference: resample the queries *with replacement* "
            "(rng.integers(0, n, size=n)); a permutation keeps every mean as it was."
        )
    if high < diff or low > diff:
        return (
            "The interval misses the difference itself. np.percentile takes percents (2.5, 97.5), np.quantile "
            "fractions (0.025, 0.975); and take the difference of the two means in each resample."
        )
    if mine > 1.5 * width:
        return (
            "Much wider than the paired interval: the two methods were resampled independently (unpaired). Draw "
            "one set of query indices per resample and use it for both, then take the difference."
        )
    if 0.75 * width < mine < 0.9 * width:
        return "That is a 90 % interval (percentiles 5 and 95); a 95 % one keeps the middle 95 %: 2.5 and 97.5."
    if abs(mine - width) > 0.1 * width or abs(centre - (ref_low + ref_high) / 2) > 0.1 * width:
        return (
            f"Its interval [{low:+.4f}, {high:+.4f}] differs from the package's paired bootstrap "
            f"[{ref_low:+.4f}, {ref_high:+.4f}]; resample query indices, the same ones for both methods."
        )
    return None


def _not_an_interval(values, diff, se, mean_a, mean_b) -> str | None:
    """What one number (or a pair that is not an interval) is, if it is one of the usual stand-ins."""

    def near(v, target, tol):
        return abs(v - target) < tol

    def spread(v):
        return near(v, se, 0.25 * se) or near(v, 1.96 * se, 0.25 * se)

    if len(values) == 2 and near(values[0], diff, 0.1 * se) and spread(values[1]):
        return "It returned (difference, standard error); return the interval's two ends, (low, high)."
    if len(values) == 1 and near(values[0], diff, 0.1 * se):
        return "It returned the difference itself; return the interval around it, (low, high)."
    if len(values) == 1 and spread(values[0]):
        return "It returned a standard error (or a half-width); return the interval's two ends, (low, high)."
    if len(values) == 1 and (near(values[0], mean_a, 1e-6) or near(values[0], mean_b, 1e-6)):
        return "It returned one method's mean; return the interval of the difference of the two, (low, high)."
    return None


def check_bootstrap_interval(fn) -> bool:
    """Grade ``fn(hits_a, hits_b, resamples, seed)``: the 95 % paired bootstrap interval ``(low, high)`` of
    ``mean(hits_a) - mean(hits_b)``, two methods' 0/1 hits on the same queries, like
    :func:`~mrl_lab.evaluation.intervals.accuracy_interval` with a baseline. Compared statistically: a
    bootstrap's ends move a little with its seed, so no seed has to match the package's."""
    from mrl_lab.evaluation.intervals import accuracy_interval

    name = "bootstrap_interval"
    for seed, n, only_a, only_b in ((0, 2000, 0.07, 0.03), (1, 1500, 0.03, 0.08)):
        a, b = _bootstrap_case(seed, n, only_a, only_b)
        case = f"For {n} queries"
        out, problem = _attempt_keeping(fn, (a, b), 3000, seed, fix="resample into new arrays instead.")
        if problem:
            return _report(name, False, problem)
        diff, ref_low, ref_high = accuracy_interval(a, baseline=b, resamples=40_000, seed=seed)
        se = (ref_high - ref_low) / 3.92  # the resampled differences' spread (a 95 % interval is about +-1.96 se)
        values, problem = _two_ends(out)
        if len(values) in (1, 2):  # one number, or (difference, standard error): which number is it?
            problem = _not_an_interval(values, diff, se, a.float().mean().item(), b.float().mean().item()) or problem
        if problem:
            return _report(name, False, f"{case}: {problem}")
        again, _ = _attempt(fn, a, b, 3000, seed)
        if _two_ends(again)[0] != values:
            hint = "The same seed gave another interval; draw with np.random.default_rng(seed) (or a seeded Generator)."
            return _report(name, False, f"{case}: {hint}")
        hint = _bootstrap_mistake(*values, diff, ref_low, ref_high)
        if hint:
            return _report(name, False, f"{case}: {hint}")
    return _report(name, True, "Its intervals match the package's paired bootstrap (accuracy_interval) on every case.")


def _cheapest_case(seed: int):
    """A check table of one method and metric: sizes x (float32, int8, binary) x re-score, with shares kept."""
    import pandas as pd

    from mrl_lab.evaluation.quantize import storage_bytes

    g = torch.Generator().manual_seed(seed)
    rows = []
    for d in (8, 16, 32, 64, 128):
        for precision, loss in (("float32", 0.0), ("int8", 0.01), ("binary", 0.08)):
            for rescore in (False, True):
                base = 1 - 0.3 / d**0.5 - (0.0 if rescore else loss)
                kept = round(min(1.0, base + 0.01 * float(torch.rand(1, generator=g))), 3)
                rows.append({"size": d, "precision": precision, "rescore": rescore,
                             "bytes": storage_bytes(1, d, precision), "kept": kept})  # fmt: skip
    return pd.DataFrame(rows)


def check_cheapest(fn) -> bool:
    """Grade ``fn(table, keep)``: ``(size, precision, rescore)`` of the row with the fewest bytes per vector whose
    ``kept`` is at least ``keep`` (equal bytes: no re-scoring first, then the higher share), or None if none is."""
    from mrl_lab.experiments.check import Settings, cheapest

    name = "cheapest"
    for seed, keep in ((0, 0.95), (1, 0.9), (2, 0.97), (3, 0.8), (4, 1.5)):
        table = _cheapest_case(seed)
        if seed == 2:  # a row exactly at the target must count
            table.loc[(table["size"] == 16) & (table["precision"] == "binary") & table["rescore"], "kept"] = keep
        want = cheapest(Settings(keep=min(keep, 1.0)), table.assign(method="m", metric="x"), "x", "m")
        want = None if keep > 1 or want is None else (int(want["size"]), want["precision"], bool(want["rescore"]))
        try:
            out = fn(table.copy(), keep)
        except NotImplementedError:
            return _report(name, False, f"{NOT_WRITTEN} Replace `raise NotImplementedError` with your code.")
        except Exception as e:  # a learner's bug: a hint, not a stopped notebook
            return _report(name, False, f"Your function raised {type(e).__name__}: {e}")
        if want is None:
            if out is not None:
                return _report(name, False, f"With keep={keep} no row keeps enough; return None, not {out!r}.")
            continue
        if out is None:
            hint = " A row exactly at the target keeps enough: compare with >=, not >." if seed == 2 else ""
            return _report(name, False, f"With keep={keep} it returned None, but {want} keeps enough.{hint}")
        if not isinstance(out, tuple) or len(out) != 3:
            return _report(name, False, f"Return a tuple (size, precision, rescore); got {out!r}.")
        got = (int(out[0]), str(out[1]), bool(out[2]))
        if got == want:
            continue
        ok = table[table["kept"] >= keep]
        strict = table[table["kept"] > keep].sort_values(["bytes", "rescore", "kept"], ascending=[True, True, False])
        if got == tuple(ok.sort_values("kept", ascending=False).iloc[0][["size", "precision", "rescore"]]):
            hint = "It picked the row that keeps the most; pick the one with the fewest bytes that keeps enough."
        elif len(strict) and got == tuple(strict.iloc[0][["size", "precision", "rescore"]]):
            hint = "A row exactly at the target keeps enough: compare with >=, not >."
        elif got[:2] == want[:2]:
            hint = "Right size and precision; among equal bytes, prefer no re-scoring (it reads more at query time)."
        elif got[0] == int(ok["size"].min()):
            hint = "It picked the smallest size; sizes at int8 or binary take fewer bytes: sort by bytes."
        else:
            hint = "Keep the rows with kept >= keep, then take the fewest bytes (ties: no re-score, then higher kept)."
        return _report(name, False, f"With keep={keep}: expected {want}, got {got}. {hint}")
    return _report(name, True, "It picks the row that mrl_lab.experiments.check.cheapest picks, on every table.")


def _top_k_mistake(out: torch.Tensor, codes: torch.Tensor, k: int) -> str:
    """What a wrong top-k most likely did, for the hint."""
    by_column = torch.zeros_like(codes).scatter(0, codes.topk(k, dim=0).indices, codes.topk(k, dim=0).values)
    by_size = torch.zeros_like(codes).scatter(1, codes.abs().topk(k, dim=1).indices,
                                              codes.gather(1, codes.abs().topk(k, dim=1).indices))  # fmt: skip
    kept = (out != 0).sum(dim=1)
    if torch.allclose(out, by_column):
        return "It kept each column's k largest; keep each row's (topk along dim=1)."
    if torch.allclose(out, by_size):
        return "It kept the k largest in size (abs), negatives too; keep the k largest values."
    if (kept != k).any() and (out == codes * (out != 0)).all():
        return f"The kept values are right, but rows keep {sorted(set(kept.tolist()))} entries; keep exactly k={k}."
    return "Keep each row's k largest values where they are and set every other entry to 0 (topk, then scatter)."


def check_top_k(fn) -> bool:
    """Grade ``fn(codes, k)``: each row of ``codes`` with its ``k`` largest values kept in place, every other entry
    0 (a CSR code's sparsification, as sentence-transformers' ``SparseAutoEncoder`` does it)."""
    name = "top_k"
    g = torch.Generator().manual_seed(0)
    codes = torch.randn(5, 24, generator=g)
    original = codes.clone()
    for k in (1, 4, 24):
        out, problem = _attempt(fn, codes, k)
        if problem:
            return _report(name, False, problem)
        if not torch.equal(codes, original):
            return _report(name, False, "It changed its input in place; return a new tensor (e.g. torch.zeros_like).")
        if not isinstance(out, torch.Tensor) or out.shape != codes.shape:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            hint = " Those look like the values alone: put them back at their indices." if shape == (5, k) else ""
            return _report(name, False, f"For k={k} it returned {shape}; expected the codes' shape (5, 24).{hint}")
        top = codes.topk(k, dim=1)
        expected = torch.zeros_like(codes).scatter(1, top.indices, top.values)
        if not torch.allclose(out.float(), expected, atol=1e-6):
            return _report(name, False, f"For k={k}: {_top_k_mistake(out.float(), codes, k)}")
    return _report(name, True, "Each row keeps its k largest values in place and zeros elsewhere, as CSR's top-k does.")
