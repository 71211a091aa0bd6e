"""Bad input by family (issue: "nothing lost, nothing unclear"): objects used before they are fitted, arguments
of the wrong shape, k against the corpus on every search path (quantized too), and charts given nothing. Each
gets a ValueError naming the function and what to pass."""

import re

import pytest
import torch
from torch import nn

from mrl_lab.core.heads import MRLHead
from mrl_lab.core.loss import MatryoshkaLoss
from mrl_lab.evaluation.baselines import PCA
from mrl_lab.evaluation.quantize import search_at
from mrl_lab.evaluation.search import hits_by_size
from mrl_lab.lab.plots import curves_table, plot_lead_panels, plot_vs_size
from mrl_lab.serving.funnel import AdaptiveIndex

q, c = torch.randn(5, 8), torch.randn(20, 8)
CASES = {
    "a PCA attribute read before fit": (lambda: PCA().explained_variance_ratio, "explained_variance_ratio: not fitted"),
    "a PCA transform before fit": (lambda: PCA().transform(q, 2), "PCA.transform: not fitted yet; call fit"),
    "int8 search, k larger than the corpus": (lambda: search_at(q, c, "int8", 50), "search_at: k=50"),
    "binary search, k larger than the corpus": (lambda: search_at(q, c, "binary", 25, rescore=True), "in 1..20"),
    "hits_by_size with k = 0": (lambda: hits_by_size(q, c, [4], k=0), "hits_by_size: k=0"),
    "the funnel with k = 0": (lambda: AdaptiveIndex(c, coarse_dims=[4]).search(q, 0), "AdaptiveIndex.search: k=0"),
    "the funnel, k larger than the corpus": (lambda: AdaptiveIndex(c, coarse_dims=[4]).search(q, 30), "k=30"),
    "a loss whose logits and labels disagree in batch size": (
        lambda: MatryoshkaLoss(nn.CrossEntropyLoss(), [4, 8])(MRLHead(8, 3, [4, 8])(torch.randn(6, 8)), torch.zeros(5)),
        "MatryoshkaLoss: outputs and targets have batch sizes [5, 6]"),
    "a chart of nothing": (lambda: plot_vs_size({}, metric="m"), "plot_vs_size: nothing to show"),
    "a chart of methods with no points": (lambda: plot_vs_size({"MRL": {}}), "plot_vs_size: nothing to show"),
    "a table of nothing": (lambda: curves_table({}), "curves_table: nothing to show"),
    "lead panels of nothing": (lambda: plot_lead_panels({}, "MRL"), "plot_lead_panels: nothing to draw"),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_each_family_of_bad_input_gets_a_clear_value_error(case):
    call, message = CASES[case]
    with pytest.raises(ValueError) as raised:
        call()
    assert message in str(raised.value)


def test_a_ragged_sts_b_file_names_the_file_the_line_and_the_columns(tmp_path):
    from mrl_lab.data.text import load_sts_benchmark

    folder = tmp_path / "stsbenchmark"
    folder.mkdir()
    good = "main-captions\tMSRvid\t2012test\t0001\t5.000\tA man plays.\tA man is playing.\n"
    (folder / "sts-test.csv").write_text(good + "main-captions\tMSRvid\t2012test\t0002\n")
    with pytest.raises(ValueError, match=r"sts-test.csv, line 2: expected at least 7 tab-separated fields"):
        load_sts_benchmark("test", root=tmp_path, download=False)


MORE = {
    "funnel stages given as sizes, not pairs": (lambda: AdaptiveIndex(c, coarse_dims=[4]).search(q, 3, stages=[4]),
                                                TypeError, "pass (size, shortlist) pairs"),
    "an adaptor that is not one": (lambda: __import__("mrl_lab.experiments.adaptor").experiments.adaptor.adapt(None, c),
                                   TypeError, "adapt: adaptor is a NoneType"),
    "kept_lead on results of different lengths": (
        lambda: __import__("mrl_lab.evaluation.intervals").evaluation.intervals.kept_lead(
            torch.ones(5).bool(), torch.ones(4).bool(), torch.ones(5).bool(), torch.ones(5).bool()),
        ValueError, "kept_lead: cut, whole, base_cut, base_whole have shapes"),
}  # fmt: skip


@pytest.mark.parametrize("case", MORE)
def test_arguments_of_the_wrong_shape_or_kind_name_the_function(case):
    call, error, message = MORE[case]
    with pytest.raises(error, match=re.escape(message)):
        call()
