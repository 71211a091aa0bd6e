"""The one helper behind every speed verdict the lab prints: faster or slower only when repeated timings do not
overlap, else "no measurable difference"; and the serving table's lines that use it."""

import pytest
import torch

from mrl_lab.evaluation.timing import SAME, ratio_words, repeated, speed_words, spread
from mrl_lab.serving.ann import PrefixIndex, describe_best, latency


def t(median, low, high):
    return {"median": median, "low": low, "high": high}


def test_overlapping_repeats_are_no_measurable_difference_and_separate_ones_a_verdict():
    assert speed_words(t(1.0, 0.9, 1.1), t(2.0, 1.8, 2.2)) == "faster"
    assert speed_words(t(2.0, 1.8, 2.2), t(1.0, 0.9, 1.1)) == "slower"
    assert speed_words(t(1.0, 0.9, 1.9), t(2.0, 1.8, 2.2)) == SAME  # a 2x median ratio, but the repeats overlap
    assert ratio_words(0.5, 0.8) == "faster" and ratio_words(0.99, 1.01) == SAME and ratio_words(1.1, 1.3) == "slower"


def test_fewer_than_three_repeats_or_a_malformed_timing_is_refused():
    with pytest.raises(ValueError, match="repeated: repeats=2"):
        repeated(lambda: None, repeats=2)
    with pytest.raises(ValueError, match="spread: need 3 or more"):
        spread([1.0, 2.0])
    with pytest.raises(ValueError, match="speed_words: a="):
        speed_words({"median": 1.0}, t(1, 1, 1))
    with pytest.raises(ValueError, match="ratio_words"):
        ratio_words(1.2, 0.8)


def test_latency_reports_the_spread_of_its_rounds_and_describe_best_calls_a_tie_a_tie():
    corpus, queries = torch.randn(500, 32), torch.randn(12, 32)
    index = PrefixIndex(corpus, 8, kind="flat")
    figures = latency(lambda q: index.search(q, 5, shortlist=50), queries, repeats=3)
    assert figures["low_ms"] <= figures["median_ms"] <= figures["high_ms"] <= figures["p95_ms"] * 10
    exact = dict(index="exact", kind="flat", d=32, shortlist=None, effort=None, recall=1.0,
                 median_ms=1.0, low_ms=0.8, high_ms=1.3)  # fmt: skip
    prefix = dict(index="hnsw on 8 dims, re-rank 50", kind="hnsw", d=8, shortlist=50, effort=50, recall=0.97,
                  median_ms=0.9, low_ms=0.7, high_ms=1.2)  # fmt: skip
    line = describe_best([exact, prefix], 0.95)
    assert "no measurable difference from exact" in line and "faster" not in line
    quick = dict(prefix, median_ms=0.2, low_ms=0.15, high_ms=0.25)
    assert "5.0x faster than exact" in describe_best([exact, quick], 0.95)


def test_a_cost_ratio_takes_its_own_words_and_a_missed_target_is_said_plainly():
    from mrl_lab.serving.cascade import against_target

    assert ratio_words(0.97, 0.99, below="cheaper", above="dearer") == "cheaper"
    assert ratio_words(0.95, 1.02, below="cheaper", above="dearer") == SAME  # 0.99x inside the noise: not cheaper
    full = torch.arange(2000) % 10 < 8
    assert against_target(full, full, 0.005).endswith("met")
    worse = full & (torch.arange(2000) % 50 != 0)  # 40 more wrong of 2,000: 2 pt below the full head
    assert against_target(worse, full, 0.005).endswith("target (at most 0.5 pt below) missed by 1.5 pt")
    with pytest.raises(ValueError, match="against_target: within=1.0 must be a fraction"):
        against_target(full, full, 1.0)  # a whole accuracy, not a fraction of a point
