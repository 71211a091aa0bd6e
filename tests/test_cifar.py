from dataclasses import replace

import pytest
import torch

import mrl_lab
from mrl_lab.data.images import CIFAR10_CLASSES, ImageData
from mrl_lab.evaluation.metrics import knn_accuracy
from mrl_lab.evaluation.results import curves
from mrl_lab.experiments import cifar
from mrl_lab.training import model_cache
from mrl_lab.training.augment import augmentations, random_crop_flip, small_images
from mrl_lab.training.model_cache import config_key
from mrl_lab.training.trainer import TrainSettings

TINY = cifar.Settings(embed_dim=16, smallest=2, per_size=(4,), width=4, train_images=40, epochs=3,
                      small_share=0.4, batch_size=20, test_images=20)  # fmt: skip


def tiny_images(n, seed):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    return ImageData(images, torch.arange(n) % 10, CIFAR10_CLASSES, "generated")


def tiny_data(n=40):
    return cifar.Data(tiny_images(n, 0), tiny_images(20, 1))


def fit(model):
    x, y = torch.randn(16, 4), torch.arange(16) % 2
    return mrl_lab.train(model, torch.nn.CrossEntropyLoss(), x, y, TrainSettings(epochs=1, batch_size=8), progress=None)


def load_or_fit(key, model, folder):
    """The model cache's load, else train and save: what cifar.train does."""
    meta = model_cache.load(key, model, folder)
    return meta if meta is not None else model_cache.save(key, model, fit(model), folder)


def test_every_budget_trains_normal_mrl_mrl_e_and_a_stated_per_size_subset():
    for name in ("smoke", "cpu", "gpu"):
        s = cifar.settings(name)
        assert s.embed_dim >= 256 and s.dims[0] <= 4 and s.dims[-1] == s.embed_dim and s.num_classes == 10
        assert cifar.methods(s)[:3] == ["normal", "MRL", "MRL-E"] and len(cifar.methods(s)) > 3
    gpu = cifar.settings("gpu")
    assert cifar.methods(gpu)[3:] == [f"FF-{d}" for d in gpu.dims[:-1]]  # at gpu every size gets its own network
    assert len(cifar.settings("cpu").per_size) >= 3  # MRL vs FF at 3 sizes or more
    assert cifar.settings("smoke", dataset="cifar100").num_classes == 100
    with pytest.raises(ValueError, match="dataset='cifar1000'; choose one of"):
        cifar.settings("smoke", dataset="cifar1000")


def test_models_differ_only_in_their_heads():
    mrl, mrl_e, normal, ff = (cifar.build(TINY, m) for m in ("MRL", "MRL-E", "normal", "FF-4"))
    assert mrl.head.dims == mrl_e.head.dims == [2, 4, 8, 16] and mrl_e.head.efficient
    assert normal.head.dims == [16] and ff.head.dims == [4] and ff.encoder.embed_dim == 16
    shapes = [[p.shape for p in model.encoder.parameters()] for model in (mrl, mrl_e, normal, ff)]
    assert all(s == shapes[0] for s in shapes)  # one encoder for all


def test_trained_models_are_cached_by_their_settings(tmp_cache):
    data = tiny_data()
    first = cifar.train_all(TINY, data, progress=False)
    again = cifar.train_all(TINY, data, progress=False)
    assert list(first) == ["normal", "MRL", "MRL-E", "FF-4"]
    assert not any(meta["cached"] for _, meta in first.values())
    assert all(meta["cached"] for _, meta in again.values())
    x = data.train.images[:4]
    for method in first:
        assert torch.equal(mrl_lab.encode(first[method][0].encoder, x), mrl_lab.encode(again[method][0].encoder, x))
    changed = cifar.train_all(replace(TINY, seed=1), data, only=["MRL"], progress=False)
    assert not changed["MRL"][1]["cached"]  # another seed is another model
    # which FF models exist and how many test images are evaluated do not change a model's weights
    other = cifar.train_all(replace(TINY, per_size=(8,), test_images=5), data, only=["MRL"], progress=False)
    assert other["MRL"][1]["cached"]


def test_the_wrong_number_of_training_images_is_named():
    with pytest.raises(ValueError, match="expect 40 training images, got 30"):
        cifar.train_all(TINY, tiny_data(30))


def test_checkpoints_load_with_weights_only_and_need_a_name(tmp_path, monkeypatch):
    calls = []
    original = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return original(*args, **kwargs)

    load_or_fit({"name": "x"}, torch.nn.Linear(4, 2), tmp_path)
    monkeypatch.setattr(torch, "load", spy)
    assert load_or_fit({"name": "x"}, torch.nn.Linear(4, 2), tmp_path)["cached"]
    assert calls == [True]
    assert [p.suffix for p in tmp_path.iterdir()] == [".pt"]  # no temporary file left behind
    with pytest.raises(ValueError, match="needs a 'name'"):
        load_or_fit({}, torch.nn.Linear(4, 2), tmp_path)
    assert config_key({"a": 1}) != config_key({"a": 2})


def test_evaluate_measures_every_method_and_baseline(tmp_cache):
    data = tiny_data()
    models = cifar.train_all(TINY, data, progress=False)
    emb = cifar.embed_all(TINY, data, models)
    results = cifar.evaluate(TINY, data, models, emb)
    knn = curves(results, "1-NN accuracy")
    assert list(knn) == ["MRL", "MRL-E", "normal, cut", "PCA of normal", "MRL, uncentred",
                         "normal, cut, uncentred", "FF", "normal, cut, no re-norm"]  # fmt: skip
    assert set(knn["MRL"]) == {2, 4, 8, 16} and set(knn["FF"]) == {4, 16}
    assert knn["FF"][16] == knn["normal, cut"][16]  # FF at full width is the normal model
    # unit vectors: re-normalising makes no difference at full width
    assert knn["normal, cut, no re-norm"][16] == knn["normal, cut, uncentred"][16]
    dense = curves(results, "1-NN accuracy, every size")
    assert list(dense) == ["MRL", "MRL-E", "normal, cut", "PCA of normal"] and set(dense["MRL"]) == set(range(1, 17))
    head = curves(results, "head accuracy")
    assert list(head) == ["normal", "MRL", "MRL-E", "FF", "PCA + linear"]
    assert set(head["FF"]) == {4, 16} and set(head["MRL"]) == set(head["PCA + linear"]) == {2, 4, 8, 16}
    assert emb.at("FF", 8) is None and emb.at("FF", 4)["train"].shape == (40, 4)
    train_z, test_z = emb.at("MRL", 8)["train"], emb.at("MRL", 8)["test"]  # centred cosine: mean 0, unit length
    assert train_z.mean(0).abs().max() < 0.2 and torch.allclose(test_z.norm(dim=1), torch.ones(20))
    for r in results.itertuples():  # each value is the mean of its per-image results, inside its interval
        assert r.items.dtype == torch.bool and r.items.shape == (20,)
        assert r.value == r.items.float().mean().item() and r.low - 1e-6 <= r.value <= r.high + 1e-6
    explained = emb.pca.explained_variance_ratio
    assert len(explained) == 16 and explained.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="lack 'normal'"):
        cifar.embed_all(TINY, data, {"MRL": models["MRL"]})


def test_centring_removes_a_shared_direction_that_dominates_short_prefixes():
    torch.manual_seed(0)
    classes = torch.arange(200) % 2
    z = 10 * torch.ones(200, 4) + torch.randn(200, 4)  # a large shared mean (as after GELU and max-pooling)
    z[:, 0] += 1.5 * (2 * classes - 1)  # the class sits in a small offset along dim 0
    train, test = (z[:100], classes[:100]), (z[100:], classes[100:])
    raw = knn_accuracy(train[0], train[1], test[0], test[1])
    train_c, test_c = cifar.centred(train[0], test[0])
    assert knn_accuracy(train_c, train[1], test_c, test[1]) > raw + 0.05  # 0.91 vs 0.82


def test_a_checkpoint_is_never_loaded_into_a_different_architecture(tmp_path):
    first = load_or_fit({"name": "m"}, torch.nn.Linear(4, 2), tmp_path)
    wider = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 2))
    second = load_or_fit({"name": "m"}, wider, tmp_path)  # same key, other model
    assert not first["cached"] and not second["cached"] and len(list(tmp_path.iterdir())) == 2


def test_the_progressive_schedule_shrinks_images_first_and_ends_at_full_size():
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    sizes = [tuple(f(x).shape[2:]) for f in augmentations(10, progressive=True, small_share=0.4)]
    assert sizes == [(16, 16)] * 4 + [(24, 24)] * 5 + [(32, 32)]
    assert augmentations(10, progressive=False) == [random_crop_flip] * 10
    for budget in ("smoke", "cpu", "gpu"):  # every budget ends on full-size images, as the test sees them
        s = cifar.settings(budget)
        assert augmentations(s.epochs, s.progressive, s.small_share)[-1] is random_crop_flip
    # 16x16 images are the 2x2 means of a shifted, flipped image: their pixel values stay in 0..255
    small = small_images(x)
    assert small.dtype == torch.float32 and 0 <= small.min() and small.max() <= 255


def test_a_model_is_the_same_whichever_order_or_process_trains_it(tmp_cache, capsys):
    data = tiny_data()
    together = cifar.train_all(TINY, data, progress=False)  # normal, MRL, MRL-E, FF-4 in one process
    alone = cifar.train_all(TINY, data, only=["MRL-E"], retrain=True, progress=False)
    x = data.train.images[:4]
    assert torch.equal(mrl_lab.encode(together["MRL-E"][0], x)[-1], mrl_lab.encode(alone["MRL-E"][0], x)[-1])
    capsys.readouterr()
    side_by_side = cifar.train_all(TINY, data, retrain=True, processes=2)
    shown = "".join(capsys.readouterr())  # the workers' progress reaches this process: a line per model and epoch
    for method in ["normal", "MRL", "MRL-E", "FF-4"]:
        for epoch in range(1, TINY.epochs + 1):
            assert f"{method}: epoch {epoch}/{TINY.epochs}, mean loss" in shown
    assert list(side_by_side) == ["normal", "MRL", "MRL-E", "FF-4"]
    assert not any(meta["cached"] for _, meta in side_by_side.values())
    for method, (model, _) in side_by_side.items():  # worker processes use 1 thread: float sums may differ a bit
        expected = mrl_lab.encode(together[method][0], x)
        torch.testing.assert_close(mrl_lab.encode(model, x), expected, atol=1e-3, rtol=1e-3)
        untrained = cifar.build(TINY, method)
        assert not torch.allclose(mrl_lab.encode(model.encoder, x), mrl_lab.encode(untrained.encoder, x))


def test_side_by_side_training_is_for_the_cpu():
    with pytest.raises(ValueError, match="processes=2; use 1, or more than 1 only on the CPU"):
        cifar.train_all(TINY, tiny_data(), device="cuda", processes=2)
    with pytest.raises(ValueError, match="processes=0"):
        cifar.train_all(TINY, tiny_data(), processes=0)
