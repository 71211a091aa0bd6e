"""Caches heal themselves: damaged files are reported, deleted and rebuilt; a changed source gets a
new key; files are readable by others and reach the disk before they are named."""

import os
import time

import numpy as np
import pytest
import torch
from PIL import Image

import mrl_lab
from mrl_lab.data.images import CIFAR10_CLASSES, load_cifar10
from mrl_lab.data.locate import DataNotFoundError
from mrl_lab.data.text import load_ag_news
from mrl_lab.runtime.cache import save_atomic
from mrl_lab.training import model_cache
from mrl_lab.training.model_cache import checkpoint_path
from mrl_lab.training.trainer import TrainSettings


def load_or_train(key, folder):
    """The model cache's way as an experiment uses it: load, or train and save."""
    model = torch.nn.Linear(4, 2)
    meta = model_cache.load(key, model, folder)
    if meta is None:
        x, y = torch.randn(16, 4), torch.arange(16) % 2
        log = mrl_lab.train(
            model, torch.nn.CrossEntropyLoss(), x, y, TrainSettings(epochs=1, batch_size=8), progress=None
        )
        meta = model_cache.save(key, model, log, folder)
    return model, meta


@pytest.mark.parametrize("damage", ["truncated", "empty", "not a checkpoint", "weights that do not fit"])
def test_a_damaged_checkpoint_is_reported_deleted_and_trained_again(tmp_path, damage):
    model, meta = load_or_train({"name": "x"}, tmp_path)
    path = checkpoint_path({"name": "x"}, model, tmp_path)
    data = path.read_bytes()
    damaged = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "not a checkpoint": b"hello",
        "weights that do not fit": b"",
    }[damage]
    path.write_bytes(damaged)
    if damage == "weights that do not fit":
        torch.save({"state_dict": torch.nn.Linear(3, 2).state_dict(), "meta": meta}, path)
    with pytest.warns(UserWarning, match=f"model cache: the cached file {path} is damaged"):
        again, again_meta = load_or_train({"name": "x"}, tmp_path)
    assert again_meta["cached"] is False and again.weight.shape == (2, 4)
    _, third = load_or_train({"name": "x"}, tmp_path)
    assert third["cached"] is True  # the rebuilt file is whole


def test_cache_files_get_the_users_umask_not_private_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        save_atomic(tmp_path / "a.pt", lambda f: f.write(b"x"))
    finally:
        os.umask(old)
    assert (tmp_path / "a.pt").stat().st_mode & 0o777 == 0o644  # mkstemp alone gives 0o600


def test_save_atomic_removes_stale_temporaries_and_leaves_nothing_when_the_writer_fails(tmp_path):
    stale, fresh = tmp_path / "old.pt.abc.tmp", tmp_path / "busy.pt.def.tmp"
    stale.write_bytes(b"half"), fresh.write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))

    def fail(f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_atomic(tmp_path / "new.pt", fail)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy.pt.def.tmp"]  # another writer may own it


def test_an_edited_ag_news_file_gives_a_new_source_so_text_models_retrain(tmp_path):
    folder = tmp_path / "ag_news_csv"
    folder.mkdir()
    rows = [f'"{i % 4 + 1}","title {i}","text {i}"\n' for i in range(40)]
    (folder / "test.csv").write_text("".join(rows))
    first = load_ag_news(root=tmp_path, download=False)
    (folder / "test.csv").write_text("".join(rows[:-1] + ['"4","title 39","an edited text"\n']))
    second = load_ag_news(root=tmp_path, download=False)
    assert len(second.train) == len(first.train)
    assert second.train.source != first.train.source  # the source is part of every text model's cache key
    assert second.train.subset(4).source == second.train.source


def make_image_folder(root, per_class=1, seed=0):
    rng = np.random.default_rng(seed)
    for name in CIFAR10_CLASSES:
        folder = root / "cifar10" / "test" / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    return root / "cifar10" / "test"


def test_an_image_folder_that_changes_gets_new_cached_arrays_and_a_new_source(tmp_path, tmp_cache):
    folder = make_image_folder(tmp_path)
    first = load_cifar10("test", root=tmp_path, download=False)
    assert len(first) == 10
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(folder / "cat" / "extra.png")
    second = load_cifar10("test", root=tmp_path, download=False)
    assert len(second) == 11 and second.source != first.source  # models trained on it get a new key too
    assert len(list((tmp_cache / "arrays").glob("*-images.npy"))) == 2


def test_truncated_cached_arrays_are_reported_and_decoded_again(tmp_path, tmp_cache):
    make_image_folder(tmp_path)
    first = load_cifar10("test", root=tmp_path, download=False)
    (images,) = (tmp_cache / "arrays").glob("*-images.npy")
    images.write_bytes(images.read_bytes()[:1000])
    with pytest.warns(UserWarning, match="load_cifar10: the cached file .*-images.npy is damaged"):
        again = load_cifar10("test", root=tmp_path, download=False)
    assert torch.equal(again.images, first.images)


def test_cached_images_without_their_labels_file_are_reported_and_decoded_again(tmp_path, tmp_cache):
    make_image_folder(tmp_path)
    first = load_cifar10("test", root=tmp_path, download=False)
    (labels,) = (tmp_cache / "arrays").glob("*-labels.npy")
    labels.unlink()
    with pytest.warns(UserWarning, match="load_cifar10: the cached file .*-images.npy is damaged"):
        again = load_cifar10("test", root=tmp_path, download=False)
    assert torch.equal(again.images, first.images) and torch.equal(again.labels, first.labels) and labels.exists()


def test_a_corrupt_image_names_its_path(tmp_path, tmp_cache):
    folder = make_image_folder(tmp_path)
    (folder / "dog" / "0.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"cannot decode .*dog.0\.png"):
        load_cifar10("test", root=tmp_path, download=False)


def test_a_folder_missing_a_class_names_the_class(tmp_path, tmp_cache):
    folder = make_image_folder(tmp_path)
    for p in (folder / "frog").iterdir():
        p.unlink()
    (folder / "frog").rmdir()
    with pytest.raises(DataNotFoundError, match="but not frog"):
        load_cifar10("test", root=tmp_path, download=False)
