"""What notebook 02's verdicts stand on: TF-IDF's per-item results and the paired interval of a share kept."""

from __future__ import annotations

import torch

from mrl_lab.data.text import SentencePairs, TextData
from mrl_lab.evaluation.intervals import kept_lead, lead, share_kept
from mrl_lab.evaluation.metrics import spearman
from mrl_lab.experiments import text

TITLES = ["oil prices rise", "striker scores late goal", "new chip is faster", "vote on the budget"]
DESCRIPTIONS = ["oil prices rose again", "a late goal by the striker", "the chip runs faster", "they vote today"]
STS = SentencePairs(
    ["oil prices rise", "new chip", "late goal"], ["oil prices fall", "a vote", "a late goal"],
    torch.tensor([3.0, 0.5, 4.5]), "tiny",
)  # fmt: skip


def test_tfidf_per_item_results_match_its_figures_and_feed_a_paired_lead():
    data = TextData(TITLES * 2, DESCRIPTIONS * 2, torch.tensor([0, 1, 2, 3] * 2))
    test = TextData(TITLES, DESCRIPTIONS, torch.tensor([0, 1, 2, 3]))
    plain = text.tfidf_reference(data, test, STS)
    reference = text.tfidf_reference(data, test, STS, per_item=True)
    assert "ranks" not in plain and reference["recall@10"] == plain["recall@10"]
    ranks, sims = reference["ranks"], reference["STS-B similarities"]
    assert ranks.shape == (4,) and ranks.min() >= 1 and sims.shape == (3,)
    assert (ranks <= 1).float().mean().item() == reference["recall@1"]
    assert spearman(sims, STS.scores) == reference["STS-B Spearman"]
    assert lead(ranks <= 10, ranks <= 10) == (0.0, 0.0, 0.0)  # the same titles: no lead, no doubt


def test_kept_lead_is_the_difference_of_shares_kept_and_pairs_the_items():
    whole = torch.ones(200, dtype=torch.bool)
    mine, base = torch.arange(200) % 5 != 0, torch.arange(200) % 2 == 0  # keeps 80 % and 50 %
    lead_, low, high = kept_lead(mine, whole, base, whole)
    assert abs(lead_ - 0.3) < 1e-9 and low < 0.3 < high and low > 0
    assert kept_lead(mine, whole, mine, whole) == (0.0, 0.0, 0.0)  # the same results: no lead, no doubt


def test_kept_lead_with_gold_compares_spearman_shares():
    generator = torch.Generator().manual_seed(0)
    gold = torch.randn(300, generator=generator)
    whole = gold + 0.3 * torch.randn(300, generator=generator)
    mine, base = gold + 0.5 * torch.randn(300, generator=generator), gold + 2.0 * torch.randn(300, generator=generator)
    lead_, low, high = kept_lead(mine, whole, base, whole, gold=gold)
    expected = share_kept(mine, whole, gold)[0] - share_kept(base, whole, gold)[0]
    assert abs(lead_ - expected) < 1e-9 and 0 < low < lead_ < high
