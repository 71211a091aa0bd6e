"""Notebook 07's comparisons: a rival against the MRL prefix of the same bytes, on the same items."""

import pandas as pd
import pytest
import torch

from mrl_lab.evaluation.results import row, table
from mrl_lab.experiments import rivals


def results():
    g = torch.Generator().manual_seed(0)
    strong, weak = torch.rand(400, generator=g) < 0.9, torch.rand(400, generator=g) < 0.5
    out = table([row(rivals.MRL, 12, "recall@10", strong, interval=True),
                 row(rivals.MRL, 48, "recall@10", weak, interval=True),
                 row("CSR", 8, "recall@10", weak, interval=True),
                 row("CSR", 32, "recall@10", weak, interval=True)])  # fmt: skip
    out["bytes"] = [48, 192, 48, 192]
    return out


def test_a_rival_meets_the_prefix_of_its_own_bytes_on_the_same_items():
    leads = rivals.versus_prefix(results(), "CSR")
    assert list(leads["bytes"]) == [48, 192] and list(leads["prefix_dims"]) == [12, 48]
    assert list(leads["verdict"]) == ["behind", "tied"]  # 48 bytes: a weak code against a strong prefix
    assert leads.loc[1, "lead"] == 0 and leads.loc[1, "low"] == 0  # the same items: no difference at all
    assert rivals.tally(leads, "byte budget") == "ahead at 0, tied at 1, behind at 1 of 2 byte budgets"


def test_an_unknown_rival_is_named_with_the_ones_there_are():
    with pytest.raises(ValueError, match=r"versus_prefix: no 'recall@10' rows for rival='SPLADE'; choose one of "
                                         r"\['CSR', 'fine-tuned MRL'\]"):  # fmt: skip
        rivals.versus_prefix(results(), "SPLADE")
    assert (
        rivals.tally(pd.DataFrame({"verdict": ["ahead"]}), "width") == "ahead at 1, tied at 0, behind at 0 of 1 width"
    )
