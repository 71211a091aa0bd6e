"""Storage precision for embeddings: float32, float16, int8 and binary, combined with truncation.

Truncation (fewer dims) and quantisation (fewer bits per dim) multiply: 64 dims in int8 take 64
bytes, 1/16 of 256 float32 dims. These functions store a corpus at a precision and search it,
so the recall each combination keeps can be measured on your own data.

References:
    Shakir, Aarsen and Lee, "Binary and Scalar Embedding Quantization for Significantly Faster &
    Cheaper Retrieval", Hugging Face blog, 2024 (int8 keeps ~97 % of retrieval quality, binary ~96 %
    with rescoring).
"""

from __future__ import annotations

import torch

from mrl_lab.core.checks import check_count, check_dims, check_embeddings, check_labels, check_tensor
from mrl_lab.core.nesting import truncate
from mrl_lab.evaluation.metrics import recall_at_k
from mrl_lab.evaluation.search import search

PRECISIONS = {"float32": 32, "float16": 16, "int8": 8, "binary": 1}


def storage_bytes(n_vectors: int, dims: int, precision: str) -> int:
    """Bytes to store ``n_vectors`` vectors of ``dims`` numbers at ``precision``.

    Example:
        >>> storage_bytes(1_000_000, 256, "float32") // 2**20, storage_bytes(1_000_000, 64, "binary")
        (976, 8000000)
    """
    if precision not in PRECISIONS:
        raise ValueError(f"storage_bytes: precision={precision!r}; choose one of {list(PRECISIONS)}")
    check_count(n_vectors, "n_vectors", "storage_bytes", low=0)
    check_count(dims, "dims", "storage_bytes")
    return n_vectors * -(-dims * PRECISIONS[precision] // 8)  # binary rounds each vector up to whole bytes


def quantize(corpus: torch.Tensor, precision: str) -> torch.Tensor:
    """``corpus`` as stored at ``precision``, returned as float32 so it can be searched.

    - ``float16``: rounded to half precision.
    - ``int8``: each dimension mapped linearly from its range over ``corpus`` (the calibration
      set; no value falls outside it) to 256 levels.
    - ``binary``: the sign of each number, as -1 or +1 (one bit each).

    Example:
        >>> quantize(torch.tensor([[0.5, -0.2], [-0.1, 0.3]]), "binary")
        tensor([[ 1., -1.],
                [-1.,  1.]])
    """
    x = check_embeddings(corpus, "quantize: corpus").float()  # a NaN row would be stored as a vector of -1s
    if precision == "float32":
        return x
    if precision == "float16":
        return x.half().float()
    if precision == "int8":
        return int8_values(int8_codes(x, x), x)  # the corpus is its own calibration set
    if precision == "binary":
        return torch.where(x > 0, 1.0, -1.0)
    raise ValueError(f"quantize: precision={precision!r}; choose one of {list(PRECISIONS)}")


def _int8_grid(calibration: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each dimension's minimum over ``calibration`` and the step between its 256 levels."""
    lo, hi = calibration.min(dim=0).values, calibration.max(dim=0).values
    step = (hi - lo) / 255
    return lo, torch.where(step == 0, 1.0, step)  # a constant dimension: any step will do


def int8_codes(embeddings: torch.Tensor, calibration: torch.Tensor, rounding: str = "nearest") -> torch.Tensor:
    """Scalar (int8) quantisation: each number stored as one of 256 levels of its dimension's calibration range.

    Per dimension, the range ``[min, max]`` over ``calibration`` (vectors like those to be stored,
    seen beforehand) is cut into 255 equal steps, giving 256 levels: ``min`` is code -128, ``max``
    is 127. A value's level is ``(x - min) / step``, rounded (``"nearest"``) or rounded down
    (``"floor"``, as sentence-transformers' ``quantize_embeddings(..., "int8")`` does), then clipped
    to 0..255, so a value outside the calibration range takes the end level, and shifted by -128.

    Example:
        >>> calibration = torch.tensor([[0.0, -1.0], [1.0, 1.0]])
        >>> int8_codes(torch.tensor([[0.2, 1.0], [2.0, -3.0]]), calibration)
        tensor([[ -77,  127],
                [ 127, -128]], dtype=torch.int8)
    """
    if rounding not in ("nearest", "floor"):
        raise ValueError(f"int8_codes: rounding={rounding!r}; choose 'nearest' or 'floor'")
    x = check_embeddings(embeddings, "int8_codes: embeddings").float()
    calibration = check_embeddings(calibration, "int8_codes: calibration").float()
    if calibration.shape[1] != x.shape[1]:
        raise ValueError(f"int8_codes: embeddings have {x.shape[1]} dims, calibration {calibration.shape[1]}; "
                         "calibrate on vectors of the same width (cut both to the same size)")  # fmt: skip
    lo, step = _int8_grid(calibration)
    levels = (torch.round if rounding == "nearest" else torch.floor)((x - lo) / step)
    return (levels.clamp(0, 255) - 128).to(torch.int8)


def int8_values(codes: torch.Tensor, calibration: torch.Tensor) -> torch.Tensor:
    """The float32 values that int8 ``codes`` stand for: ``min + (code + 128) * step`` per dimension
    (the inverse of :func:`int8_codes` with the same calibration set; what sentence-transformers
    rescores with)."""
    check_tensor(codes, "int8_values: codes", ("N", "dim"))
    check_embeddings(calibration, "int8_values: calibration", dim=codes.shape[1])
    lo, step = _int8_grid(calibration.float())
    return (codes.float() + 128) * step + lo


def search_at(queries: torch.Tensor, corpus: torch.Tensor, precision: str, k: int, rescore: bool = False):
    """Top-``k`` of a corpus stored at ``precision``, for float32 ``queries``.

    float32, float16 and int8: cosine similarity of the query with the stored vectors. binary: the
    query is binarised too and rows are ranked by Hamming distance (a popcount in a real index);
    with ``rescore=True`` the best ``4k`` by Hamming are re-ordered by the float32 query's dot
    product with their ±1 vectors, which needs no extra storage (the blog's rescoring).

    Example:
        >>> db = torch.tensor([[1.0, 0.1], [0.1, 1.0], [0.9, -0.2]])
        >>> q = torch.tensor([[1.0, -0.3]])
        >>> search_at(q, db, "float32", k=1), search_at(q, db, "binary", k=1)
        (tensor([[2]]), tensor([[2]]))
    """
    check_tensor(corpus, "search_at: corpus", ("N", "dim"))
    check_embeddings(queries, "search_at: queries", dim=corpus.shape[1])
    stored = quantize(corpus, precision)
    check_count(k, "k", "search_at", high=len(stored))
    if precision != "binary":
        return search(queries.float(), stored, k, device="cpu")  # cosine similarity
    scores = quantize(queries, "binary") @ stored.T  # = dims - 2 * Hamming distance
    if not rescore:
        return scores.topk(k, dim=1).indices
    shortlist = scores.topk(min(4 * k, len(stored)), dim=1).indices
    exact = torch.einsum("md,mnd->mn", queries.float(), stored[shortlist])
    return shortlist.gather(1, exact.topk(k, dim=1).indices)


def storage_table(queries, corpus, targets, sizes, k: int = 10) -> list[dict]:
    """For every size and precision: bytes per vector, MB per million vectors and recall@``k``.

    Args:
        queries: ``(M, D)`` float32; corpus: ``(N, D)``; targets: ``(M,)`` each query's relevant row.
        sizes: truncation sizes (each vector cut to ``d`` dims and re-normalised before storing).

    Returns:
        One dict per (size, precision), binary twice (with and without rescoring): ``size``,
        ``precision``, ``bytes``, ``MB per 1M``, ``recall@k`` and ``kept``, its share of the
        float32 full-width recall.
    """
    check_embeddings(queries, "storage_table: queries")
    check_embeddings(corpus, "storage_table: corpus", dim=queries.shape[1])
    check_labels(targets, len(queries), "targets", "storage_table")
    sizes = check_dims(sizes, queries.shape[1], where="storage_table")
    check_count(k, "k", "storage_table", high=len(corpus))
    rows = []
    for d in sizes:
        q, db = truncate(queries, d), truncate(corpus, d)
        for precision, rescore in [("float32", False), ("float16", False), ("int8", False), ("binary", False),
                                   ("binary", True)]:  # fmt: skip
            found = search_at(q, db, precision, k, rescore=rescore)
            rows.append(
                {
                    "size": d, "precision": precision + (" + rescore" if rescore else ""),
                    "bytes": storage_bytes(1, d, precision), "MB per 1M": storage_bytes(10**6, d, precision) / 1e6,
                    f"recall@{k}": recall_at_k(found, targets, k),
                }
            )  # fmt: skip
    best = max(r[f"recall@{k}"] for r in rows if r["size"] == max(sizes) and r["precision"] == "float32")
    for r in rows:
        r["kept"] = r[f"recall@{k}"] / best
    return rows
