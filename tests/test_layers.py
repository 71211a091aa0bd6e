"""2D Matryoshka: the layer-wise vectors are the model's own (pooling and normalisation of each layer's states),
a model cut in depth encodes what the layer-wise pass gives, and the two fine-tunes differ only in the layer
loss, each cached by its settings."""

from dataclasses import replace

import pandas as pd
import pytest
import torch

from mrl_lab.experiments import layers
from mrl_lab.lab.plots import plot_layers
from mrl_lab.models.sentence_encoder import load_encoder

TEXTS = ["Stocks rally as oil falls", "A new vaccine trial begins", "Team wins the cup final", "Chip sales slow"]


@pytest.fixture(scope="module")
def minilm(encoder_folder):
    return load_encoder(encoder_folder, 32)


def test_the_last_layers_vectors_are_what_the_published_model_encodes(minilm, tmp_cache):
    at = layers.embed_layers(minilm, TEXTS, "test-published", (1, 6), progress=False)
    expected = minilm.encode(TEXTS, convert_to_tensor=True).float()
    assert set(at) == {1, 6} and torch.allclose(at[6], expected, atol=1e-5)
    assert not torch.allclose(at[1], expected, atol=1e-2)  # a lower layer gives other vectors
    assert torch.allclose(at[1].norm(dim=1), torch.ones(len(TEXTS)), atol=1e-5)


def test_a_model_cut_in_depth_encodes_what_the_layer_wise_pass_gives_for_that_depth(minilm, tmp_cache):
    short = layers.cut_depth(minilm, 2)
    assert layers.depth(short) == 2 and layers.depth(minilm) == 6  # the original keeps its layers
    at = layers.embed_layers(minilm, TEXTS, "test-published", (2,), progress=False)
    assert torch.allclose(short.encode(TEXTS, convert_to_tensor=True).float(), at[2], atol=1e-5)


def test_layer_counts_beyond_the_model_and_unknown_methods_are_refused(minilm):
    with pytest.raises(ValueError, match=r"embed_layers: each of layers=7; it must be a whole number in 1\.\.6"):
        layers.embed_layers(minilm, TEXTS, "k", (1, 7))
    with pytest.raises(ValueError, match=r"cut_depth: n=0"):
        layers.cut_depth(minilm, 0)
    with pytest.raises(ValueError, match=r"loss_for: method='3D'; choose one of \['MRL', '2D MRL'\]"):
        layers.loss_for("3D", layers.settings("smoke"), minilm)
    with pytest.raises(ValueError, match="layers_per_step"):
        layers.Settings(layers_per_step=0)


def test_the_two_fine_tunes_differ_only_in_the_layer_loss_and_are_cached(shared_data, tmp_cache):
    from mrl_lab.data.text import load_ag_news, load_sts_benchmark

    s = layers.settings("smoke", train_pairs=16, test_rows=20, sts_rows=20)
    data = layers.load_data(s, load_ag_news(), load_sts_benchmark("test"), load_sts_benchmark("train"))
    first, record = layers.train(s, data, "MRL", progress=False)
    again, cached = layers.train(s, data, "MRL", progress=False)
    assert not record["cached"] and cached["cached"]
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    two_d, _ = layers.train(s, data, "2D MRL", progress=False)
    differs = [k for k, v in two_d.state_dict().items() if not torch.equal(v, first.state_dict()[k])]
    assert differs and "0.auto_model.embeddings.word_embeddings.weight" not in differs  # the token table: frozen

    vectors, _ = layers.vectors_all(s, data, progress=False)
    results = layers.evaluate(s, data, vectors)
    assert set(results["method"]) == {"published", "MRL", "2D MRL"} and set(results["layers"]) == {1, 6}
    assert len(results) == 3 * 2 * len(s.dims) * 2  # models x depths x sizes x metrics
    gaps = layers.leads(results, "2D MRL", "MRL", data.sts.scores)
    assert len(gaps) == 2 * len(s.dims) * 2 and (gaps["low"] <= gaps["lead"]).all()
    assert (gaps["lead"] <= gaps["high"]).all()
    fig = plot_layers(results, "recall@10", "2D MRL", reference="MRL")
    assert fig.data[0].z.shape == (2, len(s.dims))


def test_activation_checkpointing_trains_the_same_weights(shared_data, tmp_cache):
    from mrl_lab.data.text import load_ag_news, load_sts_benchmark

    s = layers.settings("smoke", train_pairs=32, test_rows=20, sts_rows=20)
    data = layers.load_data(s, load_ag_news(), load_sts_benchmark("test"), load_sts_benchmark("train"))
    assert s.checkpointing
    for method in layers.METHODS:  # checkpointing is not in the cache key: retrain to compare
        plain, _ = layers.train(replace(s, checkpointing=False), data, method, retrain=True, progress=False)
        recomputed, _ = layers.train(s, data, method, retrain=True, progress=False)
        assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), recomputed.state_dict().values()))


def test_encoding_time_is_measured_at_each_depth_in_three_repeats(minilm):
    t = layers.encoding_ms(minilm, TEXTS * 4, (1, 6))
    assert list(t["layers"]) == [1, 6] and (t["low"] <= t["median"]).all() and (t["median"] <= t["high"]).all()


def test_plot_layers_names_the_methods_it_knows_when_asked_for_another():
    t = pd.DataFrame({"method": "MRL", "layers": [6], "size": [8], "metric": "recall@10", "value": [0.5]})
    with pytest.raises(ValueError, match=r"plot_layers: no 'recall@10' rows for method='2D'; choose one of \['MRL'\]"):
        plot_layers(t, "recall@10", "2D")
