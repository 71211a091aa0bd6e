"""Serving a Matryoshka prefix from a FAISS index: exact where it must be, re-ranking that helps,
synthetic rows that are not copies, and latency figures that are measured per query."""

import pytest
import torch
import torch.nn.functional as F

from mrl_lab.evaluation.metrics import topk_overlap
from mrl_lab.evaluation.search import search
from mrl_lab.serving.ann import PrefixIndex, best_at, clustered_like, describe_best, latency, serving_table
from mrl_lab.serving.funnel import AdaptiveIndex, rerank


def matryoshka_like(n: int, dim: int = 64, seed: int = 0) -> torch.Tensor:
    """Vectors whose early dims carry the most variance, as an MRL model's do."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g) * torch.linspace(3, 0.3, dim)


DB = matryoshka_like(3000)
QUERIES = DB[:50] + 0.3 * matryoshka_like(50, seed=1)
EXACT = search(QUERIES, DB, 10)


@pytest.mark.parametrize("kind, effort", [("flat", None), ("ivf", 20), ("hnsw", 3000)])  # ivf: all 20 lists
def test_a_full_width_index_that_looks_everywhere_returns_the_exact_top_10(kind, effort):
    index = PrefixIndex(DB, d=64, kind=kind, nlist=20)
    found = index.search(QUERIES, 10, effort=effort)
    assert topk_overlap(EXACT, found, 10) == 1.0


def test_a_prefix_index_whose_shortlist_is_every_row_reranks_to_the_exact_full_width_result():
    index = PrefixIndex(DB, d=8, kind="flat")
    assert torch.equal(index.search(QUERIES, 10, shortlist=len(DB)), EXACT)


def test_the_faiss_funnel_returns_what_the_readable_torch_funnel_returns():
    served = PrefixIndex(DB, d=8, kind="flat").search(QUERIES, 10, shortlist=100)  # FAISS: cut, scan, refine
    readable = AdaptiveIndex(DB, coarse_dims=[8]).search(QUERIES, 10, stages=[(8, 100)])  # torch, step by step
    assert torch.equal(served, readable)


@pytest.mark.parametrize("kind, d", [("flat", 64), ("flat", 8), ("hnsw", 16), ("ivf", 16), ("ivf", 64)])
def test_a_query_is_not_normalised_because_its_length_ranks_no_row_differently(kind, d):
    index = PrefixIndex(DB, d=d, kind=kind, nlist=20)
    shortlist = 100 if d < 64 else 10  # a prefix index re-ranks a shortlist; the full-width one has none
    unit = index.search(F.normalize(QUERIES, dim=1), 10, shortlist=shortlist, effort=4)
    scaled = (QUERIES * 7.5).double().T.contiguous().T  # longer, float64 and not contiguous, as a caller may pass
    assert torch.equal(index.search(scaled, 10, shortlist=shortlist, effort=4), unit)


def test_reranking_a_prefix_shortlist_on_the_full_vectors_beats_the_prefix_alone():
    index = PrefixIndex(DB, d=16, kind="hnsw")
    alone = topk_overlap(EXACT, index.search(QUERIES, 10, shortlist=10, effort=400), 10)
    reranked = topk_overlap(EXACT, index.search(QUERIES, 10, shortlist=400, effort=400), 10)
    assert reranked > alone + 0.2 and reranked > 0.9


def test_slots_the_index_could_not_fill_go_last():
    q = F.normalize(torch.tensor([[1.0, 0.0]]), dim=1)
    full = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]]), dim=1)
    assert rerank(q, full, torch.tensor([[-1, 1, 0, 2]]), 4).tolist() == [[0, 2, 1, -1]]


def test_a_prefix_index_puts_the_slots_it_could_not_fill_last_and_ranks_the_rest_at_full_width():
    index = PrefixIndex(DB[:100], d=8, kind="ivf", nlist=20)  # ~5 rows a list: one list cannot fill 10 slots
    found = index.search(QUERIES[:5], 10, shortlist=10, effort=1)
    assert (found == -1).any()
    full, q = F.normalize(DB[:100], dim=1), F.normalize(QUERIES[:5], dim=1)
    for row, query in zip(found, q):
        filled = row[row >= 0]
        assert (row[len(filled) :] == -1).all()
        scores = full[filled] @ query
        assert (scores[:-1] >= scores[1:]).all()  # best first, by the full vectors' cosine


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="PrefixIndex: kind='annoy'"):
        PrefixIndex(DB, d=8, kind="annoy")
    with pytest.raises(ValueError, match="PrefixIndex: d=128; it must be a whole number in 1..64"):
        PrefixIndex(DB, d=128)
    index = PrefixIndex(DB[:100], d=8, kind="flat")
    with pytest.raises(ValueError, match="shortlist=200"):
        index.search(QUERIES, 10, shortlist=200)
    with pytest.raises(ValueError, match="k=20; it must be a whole number in 1..10"):
        index.search(QUERIES, 20, shortlist=10)
    with pytest.raises(ValueError, match="queries have 8 dims; the vectors have 64"):
        index.search(QUERIES[:, :8], 10)
    nan = QUERIES[:3].clone()
    nan[1, 5] = float("nan")
    with pytest.raises(ValueError, match=r"queries contain 1 NaN/inf value\(s\) \(first at row 1\)"):
        index.search(nan, 10)
    with pytest.raises(ValueError, match=r"PrefixIndex.search: queries must have shape \(N, dim\); got shape \(64,\)"):
        index.search(QUERIES[0], 10)
    with pytest.raises(TypeError, match="PrefixIndex.search: queries must be a torch.Tensor; got list"):
        index.search(QUERIES.tolist(), 10)


def test_clustered_rows_keep_the_topics_without_copying_any_real_row():
    real = F.normalize(matryoshka_like(600) + 4 * torch.eye(64)[torch.arange(600) % 6], dim=1)  # 6 topics
    fake = F.normalize(clustered_like(real, 600, clusters=6), dim=1)
    nearest_real = (fake @ real.T).max(dim=1).values
    real_to_real = (real @ real.T).fill_diagonal_(-1).max(dim=1).values
    assert nearest_real.max() < 0.99  # no near-copies, so the exact top 10 is not a set of ties
    # as close to the real rows as real rows are to each other
    assert float(nearest_real.median()) == pytest.approx(float(real_to_real.median()), abs=0.1)
    topics = fake[:, :6].argmax(dim=1)  # a real row's topic is its largest of the first 6 dims
    assert torch.bincount(topics, minlength=6).min() > 50  # every topic kept


def test_latency_times_each_query_alone_and_the_batch():
    index = PrefixIndex(DB, d=16, kind="hnsw")
    figures = latency(lambda q: index.search(q, 10, shortlist=100), QUERIES[:20])
    assert set(figures) == {"median_ms", "low_ms", "high_ms", "p95_ms", "batch_qps"}
    assert 0 < figures["low_ms"] <= figures["median_ms"] <= figures["high_ms"]
    assert figures["median_ms"] <= figures["p95_ms"] and figures["batch_qps"] > 0


def test_the_serving_table_measures_exact_search_first_and_every_setting_against_it():
    configs = [("hnsw", 16, n, n) for n in (20, 400)] + [("hnsw", None, 10, 16)]
    rows = serving_table(DB, QUERIES[:20], configs=configs, brute_force=[(16, 400)])
    assert [r["kind"] for r in rows] == ["flat", "torch", "hnsw", "hnsw", "hnsw"]
    assert rows[0]["recall"] == 1.0 and rows[0]["d"] == 64
    short, long = rows[2], rows[3]  # the same prefix index, a shortlist of 20 and of 400
    assert long["recall"] > short["recall"] and long["recall"] > 0.9
    assert all(r["median_ms"] > 0 and r["p95_ms"] >= r["median_ms"] for r in rows)
    rigid_skipped = serving_table(DB, QUERIES[:5], configs=configs, brute_force=[], full_width=False)
    assert [r["d"] for r in rigid_skipped] == [64, 16, 16]


def test_the_serving_table_skips_ivf_settings_that_would_visit_more_lists_than_the_index_has():
    small = DB[:1000]  # 2 sqrt(1000) = 63 lists: nprobe 128 cannot be asked of it (benchmark smoke's real rows)
    configs = [("ivf", 16, 100, p) for p in (8, 63, 128)]
    rows = serving_table(small, QUERIES[:5], configs=configs, brute_force=[])
    assert [r["effort"] for r in rows] == [None, 8, 63]


def test_best_at_picks_the_fastest_prefix_index_that_reaches_the_target_and_compares_at_equal_recall():
    rows = [
        dict(kind="flat", d=64, median_ms=20.0, recall=1.0),
        dict(kind="torch", d=16, median_ms=0.1, recall=0.99),  # not an index: never picked
        dict(kind="hnsw", d=16, median_ms=1.0, recall=0.97),
        dict(kind="hnsw", d=16, median_ms=0.5, recall=0.90),  # fast but below the target
        dict(kind="ivf", d=64, median_ms=0.2, recall=0.99),  # another index type: not its rigid baseline
        dict(kind="hnsw", d=64, median_ms=0.8, recall=0.96),  # full width, finds less: the curve's point below
        dict(kind="hnsw", d=64, median_ms=3.0, recall=0.98),  # full width, finds more: the point above
        dict(kind="hnsw", d=64, median_ms=5.0, recall=0.99),  # slower still: not between them
    ]
    rows = [dict(r, index=f"{r['kind']} on {r['d']} dims", effort=None) for r in rows]
    best = best_at(rows, 0.95)
    assert (best["d"], best["median_ms"], best["speedup"]) == (16, 1.0, 20.0)
    assert best["rigid"]["median_ms"] == 3.0 and best["rigid_below"]["median_ms"] == 0.8
    # full width at recall 0.97, halfway from 0.96 to 0.98: 0.8 + (3.0 - 0.8) / 2 = 1.9 ms, not the 3.0 ms above
    assert best["rigid_ms"] == pytest.approx(1.9) and best["speedup_over_rigid"] == pytest.approx(1.9)
    assert "1.9x faster than hnsw on 64 dims at the same recall; that index: 1.90 ms" in describe_best(rows, 0.95)
    noisy = [dict(r, low_ms=r["median_ms"] * 0.5, high_ms=r["median_ms"] * 1.5) for r in rows]  # repeats overlap
    assert "no measurable difference from hnsw on 64 dims" in describe_best(noisy, 0.95)
    assert best_at(rows, 0.999) is None and "no prefix index" in describe_best(rows, 0.999)
    slow = [dict(r, median_ms=0.5) if r["d"] == 64 and r["kind"] == "hnsw" else r for r in rows]  # full width faster
    assert best_at(slow, 0.95)["rigid_ms"] == 0.5 and "2.0x slower than" in describe_best(slow, 0.95)
    only_above = [r for r in rows if r["median_ms"] != 0.8]  # nothing below: the setting above is the reference
    assert best_at(only_above, 0.95)["rigid_ms"] == 3.0 and "rigid_below" not in best_at(only_above, 0.95)


def test_an_index_size_is_what_faiss_serializes_of_the_prefix_index_counted_without_a_copy():
    import faiss

    from mrl_lab.serving.ann import _serialized_size

    for kind in ("flat", "hnsw", "ivf"):
        index = PrefixIndex(DB, 16, kind=kind)
        assert index.index_bytes == _serialized_size(index.base) == faiss.serialize_index(index.base).nbytes
        assert index.index_bytes < faiss.serialize_index(index.index).nbytes  # + the full vectors it re-ranks on


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_the_build_time_is_the_time_the_build_took(kind, monkeypatch):
    import time

    monkeypatch.setattr(
        "mrl_lab.serving.ann.ADD_BLOCK", 1000
    )  # three blocks: the loop over them must not touch the clock
    start = time.perf_counter()
    index = PrefixIndex(DB, 16, kind=kind)
    assert 0 < index.build_seconds <= time.perf_counter() - start
