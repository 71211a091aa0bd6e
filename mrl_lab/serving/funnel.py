"""Adaptive retrieval with Matryoshka vectors: shortlist with a short prefix, re-rank with more of it.

An MRL vector's first ``d`` numbers are an embedding of their own, so one stored vector serves
every stage of a search funnel. A coarse pass scores *every* database row with the first ``d_s``
dims (cheap: ``d_s / D`` of the arithmetic) and keeps a shortlist; later stages re-score only the
shortlist with more dims. This module does it exactly (brute force in torch): the readable
reference. A served index does not scan every row: :mod:`mrl_lab.serving.ann` builds a FAISS HNSW or IVF
index on the short prefix and re-ranks its shortlist the same way.

References:
    Kusupati et al., "Matryoshka Representation Learning", NeurIPS 2022, section 4.3
    ("Adaptive Retrieval" and "Funnel Retrieval").
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mrl_lab.core.checks import check_count, check_dims, check_embeddings, check_tensor


def _top_k(queries: torch.Tensor, rows: torch.Tensor, k: int, chunk: int, group: int = 16) -> torch.Tensor:
    """Indices of each query's ``k`` best-scoring ``rows`` (dot product), best first.

    Selecting the top ``k`` of a million scores per query costs more than computing scores from a
    short prefix, so selection is done on *block maxima*: rows are taken in blocks of ``group``,
    each block keeps only its best score, the top ``k`` blocks are picked, and only their rows are
    scored again and ranked. This is exact (apart from ties): a row in the top ``k`` lies in a
    block whose maximum is at least its score, and at most ``k - 1`` other blocks can beat that.
    Scores are computed ``chunk`` rows at a time, so the full score matrix is never stored.
    """
    n_rows, n_queries = len(rows), len(queries)
    n_blocks = n_rows // group
    if k * group * 16 > n_rows:  # the candidates would be a large share of the rows: plain top-k, in chunks
        return _top_k_plain(queries, rows, k, chunk)
    maxima = torch.empty(n_queries, n_blocks, dtype=queries.dtype, device=queries.device)
    chunk = max(group, chunk // group * group)
    for start in range(0, n_blocks * group, chunk):
        stop = min(start + chunk, n_blocks * group)
        scores = queries @ rows[start:stop].T
        maxima[:, start // group : stop // group] = scores.view(n_queries, -1, group).amax(dim=2)
    blocks = maxima.topk(k, dim=1).indices  # (M, k) best blocks
    candidates = (blocks[:, :, None] * group + torch.arange(group, device=blocks.device)).flatten(1)
    tail = torch.arange(n_blocks * group, n_rows, device=blocks.device)  # rows after the last full block
    tail = tail.expand(n_queries, -1)
    candidates = torch.cat([candidates, tail], dim=1)
    best = []
    for i in range(0, n_queries, 64):  # re-score the candidates, 64 queries at a time to bound memory
        c = candidates[i : i + 64]
        scores = torch.einsum("md,mnd->mn", queries[i : i + 64], rows[c])
        best.append(c.gather(1, scores.topk(k, dim=1).indices))
    return torch.cat(best)


def _top_k_plain(queries: torch.Tensor, rows: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Top ``k`` per query, scoring ``chunk`` rows at a time and merging with a running top ``k``."""
    best_scores = best_idx = None
    for start in range(0, len(rows), chunk):
        scores = queries @ rows[start : start + chunk].T
        top = scores.topk(min(k, scores.shape[1]), dim=1)
        scores, idx = top.values, top.indices + start
        if best_scores is not None:
            both = torch.cat([best_scores, scores], dim=1)
            merged = both.topk(min(k, both.shape[1]), dim=1)
            scores, idx = merged.values, torch.cat([best_idx, idx], dim=1).gather(1, merged.indices)
        best_scores, best_idx = scores, idx
    return best_idx


def unit_rows(vectors: torch.Tensor) -> torch.Tensor:
    """``vectors`` as float32 rows of unit length: the same tensor when they already are (no copy of a
    large database), else a normalised copy.

    Example:
        >>> z = torch.nn.functional.normalize(torch.randn(3, 4), dim=1)
        >>> unit_rows(z) is z, bool(torch.allclose(unit_rows(2 * z), z))
        (True, True)
    """
    full = check_tensor(vectors, "unit_rows: vectors", ("N", "dim")).float()
    unit = torch.allclose(full.norm(dim=1), torch.ones(len(full), device=full.device), atol=1e-5)
    return full if unit else F.normalize(full, dim=1)


class AdaptiveIndex:
    """A database of Matryoshka vectors searchable exactly or through a funnel of growing sizes.

    Stores the unit-length full vectors and, for each coarse size, a contiguous copy of the
    re-normalised prefix (``d_s / D`` extra memory each; reading a contiguous ``(N, d_s)`` block
    is what makes the coarse pass fast).

    Args:
        vectors: ``(N, D)`` database embeddings from an MRL model.
        coarse_dims: sizes that may start a funnel (each gets its prefix copy).
        chunk: database rows scored at a time (bounds memory; see :func:`_top_k`).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> db = torch.randn(1000, 64)
        >>> index = AdaptiveIndex(db, coarse_dims=[16])
        >>> q = db[:5] + 0.1 * torch.randn(5, 64)
        >>> exact = index.search(q, k=10)
        >>> funnel = index.search(q, k=10, stages=[(16, 100)])  # shortlist 100 by 16 dims, re-rank at 64
        >>> funnel[:, 0].tolist()  # each query's own row is found through the funnel
        [0, 1, 2, 3, 4]
    """

    def __init__(self, vectors: torch.Tensor, coarse_dims=(), chunk: int = 4096):
        check_embeddings(vectors, "AdaptiveIndex: vectors")
        self.dim = vectors.shape[1]
        sizes = check_dims(coarse_dims or [self.dim], self.dim, where="AdaptiveIndex: coarse_dims")
        self.chunk = check_count(chunk, "chunk", "AdaptiveIndex")
        self.full = unit_rows(vectors)
        self.prefix = {d: F.normalize(self.full[:, :d], dim=1).contiguous() for d in sizes}

    def __len__(self) -> int:
        return len(self.full)

    def search(self, queries: torch.Tensor, k: int, stages=()) -> torch.Tensor:
        """The ``k`` best rows per query: exact at full width, or through ``stages``.

        Args:
            queries: ``(M, D)`` full-width query embeddings.
            k: results per query.
            stages: ``[(d_1, k_1), (d_2, k_2), ...]``: keep ``k_1`` rows by their first ``d_1``
                dims (scanning the whole database; ``d_1`` must be one of ``coarse_dims``), then
                the best ``k_2`` of those by ``d_2`` dims, and so on; the last shortlist is
                re-ranked at full width. Sizes must grow and shortlists shrink. ``()`` is exact
                full-width search.

        Returns:
            ``(M, k)`` row indices, best first.
        """
        where = "AdaptiveIndex.search"
        check_embeddings(queries, f"{where}: queries")
        if queries.shape[1] != self.dim:
            raise ValueError(f"{where}: queries have {queries.shape[1]} dims but the index holds {self.dim}")
        if not all(isinstance(st, (tuple, list)) and len(st) == 2 for st in stages):
            raise TypeError(f"{where}: stages={stages!r}; pass (size, shortlist) pairs, e.g. [(64, 400)]")
        stages = [
            (check_count(d, "a stage's size", where), check_count(n, "a stage's shortlist", where)) for d, n in stages
        ]
        sizes, lengths = [d for d, _ in stages] + [self.dim], [n for _, n in stages] + [k]
        if sizes != sorted(set(sizes)) or any(a < b for a, b in zip(lengths, lengths[1:])):
            raise ValueError(
                f"{where}: stages {stages} must grow in size (below {self.dim}) and shrink in length (to k={k})"
            )
        check_count(k, "k", where, high=len(self))
        if not k <= lengths[0] <= len(self):
            raise ValueError(f"{where}: shortlist lengths {lengths} must lie in {k}..{len(self)} (k..database rows)")
        q = queries.float()
        if not stages:
            return _top_k(F.normalize(q, dim=1), self.full, k, self.chunk)
        d, n = stages[0]
        if d not in self.prefix:
            raise ValueError(f"{where}: no prefix copy for coarse size {d}; build the index with coarse_dims={[d]}")
        shortlist = _top_k(F.normalize(q[:, :d], dim=1), self.prefix[d], n, self.chunk)
        for d, n in stages[1:] + [(self.dim, k)]:
            shortlist = rerank(F.normalize(q[:, :d], dim=1), self.full, shortlist, n)
        return shortlist


def rerank(q: torch.Tensor, full: torch.Tensor, shortlist: torch.Tensor, n: int, block: int = 32) -> torch.Tensor:
    """Keep the best ``n`` of each query's ``shortlist`` (row indices into the unit-length ``full`` vectors;
    -1 marks an empty slot, which goes last) by cosine on the first ``d = q.shape[1]`` dims. ``q`` is
    unit length; ``block`` queries at a time, so the gathered candidates stay small."""
    d = q.shape[1]
    out = []
    for i in range(0, len(q), block):
        rows = shortlist[i : i + block]
        # index_select on the flat row list: the same rows as full[rows], several times faster on a CPU
        candidates = full.index_select(0, rows.clamp_min(0).flatten()).view(*rows.shape, -1)[..., :d]
        if d < full.shape[1]:
            candidates = F.normalize(candidates, dim=2)  # a prefix of a unit vector is not unit length
        scores = (candidates @ q[i : i + block, :, None]).squeeze(2)  # (block, shortlist) cosines
        scores[rows < 0] = -math.inf
        out.append(rows.gather(1, scores.topk(n, dim=1).indices))
    return torch.cat(out)
