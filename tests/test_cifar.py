import pytest
import torch

import mrl_lab
from mrl_lab.data.images import CIFAR10_CLASSES, ImageData
from mrl_lab.evaluation.metrics import knn_accuracy
from mrl_lab.experiments import cifar
from mrl_lab.runtime.budget import get_budget
from mrl_lab.training.augment import random_crop_flip
from mrl_lab.training.model_cache import config_key, load_or_train


def tiny_config():
    return dict(
        dataset="cifar10", num_classes=10, embed_dim=16, dims=[2, 4, 8, 16], per_size=[4], width=4,
        train_images=40, epochs=3, progressive=True, small_share=0.4, batch_size=20, lr=3e-3,
        weight_decay=5e-4, warmup=0.25, label_smoothing=0.1, seed=0,
    )  # fmt: skip


def tiny_data(n, seed):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    return ImageData(images, torch.arange(n) % 10, CIFAR10_CLASSES, "generated")


def test_every_budget_trains_normal_mrl_mrl_e_and_a_stated_per_size_subset():
    for name in ("smoke", "cpu", "gpu"):
        config = cifar.experiment_config(get_budget(name))
        assert config["embed_dim"] >= 256 and config["dims"][0] <= 4 and config["dims"][-1] == config["embed_dim"]
        assert cifar.methods(config)[:3] == ["normal", "MRL", "MRL-E"] and config["per_size"]
    gpu = cifar.experiment_config(get_budget("gpu"))
    assert gpu["per_size"] == gpu["dims"][:-1]  # at gpu every size gets its own network
    assert len(cifar.experiment_config(get_budget("cpu"))["per_size"]) >= 3  # MRL vs FF at 3 sizes or more


def test_models_differ_only_in_their_heads():
    config = tiny_config()
    mrl, mrl_e, normal, ff = (cifar.build(m, config) for m in ("MRL", "MRL-E", "normal", "FF-4"))
    assert mrl.head.dims == mrl_e.head.dims == [2, 4, 8, 16] and mrl_e.head.efficient
    assert normal.head.dims == [16] and ff.head.dims == [4] and ff.encoder.embed_dim == 16
    shapes = [[p.shape for p in model.encoder.parameters()] for model in (mrl, mrl_e, normal, ff)]
    assert all(s == shapes[0] for s in shapes)  # one encoder for all


def test_trained_models_are_cached_by_configuration(tmp_cache):
    config, data = tiny_config(), tiny_data(40, 0)
    first = cifar.train_models(config, data, progress=False)
    again = cifar.train_models(config, data, progress=False)
    assert not any(meta["cached"] for _, meta in first.values())
    assert all(meta["cached"] for _, meta in again.values())
    x = data.images[:4]
    for method in first:
        assert torch.equal(mrl_lab.encode(first[method][0].encoder, x), mrl_lab.encode(again[method][0].encoder, x))
    changed = cifar.train_models(dict(config, seed=1), data, only=["MRL"], progress=False)
    assert not changed["MRL"][1]["cached"]  # another seed is another model


def test_the_wrong_number_of_training_images_is_named():
    with pytest.raises(ValueError, match="expects 40 training images, got 30"):
        cifar.train_models(tiny_config(), tiny_data(30, 0))


def test_checkpoints_load_with_weights_only_and_need_a_name(tmp_path, monkeypatch):
    calls = []
    original = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return original(*args, **kwargs)

    def fit(model):
        x, y = torch.randn(16, 4), torch.arange(16) % 2
        return mrl_lab.train(model, torch.nn.CrossEntropyLoss(), x, y, epochs=1, batch_size=8, progress=False)

    load_or_train({"name": "x"}, lambda: torch.nn.Linear(4, 2), fit, folder=tmp_path)
    monkeypatch.setattr(torch, "load", spy)
    load_or_train({"name": "x"}, lambda: torch.nn.Linear(4, 2), fit, folder=tmp_path)
    assert calls == [True]
    assert [p.suffix for p in tmp_path.iterdir()] == [".pt"]  # no temporary file left behind
    with pytest.raises(ValueError, match="needs a 'name'"):
        load_or_train({}, lambda: torch.nn.Linear(4, 2), fit, folder=tmp_path)
    assert config_key({"a": 1}) != config_key({"a": 2})


def test_evaluate_measures_every_method_and_baseline(tmp_cache):
    config = tiny_config()
    train_set, test_set = tiny_data(40, 0), tiny_data(20, 1)
    models = cifar.train_models(config, train_set, progress=False)
    results = cifar.evaluate(models, train_set, test_set, config)
    knn = results["knn"]
    assert set(knn) == {"MRL", "MRL-E", "FF", "normal, cut", "PCA of normal", "MRL, uncentred",
                        "normal, cut, uncentred", "normal, cut, no re-norm"}  # fmt: skip
    assert set(knn["MRL"]) == {2, 4, 8, 16} and set(knn["FF"]) == {4, 16}
    assert knn["FF"][16] == knn["normal, cut"][16]  # FF at full width is the normal model
    # unit vectors: re-normalising makes no difference at full width
    assert knn["normal, cut, no re-norm"][16] == knn["normal, cut, uncentred"][16]
    assert set(results["dense"]["MRL"]) == set(range(1, 17))
    head = results["head"]
    assert set(head) == {"normal", "MRL", "MRL-E", "FF", "PCA + linear"}
    assert set(head["FF"]) == {4, 16} and set(head["MRL"]) == set(head["PCA + linear"]) == {2, 4, 8, 16}
    vectors = results["vectors"]
    assert vectors("FF", 8) is None and vectors("FF", 4)["train"].shape == (40, 4)
    train_z, test_z = vectors("MRL", 8)["train"], vectors("MRL", 8)["test"]  # centred cosine: mean 0, unit length
    assert train_z.mean(0).abs().max() < 0.2 and torch.allclose(test_z.norm(dim=1), torch.ones(20))
    for kind in ("knn", "dense", "head"):  # the accuracies are the means of the per-image results
        for name, curve in results["correct"][kind].items():
            assert {d: c.float().mean().item() for d, c in curve.items()} == results[kind][name]
            assert all(c.dtype == torch.bool and c.shape == (20,) for c in curve.values())
    assert len(results["explained"]) == 16 and results["explained"].sum() == pytest.approx(1.0)


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
    def fit(model):
        x, y = torch.randn(16, 4), torch.arange(16) % 2
        return mrl_lab.train(model, torch.nn.CrossEntropyLoss(), x, y, epochs=1, batch_size=8, progress=False)

    _, first = load_or_train({"name": "m"}, lambda: torch.nn.Linear(4, 2), fit, folder=tmp_path)
    wider = lambda: torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 2))  # noqa: E731
    _, second = load_or_train({"name": "m"}, wider, fit, folder=tmp_path)  # same config, other model
    assert not first["cached"] and not second["cached"] and len(list(tmp_path.iterdir())) == 2


def test_the_progressive_schedule_shrinks_images_first_and_ends_at_full_size():
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    sizes = [tuple(f(x).shape[2:]) for f in cifar.augmentations(10, progressive=True, small_share=0.4)]
    assert sizes == [(16, 16)] * 4 + [(24, 24)] * 5 + [(32, 32)]
    assert cifar.augmentations(10, progressive=False) == [random_crop_flip] * 10
    for budget in ("smoke", "cpu", "gpu"):  # every budget ends on full-size images, as the test sees them
        config = cifar.experiment_config(get_budget(budget))
        last = cifar.augmentations(config["epochs"], config["progressive"], config["small_share"])[-1]
        assert last is random_crop_flip
    # 16x16 images are the 2x2 means of a shifted, flipped image: their pixel values stay in 0..255
    small = cifar.small_images(x)
    assert small.dtype == torch.float32 and 0 <= small.min() and small.max() <= 255


def test_a_model_is_the_same_whichever_order_or_process_trains_it(tmp_cache, capsys):
    config, data = tiny_config(), tiny_data(40, 0)
    together = cifar.train_models(config, data, progress=False)  # normal, MRL, MRL-E, FF-4 in one process
    alone = cifar.train_models(config, data, only=["MRL-E"], retrain=True, progress=False)
    x = data.images[:4]
    assert torch.equal(mrl_lab.encode(together["MRL-E"][0], x)[-1], mrl_lab.encode(alone["MRL-E"][0], x)[-1])
    capsys.readouterr()
    side_by_side = cifar.train_models(config, data, retrain=True, processes=2)
    shown = "".join(capsys.readouterr())  # the workers' progress reaches this process: a line per model and epoch
    for method in ["normal", "MRL", "MRL-E", "FF-4"]:
        for epoch in range(1, config["epochs"] + 1):
            assert f"{method}: epoch {epoch}/{config['epochs']}, mean loss" in shown
    assert list(side_by_side) == ["normal", "MRL", "MRL-E", "FF-4"]
    assert not any(meta["cached"] for _, meta in side_by_side.values())
    for method, (model, _) in side_by_side.items():  # worker processes use 1 thread: float sums may differ a bit
        expected = mrl_lab.encode(together[method][0], x)
        torch.testing.assert_close(mrl_lab.encode(model, x), expected, atol=1e-3, rtol=1e-3)
        untrained = cifar.build(method, config)
        assert not torch.allclose(mrl_lab.encode(model.encoder, x), mrl_lab.encode(untrained.encoder, x))


def test_side_by_side_training_is_for_the_cpu():
    with pytest.raises(ValueError, match="processes=2; use 1, or more than 1 only on the CPU"):
        cifar.train_models(tiny_config(), tiny_data(40, 0), device="cuda", processes=2)
    with pytest.raises(ValueError, match="processes=0"):
        cifar.train_models(tiny_config(), tiny_data(40, 0), processes=0)
