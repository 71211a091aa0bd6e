"""Notebook 04's side-by-side: every method's prefix through one index (mrl_lab.serving.regimes), and the PCA
control fitted on another corpus (pretrained.with_pca_control's fit_on)."""

import pandas as pd
import pytest
import torch

from mrl_lab.evaluation.baselines import PCA
from mrl_lab.experiments.pretrained import with_pca_control
from mrl_lab.serving.regimes import compare, found, metric, needed, prefix_recall, side_by_side, verdict_lines


def ordered_and_reversed(n=600, m=40, width=32, seed=0):
    """A database whose first dims carry the most ("ordered") and the same vectors with the dims reversed:
    the same neighbours at full width, a useless short prefix."""
    g = torch.Generator().manual_seed(seed)
    scale = torch.linspace(3, 0.1, width)
    db = torch.randn(n, width, generator=g) * scale
    q = db[:m] + 0.2 * torch.randn(m, width, generator=g) * scale
    return {"MRL": db, "reversed": db.flip(1)}, {"MRL": q, "reversed": q.flip(1)}


def test_found_is_each_querys_share_of_the_truth():
    shares = found(torch.tensor([[1, 2, 3], [4, 5, 6]]), torch.tensor([[3, 9, 1], [7, 8, 9]]))
    assert shares.tolist() == pytest.approx([2 / 3, 0])
    with pytest.raises(ValueError, match="same queries and k"):
        found(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long))


def test_a_prefix_that_holds_the_neighbours_is_ahead_and_the_verdict_lines_say_where():
    corpus, queries = ordered_and_reversed()
    results = prefix_recall(corpus, queries, sizes=(4, 8), shortlists=(20, 50, 600))
    assert set(results["metric"]) == {metric(20), metric(50), metric(600)}
    per_query = results[(results["method"] == "MRL") & (results["size"] == 4)]["items"].iloc[0]
    assert per_query.shape == (40,) and per_query.dtype == torch.float32
    everything = results[results["metric"] == metric(600)]  # the whole database re-ranked: exact search
    assert (everything["value"] == 1.0).all()
    table = compare(results, 50)
    assert list(table["baseline"]) == ["reversed", "reversed"] and list(table["verdict"]) == ["ahead", "ahead"]
    assert (table["MRL"] > table["baseline's"]).all() and (table["lead"] > 0).all()
    lines = verdict_lines({"toy": table})
    assert lines[0] == "toy: MRL vs reversed: ahead at 4, 8 dims"
    points = [f"{d} dims: {100 * x:+.1f} pt [{100 * lo:+.1f}, {100 * hi:+.1f}]"
              for d, x, lo, hi in zip(table["size"], table["lead"], table["95% low"], table["95% high"])]  # fmt: skip
    assert lines[1] == f"MRL ahead of reversed at: toy ({points[0]}; {points[1]})" and "+" in points[0]
    behind = verdict_lines({"toy": compare(results, 50, method="reversed")}, method="reversed")
    assert behind[-1] == "reversed ahead of MRL at: nowhere in this run"  # said, not left out


def test_the_same_vectors_tie_with_themselves():
    corpus, queries = ordered_and_reversed()
    corpus["copy"], queries["copy"] = corpus["MRL"].clone(), queries["MRL"].clone()
    results = prefix_recall(corpus, queries, sizes=(4,), shortlists=(50,))
    row = compare(results, 50, baselines=["copy"]).iloc[0]
    assert row["lead"] == 0 and row["verdict"] == "tied"


def test_needed_reads_off_the_shortest_shortlist_that_reaches_the_target_and_what_it_reads():
    corpus, queries = ordered_and_reversed()
    results = prefix_recall(corpus, queries, sizes=(4,), shortlists=(20, 50, 100, 600))
    reach = needed(results, 0.95, rows=600, width=32).set_index("method")
    mrl = results[results["method"] == "MRL"].set_index("metric")["value"]
    first = min(n for n in (20, 50, 100, 600) if mrl[metric(n)] >= 0.95)
    assert reach.loc["MRL", "shortlist"] == first
    assert reach.loc["MRL", "MB per query"] == pytest.approx((600 * 4 + first * 32) * 4 / 2**20)
    assert needed(results, 1.01).set_index("method").loc["MRL", "shortlist"] is None  # never reached: None


def test_side_by_side_puts_every_regime_in_one_table():
    corpus, queries = ordered_and_reversed()
    results = {"a": prefix_recall(corpus, queries, sizes=(4, 8), shortlists=(50, 600)),
               "b": prefix_recall(corpus, queries, sizes=(4, 8), shortlists=(50, 600))}  # fmt: skip
    t = side_by_side(results, 50, target=0.99)
    assert list(t.index) == [("a", 4), ("a", 8), ("b", 4), ("b", 8)]
    assert list(t.columns) == [("recall, shortlist 50", "MRL"), ("recall, shortlist 50", "reversed"),
                               ("shortlist for 0.99", "MRL"), ("shortlist for 0.99", "reversed")]  # fmt: skip
    assert t.loc[("a", 4), ("recall, shortlist 50", "MRL")] == pytest.approx(
        results["a"].set_index(["method", "size", "metric"]).loc[("MRL", 4, metric(50)), "value"]
    )
    assert not pd.isna(t.loc[("a", 8), ("shortlist for 0.99", "MRL")])


def test_a_grown_corpus_is_served_at_its_new_size():
    corpus, queries = ordered_and_reversed(n=300)
    small = prefix_recall(corpus, queries, sizes=(4,), shortlists=(50, 800))
    grown = prefix_recall(corpus, queries, sizes=(4,), shortlists=(50, 800), rows=1000)
    assert metric(800) not in set(small["metric"])  # a shortlist longer than the corpus is skipped
    assert metric(800) in set(grown["metric"])  # the grown one has 1,000 rows to re-rank from
    hard = grown[grown["metric"] == metric(50)].set_index("method")["value"]
    easy = small[small["metric"] == metric(50)].set_index("method")["value"]
    assert (hard <= easy + 1e-6).all()  # more rows: a fixed shortlist finds no more


def test_bad_inputs_say_what_is_wrong():
    corpus, queries = ordered_and_reversed()
    with pytest.raises(ValueError, match="must lie in 1..31"):
        prefix_recall(corpus, queries, sizes=(32,))  # full width is not a prefix
    with pytest.raises(ValueError, match="give both for each"):
        prefix_recall(corpus, {"MRL": queries["MRL"]})


def test_pca_fitted_on_another_corpus_is_that_corpus_rotation():
    g = torch.Generator().manual_seed(0)
    here, other = torch.randn(200, 8, generator=g), torch.randn(300, 8, generator=g) * torch.arange(1.0, 9.0)
    queries = {"normal": here[:10]}
    own, _ = with_pca_control({"normal": here}, dict(queries))
    fitted_elsewhere, q = with_pca_control({"normal": here}, dict(queries), fit_on=other)
    assert not torch.allclose(own["normal + PCA"], fitted_elsewhere["normal + PCA"], atol=1e-3)
    assert torch.allclose(fitted_elsewhere["normal + PCA"], PCA().fit(other).transform(here, 8), atol=1e-5)
    assert torch.allclose(q["normal + PCA"], PCA().fit(other).transform(here[:10], 8), atol=1e-5)
    assert torch.allclose(own["normal + PCA"], PCA().fit(here).transform(here, 8), atol=1e-5)
