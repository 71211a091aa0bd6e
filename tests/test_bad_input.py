"""Bad arguments fail at once with an error that names the function, the value and the fix,
instead of training nothing, cutting silently or raising from deep inside a library."""

import re
from types import SimpleNamespace

import pandas as pd
import pytest
import scipy.sparse
import torch
from PIL import Image
from torch import nn

import mrl_lab
from mrl_lab.core.heads import MRLHead
from mrl_lab.data import tokenizer
from mrl_lab.data.files import read_texts
from mrl_lab.data.images import load_cifar10
from mrl_lab.data.text import AGNews, SentencePairs, TextData, load_ag_news, load_sts_benchmark
from mrl_lab.evaluation import intervals, metrics, quantize, results
from mrl_lab.evaluation.baselines import PCA
from mrl_lab.evaluation.metrics import head_accuracy, knee, knn_accuracy, linear_probe_correct, recall_at_k
from mrl_lab.evaluation.search import hits_by_size, search, target_ranks
from mrl_lab.experiments import adaptor as experiment_adaptor
from mrl_lab.experiments import check, cifar, csr, layers, pretrained, rivals, text
from mrl_lab.experiments.adaptor import adapt
from mrl_lab.lab import plots, report, widgets
from mrl_lab.models import adaptor
from mrl_lab.models.convnet import ConvNet
from mrl_lab.models.text_encoder import TextEncoder
from mrl_lab.serving import ann, cascade, funnel, regimes
from mrl_lab.training.augment import random_crop_flip
from mrl_lab.training.trainer import TrainSettings, seed_everything


def test_a_head_given_wider_embeddings_than_it_was_built_for_refuses_instead_of_cutting():
    head = MRLHead(16, 10, [4, 16])
    with pytest.raises(ValueError, match=r"MRLHead: z must have shape \(batch, 16\); got shape \(2, 32\)"):
        head(torch.randn(2, 32))
    assert [tuple(x.shape) for x in head(torch.randn(2, 16))] == [(2, 10), (2, 10)]


@pytest.mark.parametrize("num_classes", [0, -1, 2.5, True])
def test_a_head_needs_at_least_one_class(num_classes):
    with pytest.raises(ValueError, match="MRLHead: num_classes="):
        MRLHead(16, num_classes, [16])


@pytest.mark.parametrize("setting", [{"epochs": 0}, {"batch_size": -8}, {"epochs": 1.5}, {"lr": 0.0}])
def test_training_that_would_do_nothing_is_refused(setting):
    x, y = torch.randn(16, 4), torch.arange(16) % 2
    with pytest.raises(ValueError, match="train: "):
        schedule = TrainSettings(**(dict(epochs=1, batch_size=8) | setting))
        mrl_lab.train(nn.Linear(4, 2), nn.CrossEntropyLoss(), x, y, schedule, progress=None)


def test_training_settings_that_are_not_settings_are_named():
    x, y = torch.randn(16, 4), torch.arange(16) % 2
    with pytest.raises(TypeError, match="train: settings=8 has no epochs, batch_size, lr, weight_decay, warmup, seed"):
        mrl_lab.train(nn.Linear(4, 2), nn.CrossEntropyLoss(), x, y, 8)


def test_knee_with_only_negative_scores_says_why_instead_of_stopiteration():
    with pytest.raises(ValueError, match="knee: the best score is -0.1 < 0"):
        knee([8, 16], [-0.5, -0.1])
    assert knee([8, 16], [0.0, 0.0]) == 8


@pytest.mark.parametrize(
    "content, message",
    [
        ('"1","a title","a text"\n"2","short row"\n', "line 2: expected class"),
        ('"1","a title","a text"\n"5","title","text"\n', "line 2: expected class"),
        ("", "has no rows"),
    ],
)
def test_a_malformed_ag_news_file_names_the_file_and_line(tmp_path, content, message):
    folder = tmp_path / "ag_news_csv"
    folder.mkdir()
    (folder / "test.csv").write_text(content)
    with pytest.raises(ValueError, match=f"load_ag_news: .*test.csv.*{message}"):
        load_ag_news(root=tmp_path, download=False)


def test_a_cifar_batch_file_that_is_not_the_published_one_is_refused_before_it_is_unpickled(tmp_path):
    import os
    import pickle

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo unsafe > " + str(tmp_path / "ran"),))

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(pickle.dumps({"data": Payload(), "labels": [0]}))
    expected = r"load_cifar10: .*test_batch is not the published file \(md5 [0-9a-f]{32}, expected 4035"
    with pytest.raises(ValueError, match=expected):
        load_cifar10("test", root=tmp_path, download=False)
    assert not (tmp_path / "ran").exists()


def test_a_mistyped_data_folder_is_not_created_but_a_new_folder_in_an_existing_one_is(tmp_path):
    from mrl_lab.data.locate import _writable_root

    typo = tmp_path / "shraed" / "data"
    with pytest.raises(OSError, match="its parent folder does not exist"):
        _writable_root([typo])
    assert not (tmp_path / "shraed").exists()
    assert _writable_root([tmp_path / "data"]) == tmp_path / "data"


def test_a_nan_row_is_not_quantised_into_a_searchable_vector():
    from mrl_lab.evaluation.quantize import quantize

    corpus = torch.randn(4, 8)
    corpus[2, 3] = float("nan")
    for precision in ("binary", "int8", "float32"):
        with pytest.raises(ValueError, match=r"quantize: corpus contain 1 NaN/inf value\(s\) \(first at row 2\)"):
            quantize(corpus, precision)


def test_empty_queries_or_corpora_are_refused_with_their_shape():
    from mrl_lab.evaluation.search import target_ranks

    with pytest.raises(ValueError, match=r"queries are empty \(shape \(0, 8\)\)"):
        target_ranks(torch.randn(0, 8), torch.randn(5, 8), torch.arange(0))


def test_a_search_dashboard_with_no_sizes_says_so_instead_of_using_the_default():
    from mrl_lab.lab.widgets import search_dashboard

    corpus = {"m": lambda d: torch.randn(3, d)}
    with pytest.raises(ValueError, match="search_dashboard: nesting sizes are empty"):
        search_dashboard(lambda q: corpus, corpus, ["a", "b", "c"], ["x", "y", "z"], full_dim=8, sizes=[])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda w, corpus: w.search_dashboard(lambda q: corpus, corpus, list("abc"), list("xyz"), 8, start=3),
         r"search_dashboard: start=3 is not one of the sizes \[1, 2, 4, 8\]"),
        (lambda w, corpus: w.truncation_dashboard({"m": {4: 0.5, 8: 0.6}}, lambda d: {"m": 0.5}, 8, start=12),
         r"truncation_dashboard: start=12; it must be a whole number in 1..8"),
        (lambda w, corpus: w.truncation_dashboard({}, lambda d: {}, 8), "truncation_dashboard: nothing to show"),
        (lambda w, corpus: w.neighbour_dashboard({}, {}, None, None, sizes=[4, 8], start=16),
         r"neighbour_dashboard: start=16 is not one of the sizes \[4, 8\]"),
    ],
)  # fmt: skip
def test_a_dashboard_refuses_a_start_its_slider_would_silently_replace(make, message):
    from mrl_lab.lab import widgets

    corpus = {"m": lambda d: torch.randn(3, d)}
    with pytest.raises(ValueError, match=message):
        make(widgets, corpus)


def test_embedding_no_texts_is_refused_before_the_model_runs():
    from mrl_lab.experiments import pretrained

    with pytest.raises(ValueError, match="embed: the list of texts is empty"):
        pretrained.embed(None, [], "key")


@pytest.mark.parametrize("settings, message", [
    ({"n_dims_per_step": 2.5}, r"n_dims_per_step=2.5; it must be a whole number in 1\.\.3"),
    ({"n_dims_per_step": 4}, r"n_dims_per_step=4; it must be a whole number in 1\.\.3"),
    ({"n_dims_per_step": True}, "n_dims_per_step=True"),
    ({"weights": [0, 0, 0]}, "all weights are 0"),
])  # fmt: skip
def test_matryoshka_loss_settings_that_would_fail_later_or_train_nothing_are_refused(settings, message):
    from mrl_lab.core.loss import MatryoshkaLoss

    with pytest.raises(ValueError, match=f"MatryoshkaLoss: {message}"):
        MatryoshkaLoss(nn.MSELoss(), [2, 4, 8], **settings)


def test_the_cifar_md5_sums_are_the_ones_torchvision_publishes():
    from torchvision.datasets import CIFAR10

    from mrl_lab.data.images import CIFAR10_MD5

    assert CIFAR10_MD5 == dict(CIFAR10.train_list + CIFAR10.test_list)


Z = torch.nn.functional.normalize(torch.randn(20, 16, generator=torch.Generator().manual_seed(0)), dim=1)
Y = torch.arange(20) % 4


def _tokenizer():
    return tokenizer.Tokenizer(min_count=1, buckets=8).fit(["oil prices rise"])


# (call, the error's type, what the message must say): each call used to pass silently, or to fail
# deep inside torch, NumPy, scikit-learn or scipy without naming the function or the value.
CASES = {
    "labels of another length (k-NN)": (
        lambda: knn_accuracy(Z, Y[:5], Z, Y), ValueError, r"knn_accuracy: train_y has shape \(5,\)"),
    "labels of another length (head)": (
        lambda: head_accuracy(torch.randn(20, 4), Y[:5]), ValueError, "head_accuracy: labels"),
    "no logits": (lambda: head_accuracy(torch.randn(0, 4), Y[:0]), ValueError, "logits are empty"),
    "probe widths differ": (
        lambda: linear_probe_correct(Z, Y, Z[:, :8], Y), ValueError, "train_z has 16 features but test_z"),
    "probe labels": (
        lambda: linear_probe_correct(Z, Y[:5], Z, Y), ValueError, "linear_probe_correct: train_y"),
    "recall targets": (
        lambda: recall_at_k(torch.zeros(20, 5, dtype=torch.long), Y[:4], 3), ValueError, "recall_at_k: targ"),
    "a target past the database": (
        lambda: target_ranks(Z, Z, Y + 100), ValueError, r"rows 0\.\.19; got 100\.\.103"),
    "constant similarities": (
        lambda: metrics.spearman([0.5, 0.5, 0.5], [1, 2, 3]), ValueError, "predicted similarities are all equal"),
    "PCA of one row": (lambda: PCA().fit(Z[:1]), ValueError, "PCA.fit: train_z has 1 row"),
    "PCA of another width": (
        lambda: PCA().fit(Z).transform(Z[:, :8], 4), ValueError, "z has 8 features but PCA was fitted on 16"),
    "an encoder 0 wide": (lambda: ConvNet(embed_dim=0), ValueError, "ConvNet: embed_dim=0"),
    "encode nothing": (lambda: mrl_lab.encode(nn.Linear(16, 2), Z[:0]), ValueError, "encode: inputs are empty"),
    "encode in batches of 0": (lambda: mrl_lab.encode(nn.Linear(16, 2), Z, batch_size=0), ValueError, "batch_size=0"),
    "a negative crop padding": (
        lambda: random_crop_flip(torch.zeros(2, 3, 32, 32), pad=-1), ValueError, "random_crop_flip: pad=-1"),
    "one image without a batch": (
        lambda: random_crop_flip(torch.zeros(3, 32, 32)), ValueError, r"\(N, C, H, W\); got shape \(3, 32, 32\)"),
    "a seed that is a word": (lambda: seed_everything("a"), ValueError, "seed_everything: seed='a'"),
    "a negative vector count": (
        lambda: quantize.storage_bytes(-1, 8, "float32"), ValueError, "storage_bytes: n_vectors=-1"),
    "cascade labels": (
        lambda: cascade.cascade_curve([torch.randn(20, 4)] * 2, Y[:5], [8, 16], [0.5]), ValueError,
        "cascade_curve: 5 labels for 20 inputs"),
    "adaptor of another width": (
        lambda: adapt(adaptor.MatryoshkaAdaptor(16), Z[:, :8]), ValueError,
        r"adapt: the adaptor takes \(N, 16\)"),
    "an adaptor trained 0 steps": (
        lambda: experiment_adaptor.Settings(dims=(8, 16), k=3, steps=0), ValueError, "adaptor.Settings: steps=0"),
    "one string to fit on": (lambda: _tokenizer().fit("oil prices"), TypeError, "Tokenizer.fit takes a list"),
    "no texts to encode": (lambda: _tokenizer().encode([]), ValueError, "Tokenizer.encode: the list of texts is empty"),
    "numbers for texts": (lambda: _tokenizer().encode(["oil", 1]), TypeError, "every text must be a str; got int 1"),
    "a method name with a typo": (
        lambda: text.loss_for("FF-3two", text.SETTINGS["smoke"]), ValueError,
        "trained_sizes: unknown method 'FF-3two'"),
    "a fractional token limit": (
        lambda: tokenizer.Tokenizer(max_tokens=2.5), ValueError, "Tokenizer: max_tokens=2.5"),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_bad_arguments_are_refused_by_the_function_that_got_them(case):
    call, error, message = CASES[case]
    with pytest.raises(error, match=message):
        call()


# One table per family of bad input a new user tries (the audit of every subpackage's public API). Each case
# used to fail silently (a chart of nothing, a None result, a NaN) or deep inside torch, scipy or scikit-learn
# without naming the function; the message must now name the function and the fix.
q8, c8 = torch.randn(5, 8), torch.randn(20, 8)
FLAT = dict(model="MRL", index="exact", kind="flat", d=8, median_ms=1.0, recall=1.0, effort=None)
CHECK_TABLE = pd.DataFrame(
    columns=["method", "size", "precision", "rescore", "metric", "kept", "kept_low", "kept_high", "bytes"]
)

WRONG_TYPE = {
    "a list for a tensor": (
        lambda: search(q8.tolist(), c8, 3), TypeError,
        r"search: queries must be a torch\.Tensor; got list\. Pass one of shape \(N, dim\)"),
    "a NumPy array for a tensor": (
        lambda: MRLHead(16, 10, [8, 16])(Z.numpy()), TypeError,
        r"MRLHead: z must be a torch\.Tensor; got ndarray.*torch\.as_tensor converts"),
    "a list for labels": (
        lambda: knn_accuracy(Z, Y.tolist(), Z, Y), TypeError,
        r"knn_accuracy: train_y is a list; pass a tensor with one entry per row, shape \(20,\)"),
    "float row indices": (
        lambda: target_ranks(Z, Z, Y.float()), TypeError,
        r"target_ranks: targets must hold whole numbers .*Convert: \.long\(\)"),
    "a word for a temperature": (
        lambda: mrl_lab.InfoNCE(temperature="0.05"), ValueError, r"InfoNCE: temperature must be > 0; got '0\.05'"),
    "a word for a learning rate": (
        lambda: TrainSettings(epochs=1, batch_size=8, lr="3e-3"), ValueError, r"train: lr must be > 0; got '3e-3'"),
    "numbers where (low, high) pairs are wanted": (
        lambda: plots.plot_vs_size({"MRL": {8: 0.5}}, intervals={"MRL": {8: 0.4}}), ValueError,
        r"plot_vs_size: intervals=.*; pass \{method: \{size: \(low, high\)\}\}"),
    "no loss function": (
        lambda: mrl_lab.MatryoshkaLoss(None, [8, 16]), TypeError,
        r"MatryoshkaLoss: loss=None is not callable; pass .*e\.g\. nn\.CrossEntropyLoss\(\)"),
    "words for per-item results": (
        lambda: intervals.lead("ab", "cd"), TypeError, "lead: items must be one number or bool per item"),
    "a list for a results table": (
        lambda: report.kept_table([1], "m"), TypeError,
        r"kept_table: expected a table \(a pandas DataFrame\) with columns .*; got list; pass the table"),
    "a dict for serving rows": (
        lambda: ann.describe_best({"a": 1}, 0.9), TypeError,
        r"describe_best: rows=.* is not a list of dicts; pass serving_table"),
    "a number for a folder": (
        lambda: load_ag_news(root=5, download=False), TypeError,
        r"load_ag_news: root=5; pass a folder \(a str or a pathlib\.Path\)"),
    "a list of texts for one text": (
        lambda: _tokenizer().tokens(["oil"]), TypeError,
        r"Tokenizer\.tokens takes one text \(a str\); got list\. For several: encode"),
    "a progress that is neither a label nor a function": (
        lambda: mrl_lab.train(nn.Linear(4, 2), nn.CrossEntropyLoss(), torch.randn(16, 4), torch.zeros(16).long(),
                              TrainSettings(epochs=1, batch_size=8), progress=5), TypeError,
        r"train: progress=5; pass a label, a function report\(step, total, line\) or None"),
}  # fmt: skip

WRONG_SHAPE = {
    "one query without a batch axis": (
        lambda: search(Z[0], Z, 3), ValueError,
        r"search: queries must have shape \(N, dim\); got shape \(16,\) \(a single one needs a batch axis in front"),
    "one image without a batch axis": (
        lambda: ConvNet(8, width=2)(torch.zeros(3, 32, 32)), ValueError,
        r"ConvNet: images must have shape \(batch, 3, H, W\); got shape \(3, 32, 32\)"),
    "grey images": (
        lambda: ConvNet(8, width=2)(torch.zeros(2, 1, 32, 32)), ValueError,
        r"ConvNet: images must have shape \(batch, 3, H, W\); got shape \(2, 1, 32, 32\)"),
    "anchors of three axes": (
        lambda: mrl_lab.InfoNCE()(torch.randn(2, 4, 8), torch.randn(2, 4, 8)), ValueError,
        r"InfoNCE: anchors must have shape \(batch, dim\); got shape \(2, 4, 8\)"),
    "logits whose batch sizes disagree": (
        lambda: cascade.cascade([torch.randn(5, 3), torch.randn(4, 3)], [8, 16], 0.5), ValueError,
        r"cascade: the logit tensors have \[5, 4\] rows; pass each size's logits for the same inputs"),
    "queries and documents whose batch sizes disagree": (
        lambda: adaptor.ranking_loss(torch.randn(4, 8), torch.randn(5, 8), [4]), ValueError,
        r"ranking_loss: f_d must have shape \(4, 8\); got shape \(5, 8\)"),
    "binary search on queries of another width": (
        lambda: quantize.search_at(torch.randn(5, 4), c8, "binary", 3), ValueError,
        r"search_at: queries must have shape \(N, 8\); got shape \(5, 4\)"),
    "a storage table of two widths": (
        lambda: quantize.storage_table(torch.randn(5, 4), c8, torch.arange(5), [4], k=3), ValueError,
        r"storage_table: corpus must have shape \(N, 4\); got shape \(20, 8\)"),
    "an adaptor given wider embeddings": (
        lambda: adaptor.MatryoshkaAdaptor(8, hidden=4)(torch.randn(3, 16)), ValueError,
        r"MatryoshkaAdaptor: e must have shape \(N, 8\); got shape \(3, 16\)"),
    "per-item results of different lengths": (
        lambda: intervals.share_kept(torch.randn(5), torch.randn(4), torch.randn(5)), ValueError,
        r"share_kept: cut, whole, gold have shapes \[\(5,\), \(4,\), \(5,\)\]; pass 1-D results of the same items"),
    "more queries than database rows": (
        lambda: hits_by_size(torch.randn(30, 8), c8, [4]), ValueError,
        "hits_by_size: 30 queries for 20 database rows; .*pass at most one query per row"),
    "serving rows without their keys": (
        lambda: plots.plot_serving([{"kind": "hnsw"}]), ValueError,
        r"plot_serving: rows\[0\]=.* has no model, .*; pass serving_table"),
    "a table without the columns": (
        lambda: report.kept_table(pd.DataFrame({"a": [1]}), "m"), ValueError,
        r"kept_table: the table has no column 'method'.*; pass the table that"),
}  # fmt: skip

OUT_OF_RANGE = {
    "k = 0 neighbours": (
        lambda: knn_accuracy(Z, Y, Z, Y, k=0), ValueError, r"knn_accuracy: k=0; it must be a whole number in 1\.\.20"),
    "k larger than the corpus": (
        lambda: metrics.recall_check(q8, c8, [4], k=50), ValueError,
        r"recall_check: k=50; it must be a whole number in 1\.\.20"),
    "a size wider than the embedding": (
        lambda: hits_by_size(q8, c8, [4, 16]), ValueError,
        r"hits_by_size: nesting size 16 is wider than the embedding \(8 features\); use sizes <= 8"),
    "a coarse size wider than the embedding": (
        lambda: funnel.AdaptiveIndex(c8, coarse_dims=[16]), ValueError,
        r"AdaptiveIndex: coarse_dims: nesting size 16 is wider .*; use sizes <= 8"),
    "a negative hidden width": (
        lambda: adaptor.MatryoshkaAdaptor(8, hidden=-1), ValueError,
        r"MatryoshkaAdaptor: hidden=-1; it must be a whole number >= 1"),
    "a negative chunk (the search returned None)": (
        lambda: funnel.AdaptiveIndex(c8, chunk=-5), ValueError, r"AdaptiveIndex: chunk=-5; it must be a whole number"),
    "a chunk of 0 rows": (
        lambda: search(q8, c8, 3, chunk=0), ValueError, r"search: chunk=0; it must be a whole number >= 1"),
    "0 redrawn test sets": (
        lambda: intervals.accuracy_interval(Y > 0, resamples=0), ValueError,
        r"accuracy_interval: resamples=0; it must be a whole number >= 1"),
    "more components than dims": (
        lambda: PCA(32).fit(Z), ValueError, r"PCA\.fit: n_components=32; it must be a whole number in 1\.\.16"),
    "a token id past the vocabulary": (
        lambda: TextEncoder(10, 8, 4)(torch.tensor([[1, 20]])), ValueError,
        r"TextEncoder: ids must index rows of the embedding table \(vocab_size\) 0\.\.9; got 1\.\.20"),
    "a label past the classes (it counted as wrong)": (
        lambda: head_accuracy(torch.randn(2, 2), torch.tensor([0, 5])), ValueError,
        r"head_accuracy: labels must index classes 0\.\.1; got 0\.\.5"),
    "NaN true scores (they gave a rho)": (
        lambda: metrics.spearman([0.1, 0.2, 0.3], [1.0, float("nan"), 3.0]), ValueError,
        "spearman: truth holds NaN/inf at item 1; fix or drop that item"),
    "a NaN per-item result (it gave an interval)": (
        lambda: intervals.lead(torch.tensor([float("nan"), 1.0, 2.0]), torch.ones(3)), ValueError,
        "lead: items holds NaN/inf at item 0; fix or drop that item"),
    "a negative temperature to try": (
        lambda: cascade.fit_temperature(torch.randn(5, 3), torch.arange(5) % 3, [-1.0]), ValueError,
        "fit_temperature: grid must be > 0; got -1.0"),
    "a shortlist longer than the database": (
        lambda: plots.plot_funnel(100, 8, 1000, 16), ValueError,
        r"plot_funnel: shortlist=1000; it must be a whole number in 10\.\.100"),
    "a batch of one pair to rank (it gave NaN)": (
        lambda: adaptor.ranking_loss(torch.randn(1, 8), torch.randn(1, 8), [4]), ValueError,
        "ranking_loss: a batch of 1 pair has no other documents to rank below; pass 2 or more"),
}  # fmt: skip

UNFITTED = {
    "encode before fit (it gave trigram ids only)": (
        lambda: tokenizer.Tokenizer().encode(["oil"]), ValueError,
        r"Tokenizer\.encode: not fitted yet; call fit\(training_texts\) first"),
    "vocab_size before fit (it sized a model wrong)": (
        lambda: tokenizer.Tokenizer().vocab_size, ValueError, r"Tokenizer\.vocab_size: not fitted yet; call fit"),
    "tokens before fit": (
        lambda: tokenizer.Tokenizer().tokens("oil"), ValueError, r"Tokenizer\.tokens: not fitted yet; call fit"),
    "truncated before fit": (
        lambda: tokenizer.Tokenizer().truncated(["oil"]), ValueError,
        r"Tokenizer\.truncated: not fitted yet; call fit"),
    "a fit that keeps nothing (encode then said 'call fit first')": (
        lambda: tokenizer.Tokenizer(min_count=5, buckets=0).fit(["oil"]), ValueError,
        "Tokenizer.fit: no word occurs min_count=5 times and buckets=0.*lower min_count"),
}  # fmt: skip

EMPTY = {
    "no per-item results": (
        lambda: intervals.lead(torch.zeros(0), torch.zeros(0)), ValueError,
        r"lead: items, baseline hold 0 item\(s\); pass at least 2"),
    "no neighbours (it gave NaN)": (
        lambda: recall_at_k(torch.zeros(0, 3).long(), torch.zeros(0).long(), 1), ValueError,
        r"recall_at_k: neighbours are empty \(shape \(0, 3\)\); pass at least one row"),
    "no logit tensors (it gave [])": (
        lambda: head_accuracy((), Y), ValueError, r"head_accuracy: logits is an empty tuple; pass one \(N, classes\)"),
    "no sizes to store": (
        lambda: quantize.storage_table(q8, c8, torch.arange(5), [], k=3), ValueError,
        "storage_table: nesting sizes are empty; pass at least one"),
    "a chart of no serving rows (it drew nothing)": (
        lambda: plots.plot_serving([]), ValueError, r"plot_serving: rows=\[\] is empty; pass serving_table"),
    "a chart of exact search only (it drew nothing)": (
        lambda: plots.plot_serving([FLAT]), ValueError, "plot_serving: the rows hold exact search only.*serving_table"),
    "a report chart of an empty table (it drew nothing)": (
        lambda: report.quality_vs_bytes(CHECK_TABLE, "m"), ValueError,
        r"quality_vs_bytes: no rows with metric='m'; the table has metric \[\]"),
    "a lead panel with no points": (
        lambda: plots.plot_lead_panels({"a": ({"PCA": {}}, {})}, "MRL"), ValueError,
        r"plot_lead_panels \(panel 'a'\): nothing to show .*pass \{method: \{size: score\}\}"),
    "a nesting diagram of no sizes": (
        lambda: plots.plot_nesting([]), ValueError, "plot_nesting: nesting sizes are empty; pass at least one"),
    "a results row of no items (it gave NaN)": (
        lambda: results.row("MRL", 8, "acc", torch.zeros(0)), ValueError,
        "row: MRL at 8 dims, acc: items are empty; give one result per test item"),
    "a comparison of an empty table": (
        lambda: regimes.compare(results.table([]), 50), ValueError,
        "compare: no rows with metric='relative recall@10, shortlist 50'"),
    "verdicts of no comparisons (it gave [])": (
        lambda: regimes.verdict_lines({}), ValueError, r"verdict_lines: comparisons=\{\}; pass \{regime: compare"),
    "the best of no serving rows": (
        lambda: ann.best_at([], 0.9), ValueError, r"best_at: rows=\[\] is empty; pass serving_table"),
    "a search dashboard on fewer rows than it shows": (
        lambda: widgets.search_dashboard({"m": lambda t: torch.randn(1, 8)}, {"m": torch.randn(3, 8)}, list("abc"),
                                         list("xyz"), 8, start=8), ValueError,
        r"search_dashboard: corpus\['m'\] has 3 rows; it needs at least 5 \(TOP_K"),
    "a cascade over no inputs (it answered nothing)": (
        lambda: cascade.cascade([torch.randn(0, 3)] * 2, [8, 16], 0.5), ValueError,
        r"cascade: logits\[0\] are empty \(shape \(0, 3\)\); pass at least one row"),
    "no temperatures to try": (
        lambda: cascade.fit_temperature(torch.randn(3, 3), torch.arange(3), grid=[]), ValueError,
        "fit_temperature: grid is empty; pass temperatures > 0, or None"),
}  # fmt: skip

FAMILIES = {"wrong type": WRONG_TYPE, "wrong shape": WRONG_SHAPE, "out of range": OUT_OF_RANGE,
            "unfitted": UNFITTED, "empty": EMPTY}  # fmt: skip


@pytest.mark.parametrize("family, case", [(f, c) for f, cases in FAMILIES.items() for c in cases])
def test_each_family_of_bad_input_names_the_function_and_the_fix(family, case):
    call, error, message = FAMILIES[family][case]
    with pytest.raises(error, match=message):
        call()


# The audit of mrl_lab.experiments: one table per family of bad input to an experiment's functions, each caught
# where it enters (before any model loads or trains). Each used to fail with an AttributeError, KeyError, IndexError
# or a shape error from torch, or passed silently (a str embedded letter by letter, a chart of an empty table).
SMOKE = {m.__name__.rpartition(".")[2]: m.settings("smoke") for m in (check, layers, pretrained, text)}
SHORTLIST = torch.arange(50).reshape(5, 10) % 20  # 10 candidate rows of c8 for each of q8's 5 queries
NAN_ROW = torch.cat([q8[:1] * float("nan"), q8[1:]])
LEADS = results.table([results.row("CSR", 8, "recall@10", torch.ones(5).bool())])  # a results table without bytes

EXPERIMENT_CASES = {
    "another experiment's settings": {
        "cifar.train given text's": (
            lambda: cifar.train(SMOKE["text"], None, "MRL"), TypeError,
            r"cifar.train: settings has type text.Settings, not cifar.Settings; pass cifar.settings\(budget\)"),
        "rivals.equal_prefixes given pretrained's for CSR's": (
            lambda: rivals.equal_prefixes(SMOKE["pretrained"], None), TypeError,
            "equal_prefixes: settings has type pretrained.Settings, not csr.Settings"),
        "text.loss_for given CIFAR's (no temperature)": (
            lambda: text.loss_for("MRL", cifar.settings("smoke")), TypeError,
            r"text.loss_for: settings=Settings\(...\) has no temperature; pass text.settings\(budget\)"),
    },
    "wrong type": {
        "one method name for a list": (
            lambda: text.train_all(SMOKE["text"], None, only="MRL"), TypeError,
            r"text.train_all: only takes a list of method names; wrap a single method name in a list: \['MRL'\]"),
        "one text for a list (it was embedded letter by letter)": (
            lambda: text.embed(None, _tokenizer(), "oil prices"), TypeError,
            "text.embed takes a list of texts; wrap a single text in a list"),
        "code sizes as one number": (
            lambda: csr.Settings(ks=8), TypeError, r"csr.Settings: ks=8 is not a list of whole numbers; .*\(8,\)"),
        "layer counts as one number": (
            lambda: layers.Settings(layers=6), TypeError, "layers.Settings: layers=6 is not a list of whole numbers"),
        "a word for a share": (
            lambda: check.Settings(keep="0.9"), ValueError, r"check.Settings: keep .* must be in \(0, 1\]; got '0.9'"),
        "a word for a dropout": (
            lambda: text.drop_tokens(torch.ones(2, 3).long(), "0.3"), ValueError,
            r"drop_tokens: p must be in \[0, 1\); got '0.3'"),
        "a dict to continue from": (
            lambda: experiment_adaptor.fit(experiment_adaptor.Settings(dims=(4, 16), k=3), Z, start={}), TypeError,
            "adaptor.fit: start has type dict, not adaptor.MatryoshkaAdaptor"),
        "no model to read heads from": (
            lambda: cifar.heads_correct(None, torch.zeros(2, 3, 32, 32), Y[:2]), TypeError,
            "heads_correct: model has type NoneType, not convnet.Classifier"),
        "no row to describe (cheapest found none)": (
            lambda: check.describe(None, 16, SMOKE["check"], "recall@10"), TypeError,
            "describe: r has type NoneType, not Series; pass a row of check.evaluate's table"),
        "no model folder": (
            lambda: check.read_card(None), TypeError, "read_card: source=None; pass a model folder or a Hub name"),
    },
    "wrong shape": {
        "a shortlist for other queries": (
            lambda: check.rescored(SHORTLIST, q8[:3], c8, 3), ValueError,
            r"rescored: shortlist must have shape \(3, candidates\); got shape \(5, 10\)"),
        "top-k lists of other queries": (
            lambda: check.per_query(SHORTLIST, SHORTLIST[:3], None, 3), ValueError,
            r"per_query: truth must have shape \(5, k\); got shape \(3, 10\)"),
        "test vectors of another width": (
            lambda: cifar.centred(Z, Z[:, :8]), ValueError, r"centred: test_z must have shape \(N, 16\); got shape"),
        "training pairs of another width": (
            lambda: experiment_adaptor.Data(Z, Z[:, :8], Z[:, :8]), ValueError,
            r"adaptor.Data: queries must have shape \(N, 16\); got shape \(20, 8\)"),
        "titles without their descriptions": (
            lambda: pretrained.loss_cross_check(None, ["a", "b"], ["c"], [8]), ValueError,
            "loss_cross_check: 2 titles but 1 descriptions; pass pairs"),
    },
    "out of range": {
        "k past the shortlist": (
            lambda: check.rescored(SHORTLIST, q8, c8, 20), ValueError, r"rescored: k=20; .* whole number in 1\.\.10"),
        "more candidates than the corpus": (
            lambda: check.stored_search(q8, c8, "int8", 50), ValueError,
            r"stored_search: n \(the candidates per query\)=50; it must be a whole number in 1\.\.20"),
        "a shortlist shorter than the top 10": (
            lambda: rivals.quantized({"titles": c8, "descriptions": c8}, "m", [4], shortlist=5), ValueError,
            "quantized: shortlist=5; it must be a whole number >= 10"),
        "a code of no entries": (
            lambda: csr.code_bytes(8, 0), ValueError, r"code_bytes: hidden \(the code's entries\)=0"),
        "a learning rate of 0 (it trained nothing)": (
            lambda: experiment_adaptor.Settings(lr=0), ValueError, "adaptor.Settings: lr must be > 0; got 0"),
        "no training pairs": (lambda: text.Settings(max_pairs=0), ValueError, "text.Settings: max_pairs=0"),
        "no timed steps": (
            lambda: text.step_seconds(SMOKE["text"], None, {}, steps=0), ValueError, "step_seconds: steps=0"),
        "no queries to serve": (
            lambda: pretrained.served_vectors(SMOKE["pretrained"], None, None, queries=0), ValueError,
            "served_vectors: queries=0"),
        "a token limit of 0": (
            lambda: check.load_model("some/model", 0), ValueError, "load_model: max_tokens=0"),
    },
    "unknown name": {
        "a method with a typo, before the encoder loads": (
            lambda: layers.train(SMOKE["layers"], None, "2d MRL"), ValueError,
            r"layers.train: method='2d MRL'; choose one of \['MRL', '2D MRL'\]"),
        "a method the embeddings do not have": (
            lambda: text.Embeddings({"normal": {"titles": Z}}, None).at("mrl", 8), ValueError,
            r"Embeddings.at: method='mrl'; choose one of \['MRL', 'FF', 'normal, cut', 'PCA of normal'\]"),
        "vectors without the text sets": (
            lambda: pretrained.evaluate(SMOKE["pretrained"], None, {"m": {"titles": Z}}), ValueError,
            r"pretrained.evaluate: full\['m'\] lacks \['descriptions', 'sts1', 'sts2'\]"),
        "no normal model to rotate": (
            lambda: pretrained.with_pca_control({"MRL": Z}, {"MRL": Z}), ValueError,
            r"with_pca_control: corpus lacks \['normal'\] \(it has \['MRL'\]\)"),
        "a model not embedded": (
            lambda: cifar.Embeddings({"normal": {"train": Z, "test": Z}}, None).at("MRL", 8), ValueError,
            r"Embeddings.full_width: by_model lacks \['MRL'\]"),
    },
    "empty": {
        "no vectors to evaluate (it gave an empty table)": (
            lambda: layers.evaluate(SMOKE["layers"], None, {}), ValueError, "layers.evaluate: vectors is empty"),
        "no texts to time (it divided by 0)": (
            lambda: layers.encoding_ms(None, [], [1]), ValueError, "encoding_ms: the list of texts is empty"),
        "no losses to time": (
            lambda: text.step_seconds(SMOKE["text"], None, {}), ValueError, "step_seconds: losses is empty"),
    },
    "a results table without its columns": {
        "a tally of an empty leads table": (
            lambda: rivals.tally(pd.DataFrame(), "budget"), ValueError, "tally: the table has no column 'verdict'"),
        "a rival without bytes": (
            lambda: rivals.versus_prefix(LEADS, "CSR"), ValueError, "versus_prefix: the table has no column 'bytes'"),
        "leads without layer counts": (
            lambda: layers.leads(LEADS, "CSR", "CSR", None), ValueError, "layers.leads: the table has no column 'lay"),
        "knees of a metric not measured (it gave an empty table)": (
            lambda: check.knees(SMOKE["check"], CHECK_TABLE, "overlap@100"), ValueError,
            r"knees: no rows with metric='overlap@100'; the table has metric \[\]"),
    },
    "NaN": {
        "NaN embeddings to adapt": (
            lambda: adapt(adaptor.MatryoshkaAdaptor(8), NAN_ROW), ValueError,
            r"adapt: embeddings contain 8 NaN/inf value\(s\) \(first at row 0\)"),
        "a NaN query to quantize": (
            lambda: check.stored_search(NAN_ROW, c8, "binary", 3), ValueError,
            r"stored_search: queries contain 8 NaN/inf value\(s\)"),
    },
}  # fmt: skip


@pytest.mark.parametrize("family, case", [(f, c) for f, cases in EXPERIMENT_CASES.items() for c in cases])
def test_each_experiment_function_refuses_bad_input_where_it_enters(family, case):
    call, error, message = EXPERIMENT_CASES[family][case]
    with pytest.raises(error, match=message):
        call()


STS_ROW = "main-captions\tMSRvid\t2012test\t0001\t5.000\tA man plays.\tA man is playing.\n"
# (the file under the data folder, its bytes, its loader, what the message must say): a ragged or malformed file
# is named with its line and the columns expected there, and what to do about it.
RAGGED = {
    "AG News, a row of four fields": (
        "ag_news_csv/test.csv", b'"1","a","b","c"\n', "ag",
        r"load_ag_news: .*test\.csv, line 1: expected class \(1-4\), title, description; got 4 field\(s\).*re-down"),
    "AG News, a quote never closed (it swallowed the rows after it)": (
        "ag_news_csv/test.csv", b'"1","a","b"\n"2","never closed,"d"\n"3","a","b"\n', "ag",
        r"load_ag_news: .*test\.csv, line 2: .*\(a stray or unclosed quote\?\); expected class \(1-4\)"),
    "AG News, not UTF-8": (
        "ag_news_csv/test.csv", b'"1","a","b"\n"2","\xff","d"\n', "ag",
        r"load_ag_news: .*test\.csv, line 2: byte 0xff is not UTF-8 text; re-download it"),
    "AG News, too few rows to split (it gave empty splits)": (
        "ag_news_csv/test.csv", b'"1","a","b"\n', "ag",
        r"load_ag_news: .*test\.csv has 1 rows, too few to split 70/10/20 %.*restore the full file"),
    "STS-B, a score outside 0-5 (it was kept)": (
        "stsbenchmark/sts-test.csv", (STS_ROW + "a\tb\tc\td\t9.5\tx\ty\n").encode(), "sts",
        r"load_sts_benchmark: .*sts-test\.csv, line 2: expected at least 7 tab-separated fields .*score 0-5.*; "
        r"got score '9\.5'\. Replace the file"),
    "STS-B, an empty file (it gave no pairs)": (
        "stsbenchmark/sts-test.csv", b"", "sts",
        r"load_sts_benchmark: .*sts-test\.csv has no rows; expected at least 7 tab-separated fields"),
    "STS-B, not UTF-8": (
        "stsbenchmark/sts-test.csv", STS_ROW.encode() + b"a\tb\tc\td\t1.0\t\xe9\ty\n", "sts",
        r"load_sts_benchmark: .*sts-test\.csv, line 2: byte 0xe9 is not UTF-8 text; Replace the file"),
    "your texts, a quote never closed": (
        "docs.csv", b'text\n"abc\n', "texts",
        r"read_texts: .*docs\.csv, line 2: unexpected end of data .*; expected a header line naming the columns"),
    "your texts, not UTF-8": (
        "docs.txt", b"a cat\n\xff a dog\n", "texts",
        r"read_texts: .*docs\.txt, line 2: byte 0xff is not UTF-8 text; .*save it as UTF-8"),
}  # fmt: skip


@pytest.mark.parametrize("case", RAGGED)
def test_a_ragged_data_file_names_the_loader_the_file_the_line_and_the_columns(tmp_path, case):
    relative, content, loader, message = RAGGED[case]
    (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / relative).write_bytes(content)
    load = {"ag": lambda: load_ag_news(root=tmp_path, download=False),
            "sts": lambda: load_sts_benchmark("test", root=tmp_path, download=False),
            "texts": lambda: read_texts(tmp_path / relative)}[loader]  # fmt: skip
    with pytest.raises(ValueError, match=message):
        load()


@pytest.mark.parametrize("image, error, message", [
    (None, OSError, r"load_cifar10: .*test has the class folders but no \.jpg or \.png images in them; restore them"),
    ((16, 16), ValueError, r"load_cifar10: .*small\.png is not a 32x32 RGB image \(shape \(16, 16, 3\)\); replace"),
])  # fmt: skip
def test_a_cifar_image_folder_without_images_or_with_a_wrong_one_is_named(tmp_path, tmp_cache, image, error, message):
    from mrl_lab.data.images import CIFAR10_CLASSES

    folder = tmp_path / "cifar10" / "test"
    for name in CIFAR10_CLASSES:
        (folder / name).mkdir(parents=True)
    if image is not None:
        Image.new("RGB", image).save(folder / "cat" / "small.png")
    with pytest.raises(error, match=message):
        load_cifar10("test", root=tmp_path, download=False)


# Issue 38, "validate at the boundary, by family": the data objects, models and settings an experiment's function
# gets are checked where they enter, under the name of the function called. Each used to end in an AttributeError
# or a TypeError deep inside (a list for AG News, a bare model for cifar.train's, a dense array for sparse codes),
# in an error naming a lower-level function (pretrained.load_data for layers.load_data, csr.encode for latencies),
# or passed the settings' function and failed only when training started, after the data was loaded.
SPLIT = TextData([f"title {i}" for i in range(16)], [f"text {i}" for i in range(16)], torch.arange(16) % 4)
NEWS = AGNews(SPLIT, SPLIT, SPLIT, "tiny")
STS = SentencePairs(["a", "b", "c"], ["d", "e", "f"], torch.ones(3), "tiny")
TEXT_DATA = text.Data(SPLIT, SPLIT, SPLIT, STS, _tokenizer(), "tiny")
PRETRAINED_DATA = pretrained.Data(None, "tiny", SPLIT, SPLIT, STS, [], "tiny")
WIDE = {p: Z for p in pretrained.PARTS}  # every text set's full-width vectors (16 dims)
CSR_LIKE = SimpleNamespace(hidden_dim=64, input_dim=16)  # what latencies reads of a CSR model
CODES = scipy.sparse.csr_matrix(torch.eye(20, 8).numpy())  # 20 sparse codes of 8 entries


def _csr_model():
    return csr.build(csr.Settings(k=4, ks=(4,), k_aux=16), 16)


BOUNDARY = {
    "data objects": {
        "a list for AG News": (
            lambda: text.load_data(SMOKE["text"], news=[SPLIT]), TypeError,
            "text.load_data: news has type list, which has no train, val, test, note; pass load_ag_news()"),
        "a dict for STS-B": (
            lambda: text.load_data(SMOKE["text"], NEWS, sts={"scores": [1.0]}), TypeError,
            "text.load_data: sts has type dict, which has no sentences1, sentences2, scores; "
            "pass load_sts_benchmark('test')"),
        "another experiment's data to train on": (
            lambda: text.train(SMOKE["text"], PRETRAINED_DATA, "MRL"), TypeError,
            "text.train: data has type pretrained.Data, not text.Data; pass text.load_data(settings)"),
        "no data to time steps on": (
            lambda: text.step_seconds(SMOKE["text"], None, {"MRL": None}), TypeError,
            "step_seconds: data has type NoneType, not text.Data; pass text.load_data(settings)"),
        "a bare module to time at each depth": (
            lambda: layers.encoding_ms(torch.nn.Linear(2, 2), ["a title"], [1]), TypeError,
            "encoding_ms: model has type Linear, not SentenceTransformer; pass a sentence-transformers model"),
        "a bare module to cut in depth": (
            lambda: layers.cut_depth(torch.nn.Linear(2, 2), 1), TypeError,
            "cut_depth: model has type Linear, not SentenceTransformer; pass a sentence-transformers model"),
        "the whole data for its test split": (
            lambda: text.recall_hits(TextEncoder(10, 8, 4), _tokenizer(), TEXT_DATA, [4, 8]), TypeError,
            "recall_hits: test_set has type text.Data, which has no titles, descriptions, labels; pass a split "
            "of AG News, e.g. data.test"),
        "a tensor for STS-B (TF-IDF)": (
            lambda: text.tfidf_reference(SPLIT, SPLIT, torch.ones(3)), TypeError,
            "tfidf_reference: sts has type Tensor, which has no sentences1, sentences2, scores; pass load_sts"),
        "a dict for CIFAR's data": (
            lambda: cifar.evaluate(cifar.settings("smoke"), {"train": None}, {}), TypeError,
            "cifar.evaluate: data has type dict, not cifar.Data; pass cifar.load_data(settings)"),
        "embeddings that are not text's": (
            lambda: text.evaluate(SMOKE["text"], TEXT_DATA, {}, emb={"normal": {}}), TypeError,
            "text.evaluate: emb has type dict, not text.Embeddings; pass text.embed_all(settings, data, encoders)"),
        "a list for AG News (the pretrained encoder's data)": (
            lambda: pretrained.load_data(SMOKE["pretrained"], [SPLIT], STS, STS), TypeError,
            "pretrained.load_data: news has type list, which has no train, val, test, note; pass load_ag_news()"),
        "one split for STS-B's training split": (
            lambda: pretrained.load_data(SMOKE["pretrained"], NEWS, STS, SPLIT), TypeError,
            "pretrained.load_data: sts_train has type text.TextData, which has no sentences1, sentences2, scores; "
            "pass load_sts_benchmark('train')"),
        "text's data for the pretrained experiment's": (
            lambda: pretrained.evaluate(SMOKE["pretrained"], TEXT_DATA, {"m": WIDE}), TypeError,
            "pretrained.evaluate: data has type text.Data, not pretrained.Data; pass pretrained.load_data("),
        "a dict for the texts to embed": (
            lambda: pretrained.eval_texts({"titles": ["a"]}), TypeError,
            "eval_texts: data has type dict, not pretrained.Data; pass pretrained.load_data(settings, news"),
        "a list for the corpus to serve": (
            lambda: pretrained.served_vectors(SMOKE["pretrained"], PRETRAINED_DATA, [SPLIT]), TypeError,
            "served_vectors: news has type list, which has no train, val, test; pass load_ag_news()"),
        "a dict for AG News (notebook 02's model)": (
            lambda: pretrained.scratch_reference("smoke", {"train": SPLIT}, {"titles": ["a"]}), TypeError,
            "scratch_reference: news has type dict, which has no train, val, test, note; pass load_ag_news()"),
        "a list for AG News (2D Matryoshka)": (
            lambda: layers.load_data(SMOKE["layers"], [SPLIT], STS, STS), TypeError,
            "layers.load_data: news has type list, which has no train, val, test, note; pass load_ag_news()"),
        "text's data for 2D Matryoshka's": (
            lambda: layers.train(SMOKE["layers"], TEXT_DATA, "MRL"), TypeError,
            "layers.train: data has type text.Data, not pretrained.Data; pass pretrained.load_data("),
        "no data for the frozen vectors": (
            lambda: rivals.frozen_vectors(SMOKE["pretrained"], None), TypeError,
            "frozen_vectors: data has type NoneType, not pretrained.Data; pass pretrained.load_data("),
    },
    "models": {
        "a bare CIFAR model without its training record": (
            lambda: cifar.embed_all(cifar.settings("smoke"), cifar.Data(None, None), {"normal": nn.Sequential()}),
            TypeError, "cifar.embed_all: models['normal'] has type Sequential, not a (model, meta) pair; pass what "
                       "cifar.train_all returned"),
        "an encoder, not cifar.train's Classifier": (
            lambda: cifar.embed_all(cifar.settings("smoke"), cifar.Data(None, None),
                                    {"normal": (ConvNet(8, width=2), {})}), TypeError,
            "cifar.embed_all: models['normal']'s model has type convnet.ConvNet, not convnet.Classifier; pass what "
            "cifar.train_all returned"),
        "a bare text encoder without its training record": (
            lambda: text.embed_all(SMOKE["text"], TEXT_DATA, {"normal": TextEncoder(10, 8, 4)}), TypeError,
            "text.embed_all: encoders['normal'] has type text_encoder.TextEncoder, not a (model, meta) pair; "
            "pass what text.train_all returned"),
        "a tensor for the CSR model": (
            lambda: rivals.equal_prefixes(csr.settings("smoke"), torch.zeros(3)), TypeError,
            "equal_prefixes: model has type Tensor, which has no hidden_dim; pass the model csr.train returned"),
        "a linear layer for the CSR model to time": (
            lambda: rivals.latencies(nn.Linear(2, 2), {}, {}, {}), TypeError,
            "latencies: model has type Linear, which has no hidden_dim, input_dim; pass the model csr.train"),
        "CIFAR's settings for CSR's, before the model is built": (
            lambda: csr.train(cifar.settings("smoke"), None), TypeError,
            "csr.train: settings has type cifar.Settings, not csr.Settings; pass csr.settings(budget)"),
    },
    "lengths, shapes and k (named by the function called)": {
        "more test rows than AG News has (it named pretrained.load_data)": (
            lambda: layers.load_data(SMOKE["layers"], NEWS, STS, STS), ValueError,
            "layers.load_data: test_rows=100; it must be a whole number in 1..16"),
        "more STS-B rows than there are, before the encoder is looked for": (
            lambda: pretrained.load_data(pretrained.settings("smoke", test_rows=None), NEWS, STS, STS), ValueError,
            "pretrained.load_data: sts_rows=100; it must be a whole number in 1..3"),
        "sizes wider than the encoder (it named hits_by_size)": (
            lambda: text.recall_hits(TextEncoder(10, 8, 4), _tokenizer(), SPLIT, [4, 16]), ValueError,
            "recall_hits: nesting size 16 is wider than the embedding (8 features); use sizes <= 8"),
        "fewer than 10 pairs for the top 10 (it named hits_by_size)": (
            lambda: text.recall_hits(TextEncoder(10, 8, 4), _tokenizer(), SPLIT.take(range(5)), [4, 8]), ValueError,
            "recall_hits: test_set has 5 pairs; the top 10 needs at least 10"),
        "a prefix wider than the vectors (it named truncate)": (
            lambda: rivals.latencies(CSR_LIKE, WIDE, WIDE, {8: 500}), ValueError,
            "latencies: d (a value of equal)=500; it must be a whole number in 1..16"),
        "a k past the code's entries (it named csr.encode)": (
            lambda: rivals.latencies(CSR_LIKE, WIDE, WIDE, {128: 4}), ValueError,
            "latencies: k (a key of equal)=128; it must be a whole number in 1..64"),
        "fewer than 10 descriptions to time the top 10 on": (
            lambda: rivals.latencies(CSR_LIKE, {"titles": Z, "descriptions": Z[:5]}, WIDE, {8: 4}), ValueError,
            "latencies: base['descriptions'] has 5 rows; the top 10 needs at least 10"),
        "vectors of another width than the CSR model's (it named csr.encode)": (
            lambda: csr.evaluate(csr.Settings(k=4, ks=(4,), k_aux=16), _csr_model(), {p: Z[:, :8] for p in WIDE},
                                 torch.ones(20)), ValueError,
            r"csr.evaluate: full['titles'] must have shape (N, 16); got shape (20, 8)"),
        "titles without their descriptions (it named target_ranks)": (
            lambda: csr.evaluate(csr.Settings(k=4, ks=(4,), k_aux=16), _csr_model(), WIDE | {"descriptions": Z[:10]},
                                 torch.ones(20)), ValueError,
            "csr.evaluate: full has 20 titles but 10 descriptions; pass the vectors of pairs, row for row"),
        "scores of other pairs (it named spearman)": (
            lambda: csr.evaluate(csr.Settings(k=4, ks=(4,), k_aux=16), _csr_model(), WIDE, torch.ones(3)), ValueError,
            "csr.evaluate: sts_scores has shape (3,); it needs one entry per row: shape (20,)"),
        "rows of different widths to train the adaptor on (it named adaptor.Data)": (
            lambda: rivals.dense_methods("smoke", SMOKE["pretrained"], PRETRAINED_DATA, WIDE,
                                         {"q": Z[:, :8], "d": Z[:, :8]}), ValueError,
            "dense_methods: pairs['q'] must have shape (N, 16); got shape (20, 8)"),
    },
    "top10_sparse": {
        "dense codes": (
            lambda: rivals.top10_sparse(CODES.toarray(), CODES[:1].toarray()), TypeError,
            "top10_sparse: corpus has type ndarray; pass the codes as a scipy sparse matrix, e.g. scipy.sparse.csr_"),
        "fewer than 10 codes (it returned fewer than 10 rows)": (
            lambda: rivals.top10_sparse(CODES[:5], CODES[:1].toarray()), ValueError,
            "top10_sparse: corpus has 5 rows; the top 10 needs at least 10"),
        "a query of another width (scipy's dimension mismatch)": (
            lambda: rivals.top10_sparse(CODES, CODES[:1, :4].toarray()), ValueError,
            "top10_sparse: query must have shape (1, 8), a code as wide as the corpus's; got shape (1, 4)"),
        "a tensor for the query": (
            lambda: rivals.top10_sparse(CODES, torch.zeros(1, 8)), TypeError,
            "top10_sparse: query has type Tensor, not ndarray; pass a NumPy array of codes"),
    },
    "settings, where they enter (they failed only when training started)": {
        "a negative learning rate": (
            lambda: text.settings("smoke", lr=-1), ValueError, "text.settings: lr must be > 0; got -1"),
        "no epochs": (
            lambda: text.settings("smoke", epochs=0), ValueError, "text.settings: epochs=0; it must be a whole number"),
        "a temperature of 0 (InfoNCE divided by it)": (
            lambda: text.settings("smoke", temperature=0), ValueError, "text.settings: temperature must be > 0; got 0"),
        "a word for the token limit": (
            lambda: text.settings("smoke", max_tokens="128"), ValueError,
            "text.settings: max_tokens='128'; it must be a whole number >= 1"),
        "a negative weight decay": (
            lambda: text.Settings(weight_decay=-0.1), ValueError, "text.Settings: weight_decay must be >= 0; got -0.1"),
        "a warm-up over every step": (
            lambda: cifar.settings("smoke", warmup=1), ValueError,
            "cifar.settings: warmup (a share of the steps) must be in (0, 1); got 1"),
        "CIFAR batches of 0": (
            lambda: cifar.settings("smoke", batch_size=0), ValueError, "cifar.settings: batch_size=0; it must be"),
        "label smoothing past 1": (
            lambda: cifar.settings("smoke", label_smoothing=1.5), ValueError,
            "cifar.settings: label_smoothing must be in [0, 1]; got 1.5"),
        "a share of small images past 1": (
            lambda: cifar.settings("smoke", small_share=2), ValueError,
            "cifar.settings: small_share must be in [0, 1]; got 2"),
        "a fine-tune at a learning rate of 0": (
            lambda: pretrained.settings("smoke", lr=0), ValueError, "pretrained.settings: lr must be > 0; got 0"),
        "a scale of 0 (2D Matryoshka's loss)": (
            lambda: layers.settings("smoke", scale=0), ValueError, "layers.settings: scale must be > 0; got 0"),
        "no held-out rows to measure (2D Matryoshka)": (
            lambda: layers.settings("smoke", test_rows=0), ValueError, "layers.settings: test_rows=0; it must be"),
        "code sizes as one number, named by csr.settings": (
            lambda: csr.settings("smoke", ks=8), TypeError, "csr.settings: ks=8 is not a list of whole numbers"),
        "a negative seed": (
            lambda: experiment_adaptor.settings("smoke", seed=-1), ValueError,
            "adaptor.settings: seed=-1; it must be a whole number >= 0"),
    },
}  # fmt: skip


@pytest.mark.parametrize("family, case", [(f, c) for f, cases in BOUNDARY.items() for c in cases])
def test_each_experiment_function_checks_its_data_models_and_settings_where_they_enter(family, case):
    call, error, message = BOUNDARY[family][case]
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_the_settings_still_take_the_edge_values_the_trainer_takes():
    assert text.settings("smoke", lr=1e-3, temperature=0.1, max_words=0, seed=3).lr == 1e-3
    assert cifar.settings("smoke", label_smoothing=0.0, small_share=1.0, warmup=0.5).warmup == 0.5
    assert pretrained.settings("smoke", weight_decay=0.0).weight_decay == 0.0


def test_top10_sparse_and_the_search_latencies_times_give_the_same_rows():
    from mrl_lab.experiments.rivals import _top10

    query = CODES[3:4].toarray()
    assert sorted(rivals.top10_sparse(CODES, query)) == sorted(_top10(CODES, query))
    assert 3 in rivals.top10_sparse(CODES, query)


@pytest.mark.parametrize("call, error, message", [
    (lambda: cifar.heads_correct(cifar.build(cifar.Settings(embed_dim=8, smallest=4, width=2), "MRL"),
                                 torch.zeros(4, 3, 32, 32), Y[:3]), ValueError,
     "heads_correct: labels has shape (3,); it needs one entry per row: shape (4,)"),
    (lambda: cifar.heads_correct(cifar.build(cifar.Settings(embed_dim=8, smallest=4, width=2), "MRL"),
                                 torch.zeros(3, 32, 32), Y[:3]), ValueError,
     "heads_correct: images must have shape (N, 3, H, W); got shape (3, 32, 32)"),
    (lambda: experiment_adaptor.train(text.settings("smoke"), None, "unsupervised"), TypeError,
     "adaptor.train: settings has type text.Settings, not adaptor.Settings; pass adaptor.settings(budget)"),
    (lambda: experiment_adaptor.train(experiment_adaptor.Settings(dims=(4, 16), k=30), experiment_adaptor.Data(Z),
                                      "unsupervised"), ValueError,
     "adaptor.train: k=30 neighbours needs more than 30 corpus rows; got 20: pass more rows, or a smaller k"),
])  # fmt: skip
def test_the_function_called_checks_before_the_functions_it_calls(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()
