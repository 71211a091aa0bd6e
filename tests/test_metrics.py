import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mrl_lab.evaluation import results
from mrl_lab.evaluation.baselines import PCA
from mrl_lab.evaluation.intervals import accuracy_interval
from mrl_lab.evaluation.metrics import (
    head_accuracy,
    knee,
    knn_accuracy,
    linear_probe_correct,
    recall_at_k,
    topk_overlap,
)
from mrl_lab.evaluation.search import nearest_by_prefix, search

NAN = float("nan")


def test_search_ranks_by_cosine_similarity():
    db = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [-1.0, 0.0]])
    assert search(torch.tensor([[1.0, 0.2]]), db, k=4).tolist() == [[0, 2, 1, 3]]


def test_search_can_skip_each_rows_match_with_itself():
    db = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    assert search(db, db, k=1, exclude_self=True).flatten().tolist() == [1, 0, 1]


def test_search_in_chunks_matches_one_pass():
    torch.manual_seed(0)
    q, db = torch.randn(50, 8), torch.randn(200, 8)
    assert torch.equal(search(q, db, 5, chunk=7), search(q, db, 5))
    assert torch.equal(search(q, db, 5, device="cpu"), search(q, db, 5)) and search(q, db, 5).device.type == "cpu"


def test_topk_overlap_on_hand_made_neighbours():
    full = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    cut = torch.tensor([[4, 3, 9, 9], [5, 0, 0, 0]])
    assert topk_overlap(full, cut, k=4) == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert topk_overlap(full, cut, k=1) == pytest.approx(0.5)  # row 2's top-1 survives
    assert topk_overlap(full, full, k=4) == 1.0


def test_recall_at_k_on_hand_made_neighbours():
    neighbours = torch.tensor([[0, 1, 2], [2, 0, 1], [1, 2, 0]])
    targets = torch.tensor([0, 0, 0])
    assert recall_at_k(neighbours, targets, 1) == pytest.approx(1 / 3)
    assert recall_at_k(neighbours, targets, 2) == pytest.approx(2 / 3)
    assert recall_at_k(neighbours, targets, 3) == 1.0


def test_knee_is_the_smallest_size_keeping_the_share():
    dims, scores = [8, 16, 32, 64], [0.5, 0.8, 0.89, 0.9]
    assert knee(dims, scores, keep=0.98) == 32  # 0.89 >= 0.98 * 0.9
    assert knee(dims, scores, keep=0.99) == 64  # 0.89 < 0.891
    assert knee(dims, scores, keep=0.5) == 8
    assert knee(dims, scores, keep=1.0) == 64
    assert knee(dims, [0.9, 0.95, 0.7, 0.6], keep=0.99) == 16  # the best need not be the widest


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=8), st.floats(0.01, 1))
def test_knee_keeps_the_share_and_nothing_smaller_does(scores, keep):
    dims = [2**i for i in range(len(scores))]
    d = knee(dims, scores, keep)
    i = dims.index(d)
    assert scores[i] >= keep * max(scores)
    assert all(s < keep * max(scores) for s in scores[:i])


@pytest.mark.parametrize(
    "args, message",
    [
        (([8, 16], [0.5]), "1 scores for 2 sizes"),
        (([16, 8], [0.5, 0.6]), "must increase"),
        (([8, 16], [0.5, NAN]), "finite"),
        (([8, 16], [0.5, 0.6], 1.5), "keep=1.5"),
    ],
)
def test_knee_rejects_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        knee(*args)


def test_knn_accuracy_votes_by_nearest_neighbours():
    train_z = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    train_y = torch.tensor([0, 0, 1])
    test_z = torch.tensor([[1.0, 0.05], [0.1, 1.0]])
    assert knn_accuracy(train_z, train_y, test_z, torch.tensor([0, 1])) == 1.0
    assert knn_accuracy(train_z, train_y, test_z, torch.tensor([0, 0]), k=3) == 1.0  # majority is class 0


def test_head_accuracy_per_size():
    logits = (torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert head_accuracy(logits, torch.tensor([0, 1])) == [0.5, 1.0]


def test_linear_probe_separates_separable_classes():
    torch.manual_seed(0)
    y = torch.arange(200) % 2
    z = torch.randn(200, 8) + 4 * torch.nn.functional.one_hot(y, 8).float()
    assert linear_probe_correct(z[:100], y[:100], z[100:], y[100:]).float().mean() > 0.95


@pytest.mark.parametrize(
    "call",
    [
        lambda bad, ok: search(bad, ok, 1),
        lambda bad, ok: search(ok, bad, 1),
        lambda bad, ok: knn_accuracy(bad, torch.zeros(4), ok, torch.zeros(4)),
        lambda bad, ok: linear_probe_correct(bad, torch.arange(4) % 2, ok, torch.arange(4) % 2),
        lambda bad, ok: PCA().fit(bad),
    ],
)
def test_nan_embeddings_are_rejected_by_every_metric(call):
    ok = torch.randn(4, 3)
    bad = ok.clone()
    bad[2, 1] = NAN
    with pytest.raises(ValueError, match=r"1 NaN/inf value\(s\) \(first at row 2\)"):
        call(bad, ok)


def test_search_rejects_mismatched_widths_and_too_large_k():
    with pytest.raises(ValueError, match="3 features but the database has 4"):
        search(torch.randn(2, 3), torch.randn(5, 4), 1)
    with pytest.raises(ValueError, match="k=6 is outside 1..5"):
        search(torch.randn(2, 4), torch.randn(5, 4), 6)


def test_pca_matches_scikit_learn_and_nests():
    from sklearn.decomposition import PCA as SklearnPCA

    torch.manual_seed(0)
    z = torch.randn(300, 12) * torch.linspace(5, 0.1, 12)
    pca = PCA().fit(z)
    expected = SklearnPCA(svd_solver="full").fit(z.double().numpy()).transform(z.double().numpy())
    assert torch.allclose(pca.transform(z, 12).double(), torch.from_numpy(expected), atol=1e-4)
    assert torch.equal(pca.transform(z, 3), pca.transform(z, 12)[:, :3])
    ratio = pca.explained_variance_ratio
    assert torch.all(ratio[:-1] >= ratio[1:]) and ratio.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="d=13 is outside 1..12"):
        pca.transform(z, 13)


def test_dot_product_search_ranks_by_length_too():
    db = torch.tensor([[1.0, 0.0], [3.0, 3.0]])
    q = torch.tensor([[1.0, 0.1]])
    assert search(q, db, 1).item() == 0  # cosine: the direction wins
    assert search(q, db, 1, normalize=False).item() == 1  # dot product: the long vector wins


def test_accuracy_interval_covers_the_true_accuracy_about_95_times_in_100():
    g = torch.Generator().manual_seed(0)
    covered = 0
    for seed in range(200):  # 200 test sets of 500 images from a method that is right 70 % of the time
        right = torch.rand(500, generator=g) < 0.7
        _, low, high = accuracy_interval(right, seed=seed)
        covered += low <= 0.7 <= high
    assert 180 <= covered <= 198  # 95 % of 200 is 190; a percentile bootstrap is close to it
    _, low, high = accuracy_interval(torch.rand(4000, generator=g) < 0.7)
    _, low_1k, high_1k = accuracy_interval(torch.rand(1000, generator=g) < 0.7)
    assert (high - low) == pytest.approx((high_1k - low_1k) / 2, rel=0.2)  # 4x the rows, half the width


def test_a_paired_lead_is_much_tighter_than_the_two_accuracies_intervals():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2000, generator=g) < 0.7
    b = a.clone()
    b[torch.randperm(2000, generator=g)[:60]] ^= True  # the two methods disagree on 3 % of the images
    lead, low, high = accuracy_interval(a, baseline=b)
    assert lead == pytest.approx(a.float().mean().item() - b.float().mean().item())
    _, a_low, a_high = accuracy_interval(a)
    assert high - low < (a_high - a_low) / 2
    table = results.table([results.row("a", 8, "acc", a, interval=True), results.row("b", 8, "acc", b, interval=True)])
    leads, spans = results.leads(table, "acc", "b", ["a"])
    assert leads == {"a": {8: lead}} and spans == {"a": {8: (low, high)}}
    assert results.spans(table, "acc", ["a"]) == {"a": {8: (a_low, a_high)}}
    with pytest.raises(ValueError, match="accuracy_interval: correct must be a non-empty 1-D bool tensor"):
        accuracy_interval(a.float())
    with pytest.raises(ValueError, match="baseline has 10 rows, correct has 2000"):
        accuracy_interval(a, baseline=b[:10])
    with pytest.raises(ValueError, match=r"no 'acc' results for \['c'\]; the table has \['a', 'b'\]"):
        results.leads(table, "acc", "c", ["a"])


def test_nearest_by_prefix_agrees_with_a_search_at_each_size():
    g = torch.Generator().manual_seed(0)
    train, test = torch.randn(300, 32, generator=g), torch.randn(50, 32, generator=g)
    sizes = [2, 5, 8, 20, 32]  # not 1: at one dim every row of the same sign ties (cosine 1 or -1)
    found = nearest_by_prefix(train, test, sizes, chunk=16)  # several query chunks
    for d in sizes:
        expected = search(test[:, :d], train[:, :d], k=1)[:, 0]  # cosine of the re-normalised prefix
        assert (found[d] == expected).float().mean() >= 0.98, d  # float sums in another order may flip a near-tie
    with pytest.raises(ValueError, match="nearest_by_prefix"):
        nearest_by_prefix(train, test, [8, 4])
