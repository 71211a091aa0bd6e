"""Exact nearest-neighbour search on embeddings, and the per-query ranks that retrieval metrics read."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from mrl_lab.core.checks import check_count, check_dims, check_embeddings, check_indices, check_tensor
from mrl_lab.core.nesting import truncate
from mrl_lab.runtime.budget import resolve_device

# Queries scored at a time by exact search. It bounds memory, and a score block that stays near
# the CPU's caches is faster than a large one (see benchmarks/RESULTS.md).
QUERY_CHUNK = 512


def search(
    queries: torch.Tensor,
    database: torch.Tensor,
    k: int,
    exclude_self: bool = False,
    normalize: bool = True,
    chunk: int = QUERY_CHUNK,
    device=None,
):
    """Exact search: the indices of each query's ``k`` most similar database rows.

    Args:
        queries: ``(M, d)``; database: ``(N, d)``.
        k: neighbours per query, best first.
        exclude_self: queries *are* the database (same rows); skip each row's match with itself.
        normalize: cosine similarity (both sides L2-normalised here, the default), or ``False``
            for the raw dot product, as an inner-product index scores vectors as stored.
        chunk: queries scored at a time (see ``QUERY_CHUNK``).
        device: where to compute (default: a CUDA GPU when there is one, else the CPU).

    Returns:
        ``(M, k)`` int64 indices into ``database``, on the CPU.

    Example:
        >>> db = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
        >>> search(torch.tensor([[1.0, 0.1]]), db, k=2)
        tensor([[0, 2]])
    """
    check_embeddings(queries, "search: queries")
    check_embeddings(database, "search: database")
    if queries.shape[1] != database.shape[1]:
        raise ValueError(f"search: queries have {queries.shape[1]} features but the database has {database.shape[1]}")
    check_count(k, "k", "search")
    if k > len(database) - exclude_self:
        raise ValueError(f"search: k={k} is outside 1..{len(database) - exclude_self} (database rows); lower k")
    check_count(chunk, "chunk", "search")
    device = resolve_device(device)
    q, db = queries.to(device, torch.float32), database.to(device, torch.float32)
    if normalize:
        q, db = F.normalize(q, dim=1), F.normalize(db, dim=1)
    out = []
    for start in range(0, len(q), chunk):
        scores = q[start : start + chunk] @ db.T
        if exclude_self:
            rows = torch.arange(len(scores), device=device)
            scores[rows, rows + start] = -math.inf
        out.append(scores.topk(k, dim=1).indices.cpu())
    return torch.cat(out)


def nearest_by_prefix(
    train_z: torch.Tensor, test_z: torch.Tensor, sizes, chunk: int = QUERY_CHUNK, desc: str | None = None
) -> dict:
    """For every size ``d``: each test row's nearest training row by cosine of the first ``d`` dims.

    The same as :func:`search` with ``k=1`` on ``truncate(z, d)`` at each size, in one pass over
    the dims: the dot product over the first ``d`` dims is the one over the first ``d'`` dims plus
    the dims in between, and the cut training rows' lengths are running sums of squares. So the
    matrix products of a dense grid add up to one full-width product; what each size still costs
    is one pass over the scores (a timing is in ``benchmarks/RESULTS.md``).
    (The query's own length does not change which training row is nearest: never computed.)

    Args:
        train_z, test_z: ``(N, D)`` and ``(M, D)``, already centred if wanted (cutting commutes
            with subtracting a mean, not with normalising: pass un-normalised vectors).
        sizes: increasing sizes ``<= D``.
        chunk: test rows per block; desc: if given, a progress bar over the blocks, so named.

    Returns:
        ``{d: (M,) int64 index of the nearest training row}``.

    Example:
        >>> train = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.0, 0.8]])
        >>> nearest_by_prefix(train, torch.tensor([[1.0, 0.1, 0.9]]), [1, 3])
        {1: tensor([0]), 3: tensor([1])}
    """
    check_embeddings(train_z, "nearest_by_prefix: train_z")
    check_embeddings(test_z, "nearest_by_prefix: test_z")
    if train_z.shape[1] != test_z.shape[1]:
        raise ValueError(f"nearest_by_prefix: train_z has {train_z.shape[1]} dims but test_z has {test_z.shape[1]}")
    sizes = check_dims(sizes, train_z.shape[1], where="nearest_by_prefix")
    check_count(chunk, "chunk", "nearest_by_prefix")
    train_z, test_z = train_z.float(), test_z.float()
    lengths = train_z.pow(2).cumsum(dim=1).sqrt().clamp_min(1e-12)  # column d-1: each row's length over d dims
    inverse_lengths = lengths.reciprocal().T.contiguous()  # row d-1, for size d
    found = {d: [] for d in sizes}
    block, scores = torch.empty(chunk, len(train_z)), torch.empty(chunk, len(train_z))  # reused: no allocator churn
    for start in tqdm(range(0, len(test_z), chunk), desc=desc, disable=desc is None, leave=False):
        q, done = test_z[start : start + chunk], 0
        dots, scores = block[: len(q)].zero_(), scores[: len(q)]
        for d in sizes:
            dots.addmm_(q[:, done:d], train_z[:, done:d].T)  # add the dims between the last size and this one
            done = d
            found[d].append(torch.mul(dots, inverse_lengths[d - 1], out=scores).argmax(dim=1))
    return {d: torch.cat(parts) for d, parts in found.items()}


def target_ranks(queries: torch.Tensor, database: torch.Tensor, targets: torch.Tensor, chunk: int = QUERY_CHUNK):
    """The rank (1 = best) of each query's one relevant database row under cosine similarity.

    Ties count against the target (a tie with another row ranks it below that row), so a model
    that maps everything to one point does not score well. recall@k is ``(ranks <= k).mean()``
    and the mean reciprocal rank (MRR) is ``(1 / ranks).mean()``.

    Args:
        queries: ``(M, d)``; database: ``(N, d)``; targets: ``(M,)`` index of each query's relevant row.

    Example:
        >>> db = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
        >>> target_ranks(torch.tensor([[1.0, 0.1], [1.0, 0.1]]), db, torch.tensor([0, 1]))
        tensor([1, 3])
    """
    check_embeddings(queries, "target_ranks: queries")
    check_embeddings(database, "target_ranks: database")
    check_tensor(targets, "target_ranks: targets", ("M",), integers=True)
    if queries.shape[1] != database.shape[1] or len(targets) != len(queries):
        raise ValueError(
            f"target_ranks: queries {tuple(queries.shape)}, database {tuple(database.shape)} and "
            f"{len(targets)} targets do not fit: same width, one target per query"
        )
    targets = check_indices(targets, len(database), "target_ranks: targets", "database rows")
    check_count(chunk, "chunk", "target_ranks")
    q, db = F.normalize(queries.float(), dim=1), F.normalize(database.float(), dim=1)
    out = []
    for start in range(0, len(q), chunk):
        scores = q[start : start + chunk] @ db.T
        mine = scores.gather(1, targets[start : start + chunk, None])
        out.append((scores >= mine).sum(dim=1))
    return torch.cat(out)


def hits_by_size(queries: torch.Tensor, database: torch.Tensor, sizes, k: int = 10) -> dict[int, torch.Tensor]:
    """Whether query ``i`` finds database row ``i`` among its top ``k`` (bool per query), at each size.

    Both sides are cut to ``d`` dims and re-normalised. Per-query results, so two methods can be
    compared with a paired interval (:func:`accuracy_interval`); their means are recall@k.

    Example:
        >>> z = torch.eye(4)
        >>> {d: h.tolist() for d, h in hits_by_size(z, z, [1, 4], k=1).items()}
        {1: [True, False, False, False], 4: [True, True, True, True]}
    """
    check_embeddings(queries, "hits_by_size: queries")
    check_embeddings(database, "hits_by_size: database", dim=queries.shape[1])
    sizes = check_dims(sizes, queries.shape[1], where="hits_by_size")
    check_count(k, "k", "hits_by_size", high=len(database))
    if len(queries) > len(database):
        raise ValueError(f"hits_by_size: {len(queries)} queries for {len(database)} database rows; query i's match "
                         "is row i, so pass at most one query per row")  # fmt: skip
    targets = torch.arange(len(queries))
    # One block for every size's results, filled in place. A small tensor kept after each size's large
    # temporaries splits glibc's heap, and the next, larger temporaries no longer fit its holes: the process
    # then grew by up to a GB over a dense grid of sizes.
    hits = torch.empty(len(sizes), len(queries), dtype=torch.bool)
    for i, d in enumerate(sizes):
        hits[i] = target_ranks(truncate(queries, d), truncate(database, d), targets) <= k
    return dict(zip(sizes, hits))
