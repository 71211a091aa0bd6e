import pickle

import numpy as np
import pytest
import torch

import mrl_lab.data.images as images
import mrl_lab.data.locate as locate
from mrl_lab.data.catalog import locate_datasets
from mrl_lab.data.images import CIFAR10_CLASSES, load_cifar10, load_cifar100
from mrl_lab.data.locate import DataNotFoundError
from mrl_lab.data.text import load_ag_news, load_sts_benchmark


def write_cifar_pickles(root, monkeypatch, n_per_batch=20):
    """A tiny CIFAR-10 in torchvision's layout: cifar-10-batches-py/data_batch_1..5 and test_batch,
    with their md5 sums standing in for the published ones (which only the real files match)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            "data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
            "labels": [int(v) for v in rng.integers(0, 10, n_per_batch)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
        batches[name] = batch
        monkeypatch.setitem(images.CIFAR10_MD5, name, locate.file_digest(folder / name, "md5"))
    return batches


def test_cifar10_reads_torchvisions_pickle_layout(tmp_path, tmp_cache, monkeypatch):
    batches = write_cifar_pickles(tmp_path, monkeypatch)
    train, test = (
        load_cifar10("train", root=tmp_path, download=False),
        load_cifar10("test", root=tmp_path, download=False),
    )
    assert train.images.shape == (100, 3, 32, 32) and train.images.dtype == torch.uint8
    assert test.images.shape == (20, 3, 32, 32)
    first = torch.from_numpy(batches["data_batch_1"]["data"][0].reshape(3, 32, 32))
    assert torch.equal(train.images[0], first)  # rows are R plane, G plane, B plane
    assert train.labels[:20].tolist() == batches["data_batch_1"]["labels"]
    assert train.classes == CIFAR10_CLASSES


def test_cifar10_reads_an_image_folder_and_caches_the_decoded_arrays(tmp_path, tmp_cache, monkeypatch):
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = {}
    for c in CIFAR10_CLASSES:
        (tmp_path / "cifar10" / "test" / c).mkdir(parents=True)
        pixels[c] = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels[c]).save(tmp_path / "cifar10" / "test" / c / "0000.png")
    test = load_cifar10("test", root=tmp_path, download=False)
    assert test.labels.tolist() == list(range(10))
    assert torch.equal(test.images[3], torch.from_numpy(pixels["cat"]).permute(2, 0, 1))  # lossless PNG
    cached = sorted(p.name for p in (tmp_cache / "arrays").iterdir())
    assert len(cached) == 2 and not any(name.endswith(".tmp") for name in cached)

    def no_decoding(*args):
        raise AssertionError("decoded the images again instead of reading the cache")

    monkeypatch.setattr(images, "_decode_image_folder", no_decoding)  # the second load reads the cache
    assert torch.equal(load_cifar10("test", root=tmp_path, download=False).images, test.images)


def test_cifar10_from_the_offline_copy(shared_data, monkeypatch):
    monkeypatch.setenv("MRL_LAB_DATA", str(shared_data))
    test = load_cifar10("test")
    assert test.images.shape == (10000, 3, 32, 32)
    assert test.labels.bincount().tolist() == [1000] * 10
    means = test.images.float().mean(dim=(0, 2, 3)) / 255
    assert torch.allclose(means, torch.tensor([0.4942, 0.4851, 0.4504]), atol=0.01)
    subset = test.subset(100, seed=1)
    assert subset.labels.bincount().tolist() == [10] * 10
    assert torch.equal(subset.images, test.subset(100, seed=1).images)


def test_ag_news_offline_copy_is_split_deterministically_and_says_so(shared_data):
    news = load_ag_news(root=shared_data)
    assert (len(news.train), len(news.val), len(news.test)) == (5320, 760, 1520)
    assert "test split only" in news.note and "seed 0" in news.note
    assert news.train.labels.bincount().tolist() == [1330] * 4
    assert news.train.titles == load_ag_news(root=shared_data).train.titles
    all_titles = news.train.titles + news.val.titles + news.test.titles
    assert len(set(all_titles)) > 7500  # the three splits do not share rows
    assert "\\" not in "".join(news.train.descriptions) and "#36;" not in "".join(news.train.descriptions)


def test_ag_news_uses_the_original_train_split_when_present(tmp_path):
    folder = tmp_path / "ag_news_csv"
    folder.mkdir()
    rows = "".join(f'"{i % 4 + 1}","title {i}","text {i} with a\\\\break and  #36;5"\n' for i in range(40))
    (folder / "train.csv").write_text(rows)
    (folder / "test.csv").write_text(rows[: rows.index('"1","title 8"')])
    news = load_ag_news(root=tmp_path, download=False, val_size=8)
    assert (len(news.train), len(news.val), len(news.test)) == (32, 8, 8)
    assert "original splits" in news.note
    assert news.test.descriptions[0] == "text 0 with a break and $5"


def test_sts_benchmark_from_the_offline_copy(shared_data):
    sizes = {split: len(load_sts_benchmark(split, root=shared_data)) for split in ("train", "dev", "test")}
    assert sizes == {"train": 5749, "dev": 1500, "test": 1379}
    test = load_sts_benchmark("test", root=shared_data)
    assert test.sentences1[0] == "A girl is styling her hair." and test.scores[0].item() == 2.5
    assert 0 <= test.scores.min() and test.scores.max() <= 5


def test_a_root_without_data_lists_every_path_tried(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        load_cifar10("train", root=tmp_path, download=False)
    message = str(err.value)
    for tried in ("cifar-10-batches-py", "cifar10/train", "MRL_LAB_DATA"):
        assert tried in message
    with pytest.raises(DataNotFoundError, match="ag_news_csv/test.csv"):
        load_ag_news(root=tmp_path, download=False)
    with pytest.raises(DataNotFoundError, match="stsbenchmark/sts-dev.csv"):
        load_sts_benchmark("dev", root=tmp_path, download=False)


def test_a_failed_download_is_reported_with_the_paths_tried(tmp_path, monkeypatch, tmp_cache):
    import torchvision.datasets.utils as tv_utils

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(tv_utils, "download_url", offline)
    monkeypatch.setattr(tv_utils, "download_and_extract_archive", offline)
    monkeypatch.delenv("MRL_LAB_DATA", raising=False)
    for load in (load_ag_news, lambda: load_sts_benchmark("test")):
        with pytest.raises(
            DataNotFoundError, match=r"(?s)Paths tried:.*The download failed too: OSError: network is unreachable"
        ):
            load()


def test_search_order_is_root_then_env_then_cache(tmp_path, monkeypatch, tmp_cache):
    monkeypatch.setenv("MRL_LAB_DATA", str(tmp_path / "env"))
    assert locate.data_roots() == [tmp_path / "env", tmp_cache]
    assert locate.data_roots(tmp_path / "mine") == [tmp_path / "mine"]
    monkeypatch.delenv("MRL_LAB_DATA")
    assert locate.data_roots() == [tmp_cache]


def test_locate_datasets_finds_the_offline_copies(shared_data):
    found = locate_datasets(shared_data)
    assert all(path is not None for path in found.values()), found


@pytest.mark.parametrize("bad", ["val", "training"])
def test_unknown_splits_are_named(bad):
    with pytest.raises(ValueError, match=repr(bad)):
        load_cifar10(bad)
    with pytest.raises(ValueError, match=repr(bad)):
        load_sts_benchmark(bad)


def test_subset_rejects_sizes_outside_the_dataset(shared_data):
    test = load_sts_benchmark("test", root=shared_data)
    news = load_ag_news(root=shared_data)
    assert len(test) == 1379
    with pytest.raises(ValueError, match="n=0 is outside 1..5320"):
        news.train.subset(0)


def write_cifar100_pickles(root, monkeypatch, n=30):
    """A miniature CIFAR-100 in the original archive's layout (cifar-100-python/train, test, meta),
    with its md5 sums standing in for the published ones."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    fine_names = [f"fine{i}" for i in range(100)]
    coarse_names = [f"coarse{i}" for i in range(20)]
    files = {"meta": {"fine_label_names": fine_names, "coarse_label_names": coarse_names}}
    for split in ("train", "test"):
        fine = rng.integers(0, 100, n)
        pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        files[split] = {"data": pixels, "fine_labels": fine.tolist(), "coarse_labels": (fine // 5).tolist()}
    for name, content in files.items():
        with open(folder / name, "wb") as f:
            pickle.dump(content, f)
        monkeypatch.setitem(images.CIFAR100_MD5, name, locate.file_digest(folder / name, "md5"))
    return files


def test_cifar100_reads_the_original_pickle_layout_with_fine_or_coarse_labels(tmp_path, monkeypatch):
    files = write_cifar100_pickles(tmp_path, monkeypatch)
    train = load_cifar100("train", root=tmp_path, download=False)
    assert train.images.shape == (30, 3, 32, 32) and train.images.dtype == torch.uint8
    assert torch.equal(train.images[0], torch.from_numpy(files["train"]["data"][0].reshape(3, 32, 32)))
    assert train.labels.tolist() == files["train"]["fine_labels"] and len(train.classes) == 100
    coarse = load_cifar100("test", root=tmp_path, download=False, labels="coarse")
    assert coarse.labels.tolist() == files["test"]["coarse_labels"] and coarse.classes[3] == "coarse3"


def test_cifar100_refuses_files_that_are_not_the_published_ones(tmp_path, monkeypatch):
    write_cifar100_pickles(tmp_path, monkeypatch)
    monkeypatch.setitem(images.CIFAR100_MD5, "test", "0" * 32)
    with pytest.raises(ValueError, match="load_cifar100: .*test is not the published file"):
        load_cifar100("test", root=tmp_path, download=False)
    with pytest.raises(ValueError, match="labels='medium'"):
        load_cifar100("test", root=tmp_path, labels="medium")
    with pytest.raises(DataNotFoundError, match="CIFAR-100"):
        load_cifar100("test", root=tmp_path / "empty", download=False)
