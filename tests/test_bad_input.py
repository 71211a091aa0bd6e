"""Bad arguments fail at once with an error that names the function, the value and the fix,
instead of training nothing, cutting silently or raising from deep inside a library."""

import pytest
import torch
from torch import nn

import mrl_lab
from mrl_lab.core.heads import MRLHead
from mrl_lab.data import tokenizer
from mrl_lab.data.images import load_cifar10
from mrl_lab.data.text import load_ag_news
from mrl_lab.evaluation import metrics, quantize
from mrl_lab.evaluation.baselines import PCA
from mrl_lab.evaluation.metrics import head_accuracy, knee, knn_accuracy, linear_probe_correct, recall_at_k
from mrl_lab.evaluation.search import target_ranks
from mrl_lab.experiments import adaptor as experiment_adaptor
from mrl_lab.experiments import text
from mrl_lab.experiments.adaptor import adapt
from mrl_lab.models import adaptor
from mrl_lab.models.convnet import ConvNet
from mrl_lab.serving import cascade
from mrl_lab.training.augment import random_crop_flip
from mrl_lab.training.trainer import TrainSettings, seed_everything


def test_a_head_given_wider_embeddings_than_it_was_built_for_refuses_instead_of_cutting():
    head = MRLHead(16, 10, [4, 16])
    with pytest.raises(ValueError, match=r"MRLHead: built for \(batch, 16\) embeddings, got \(2, 32\)"):
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
        (lambda w, corpus: w.truncation_dashboard({}, lambda d: {}, 8), "truncation_dashboard: nesting sizes are"),
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

    with pytest.raises(ValueError, match="embed: need a non-empty list of strings; got list of 0"):
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
        lambda: random_crop_flip(torch.zeros(3, 32, 32)), ValueError, r"\(N, C, H, W\); got \(3, 32, 32\)"),
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
