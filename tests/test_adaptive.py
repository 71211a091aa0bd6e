import pytest
import torch

from mrl_lab.evaluation.metrics import topk_overlap
from mrl_lab.evaluation.search import search
from mrl_lab.serving.cascade import cascade, cascade_curve, fit_temperature, pick_threshold, pick_thresholds
from mrl_lab.serving.funnel import AdaptiveIndex, _top_k


def test_chunked_top_k_equals_one_shot_top_k():
    torch.manual_seed(0)
    q, db = torch.randn(7, 12), torch.randn(1000, 12)
    for k in (15, 3):  # k = 15: the plain chunked path; k = 3: block maxima (k * 16 * 16 <= 1000 rows)
        expected = (q @ db.T).topk(k, dim=1).indices
        for chunk in (1000, 333, 64, 10, 4):
            assert torch.equal(_top_k(q, db, k, chunk), expected)


def test_exact_index_search_matches_metrics_search():
    torch.manual_seed(1)
    db, q = torch.randn(500, 32), torch.randn(20, 32)
    index = AdaptiveIndex(db, coarse_dims=[8], chunk=128)
    assert torch.equal(index.search(q, k=10), search(q, db, 10, device="cpu"))


def test_a_funnel_with_a_full_length_shortlist_is_exact_and_a_short_one_is_not():
    torch.manual_seed(2)
    db, q = torch.randn(400, 32), torch.randn(30, 32)
    index = AdaptiveIndex(db, coarse_dims=[4, 8])
    exact = index.search(q, k=10)
    assert torch.equal(index.search(q, k=10, stages=[(4, 400)]), exact)  # everything re-ranked
    assert torch.equal(index.search(q, k=10, stages=[(4, 400), (16, 400)]), exact)
    coarse = index.search(q, k=10, stages=[(4, 12)])
    assert topk_overlap(exact, coarse, 10) < 1.0  # random vectors: a 4-dim shortlist misses some


def test_funnel_stages_reach_the_re_ranked_candidates():
    torch.manual_seed(3)
    db = torch.randn(300, 16)
    index = AdaptiveIndex(db, coarse_dims=[4])
    q = db[:10].clone()
    found = index.search(q, k=1, stages=[(4, 50), (8, 10)])
    assert torch.equal(found[:, 0], torch.arange(10))  # each query is a database row: found through the funnel


def test_bad_stages_are_named():
    index = AdaptiveIndex(torch.randn(100, 16), coarse_dims=[4])
    q = torch.randn(2, 16)
    with pytest.raises(ValueError, match="grow in size"):
        index.search(q, k=5, stages=[(8, 50), (4, 20)])
    with pytest.raises(ValueError, match="shrink in length"):
        index.search(q, k=5, stages=[(4, 10), (8, 20)])
    with pytest.raises(ValueError, match=r"must lie in 5..100"):
        index.search(q, k=5, stages=[(4, 200)])
    with pytest.raises(ValueError, match="coarse_dims=\\[8\\]"):
        index.search(q, k=5, stages=[(8, 50)])
    with pytest.raises(ValueError, match="12 dims but the index holds 16"):
        index.search(torch.randn(2, 12), k=5)


def test_the_cascade_stops_at_the_first_confident_size():
    small = torch.tensor([[5.0, 0.0, 0.0], [0.2, 0.1, 0.0], [0.0, 0.1, 0.2]])
    middle = torch.tensor([[0.0, 5.0, 0.0], [0.0, 6.0, 0.0], [0.3, 0.0, 0.0]])
    full = torch.tensor([[0.0, 0.0, 5.0], [0.0, 0.0, 5.0], [0.0, 0.0, 9.0]])
    pred, sizes = cascade([small, middle, full], [4, 16, 64], threshold=0.95)
    assert pred.tolist() == [0, 1, 2] and sizes.tolist() == [4, 16, 64]
    pred, sizes = cascade([small, middle, full], [4, 16, 64], threshold=0.0)
    assert sizes.tolist() == [4, 4, 4] and pred.tolist() == [0, 0, 2]
    _, sizes = cascade([small, middle, full], [4, 16, 64], threshold=1.01)
    assert sizes.tolist() == [64, 64, 64]


def test_the_cascade_curve_spans_smallest_to_full():
    torch.manual_seed(4)
    labels = torch.randint(0, 5, (200,))
    logits = [torch.randn(200, 5) + s * torch.nn.functional.one_hot(labels, 5) for s in (0.5, 1.0, 3.0)]
    curve = cascade_curve(logits, labels, [8, 32, 128], [0.0, 0.5, 0.9, 1.01])
    assert curve[0]["expected_dims"] == 8 and curve[-1]["expected_dims"] == 128
    assert curve[0]["share_at_smallest"] == 1.0 and curve[-1]["share_at_smallest"] == 0.0
    assert curve[-1]["accuracy"] == (logits[-1].argmax(1) == labels).float().mean().item()
    dims = [p["expected_dims"] for p in curve]
    assert dims == sorted(dims)


def test_cascade_errors_name_the_problem():
    with pytest.raises(ValueError, match="2 logit tensors for 3 sizes"):
        cascade([torch.zeros(1, 2)] * 2, [4, 8, 16], 0.5)
    with pytest.raises(ValueError, match="threshold=-1"):
        cascade([torch.zeros(1, 2)], [4], -1)


def test_storage_bytes_and_quantisation_by_hand():
    from mrl_lab.evaluation.quantize import quantize, storage_bytes

    assert storage_bytes(10, 256, "float32") == 10 * 1024 and storage_bytes(10, 256, "int8") == 2560
    assert storage_bytes(1, 12, "binary") == 2  # 12 bits round up to 2 bytes
    x = torch.tensor([[0.0, -1.0], [1.0, 1.0], [0.5, 0.0]])
    q = quantize(x, "int8")
    assert torch.allclose(q, x, atol=2 / 255)  # 256 levels over each dimension's range
    assert quantize(x, "binary").tolist() == [[-1.0, -1.0], [1.0, 1.0], [1.0, -1.0]]
    with pytest.raises(ValueError, match="precision='int4'"):
        quantize(x, "int4")
    with pytest.raises(ValueError, match="precision='fp8'"):
        storage_bytes(1, 8, "fp8")


def test_storage_table_keeps_everything_at_float32_full_width():
    from mrl_lab.evaluation.quantize import storage_table

    torch.manual_seed(5)
    corpus = torch.randn(300, 32)
    queries = corpus[:50] + 0.3 * torch.randn(50, 32)
    rows = storage_table(queries, corpus, torch.arange(50), [8, 32], k=10)
    assert len(rows) == 2 * 5
    full = next(r for r in rows if r["size"] == 32 and r["precision"] == "float32")
    assert full["kept"] == 1.0 and full["bytes"] == 128 and full["MB per 1M"] == 128.0
    binary = next(r for r in rows if r["size"] == 32 and r["precision"] == "binary")
    rescored = next(r for r in rows if r["size"] == 32 and r["precision"] == "binary + rescore")
    assert binary["bytes"] == 4 and rescored["recall@10"] >= binary["recall@10"] - 0.05
    assert all(0 <= r["kept"] <= 1.5 for r in rows)


def test_temperature_scaling_recovers_a_known_temperature():
    g = torch.Generator().manual_seed(0)
    calibrated = 2 * torch.randn(4000, 5, generator=g)
    labels = torch.multinomial(calibrated.softmax(dim=1), 1, generator=g).squeeze(1)  # drawn as the logits say
    for true_t in (0.5, 2.0):
        t = fit_temperature(calibrated * true_t, labels)  # logits made over- (2.0) or under-confident (0.5)
        assert abs(t / true_t - 1) < 0.1
    with pytest.raises(ValueError, match="fit_temperature"):
        fit_temperature(calibrated[:10], labels)


def test_pick_threshold_takes_the_cheapest_point_that_reaches_the_accuracy():
    points = [(0.5, 0.80, 10.0), (0.8, 0.86, 30.0), (0.9, 0.86, 20.0), (1.01, 0.87, 64.0)]
    curve = [dict(threshold=t, accuracy=a, expected_dims=d) for t, a, d in points]
    assert pick_threshold(curve, 0.855)["threshold"] == 0.9
    assert pick_threshold(curve, 0.9) is None


def test_a_threshold_per_head_stops_what_one_shared_threshold_cannot():
    import math

    def head(groups):  # two classes, label 0; (inputs, confidence, right?) per group
        rows = []
        for n, confidence, right in groups:
            margin = math.log(confidence / (1 - confidence))
            rows += [[margin, 0.0] if right else [0.0, margin]] * n
        return torch.tensor(rows)

    # 40 inputs the 8-dim head gets right at 0.6, 30 the 32-dim head gets right at 0.95, 30 only the full head
    small = head([(40, 0.6, True), (30, 0.55, False), (30, 0.55, False)])
    middle = head([(40, 0.52, True), (30, 0.95, True), (30, 0.8, False)])
    full = head([(100, 0.9, True)])
    logits, labels, dims = [small, middle, full], torch.zeros(100, dtype=torch.long), [8, 32, 128]
    shared = pick_threshold(cascade_curve(logits, labels, dims, [i / 100 for i in range(100)] + [1.01]), 1.0)
    per_head = pick_thresholds(logits, labels, dims, min_accuracy=1.0)
    predictions, sizes = cascade(logits, dims, per_head)
    assert (predictions == labels).all()
    assert shared["expected_dims"] == pytest.approx(99.2) and sizes.float().mean().item() == pytest.approx(51.2)
    assert pick_thresholds(logits, torch.ones(100, dtype=torch.long), dims, min_accuracy=0.5) is None  # unreachable
    with pytest.raises(ValueError, match="one per size"):
        cascade(logits, dims, [0.5, 0.5])
