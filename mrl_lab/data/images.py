"""CIFAR-10 and CIFAR-100 as uint8 tensors: the original archives or the offline JPEG folders."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from mrl_lab.core.checks import check_indices
from mrl_lab.data.locate import DataNotFoundError, _find_or_download, data_roots, file_digest, folder_fingerprint
from mrl_lab.data.split import balanced_subset
from mrl_lab.runtime.cache import cache_dir, load_or_build, save_atomic

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_MD5 = {  # of the files in the original archive, as torchvision publishes them
    "data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e",
}  # fmt: skip
CIFAR100_MD5 = {  # the original archive's files, as torchvision publishes them
    "train": "16019d7e3df5f24257cddd939b257f8d", "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    "meta": "7973b15100ade9c7d40fb424638fde48",
}  # fmt: skip

# ----------------------------------------------------------------------------- CIFAR-10


@dataclass
class ImageData:
    """Images as a uint8 tensor ``(N, 3, 32, 32)`` with int64 labels, and where they came from."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index) -> ImageData:
        """The examples at ``index`` (a tensor or list of positions)."""
        index = check_indices(index, len(self), "ImageData.take: index", "examples")
        return ImageData(self.images[index], self.labels[index], self.classes, self.source)

    def subset(self, n: int, seed: int = 0) -> ImageData:
        """A class-balanced random subset of ``n`` examples (the same ``n`` and ``seed`` give the same subset).

        Example:
            >>> images, labels = torch.zeros(6, 3, 2, 2, dtype=torch.uint8), torch.tensor([0, 0, 0, 1, 1, 1])
            >>> data = ImageData(images, labels, ["a", "b"], "demo")
            >>> data.subset(4).labels.bincount().tolist()
            [2, 2]
        """
        return balanced_subset(self, n, seed)


def _read_cifar_pickles(folder: Path, split: str):
    """The original CIFAR-10 batch files, each checked against its published md5 before it is unpickled:
    a pickle can name any function to call while loading, so only the published bytes are read."""
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    xs, ys = [], []
    for name in names:
        batch = _read_checked_pickle(folder / name, CIFAR10_MD5[name], "load_cifar10")
        xs.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.extend(batch["labels"])
    return np.concatenate(xs), np.asarray(ys, dtype=np.int64), str(folder.resolve())


def _image_files(folder: Path) -> tuple[list[Path], list[int]]:
    files, labels = [], []
    for c, name in enumerate(CIFAR10_CLASSES):
        found = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        files += found
        labels += [c] * len(found)
    if not files:
        raise DataNotFoundError(f"load_cifar10: {folder} has the class folders but no .jpg or .png images in them; "
                                "restore them (the layout is <split>/<class>/*.jpg) or remove the folder")  # fmt: skip
    return files, labels


def _decode_image_folder(files: list[Path], labels: list[int]):
    from PIL import Image, UnidentifiedImageError

    images = np.empty((len(files), 3, 32, 32), dtype=np.uint8)  # filled in place: one copy of the split in memory
    for i, path in enumerate(tqdm(files, desc="decoding the JPEGs once (then cached)", unit="image")):
        try:
            with Image.open(path) as im:
                pixels = np.asarray(im.convert("RGB"))
        except (OSError, UnidentifiedImageError) as e:
            raise ValueError(f"load_cifar10: cannot decode {path} ({e}); replace or delete that file") from e
        if pixels.shape != (32, 32, 3):
            raise ValueError(
                f"load_cifar10: {path} is not a 32x32 RGB image (shape {pixels.shape}); replace or delete it"
            )
        images[i] = pixels.transpose(2, 0, 1)
    return images, np.asarray(labels, dtype=np.int64)


def _cached_image_folder(folder: Path, split: str):
    files, labels = _image_files(folder)
    key = folder_fingerprint(folder, files)
    x_path = cache_dir() / "arrays" / f"cifar10-{split}-{key}-images.npy"
    y_path = x_path.with_name(x_path.name.replace("-images", "-labels"))
    source = f"{folder.resolve()} (image folder {key})"

    def read(path):  # memory-mapped (copy-on-write): a subset reads only its own images from disk
        x, y = np.load(path, mmap_mode="c"), np.load(y_path)
        return (x, y) if x.shape == (len(files), 3, 32, 32) and y.shape == (len(files),) else None

    def decode():
        x, y = _decode_image_folder(files, labels)
        save_atomic(y_path, lambda f: np.save(f, y))  # labels first: the images file marks both as complete
        return x, y

    x, y = load_or_build(x_path, read, decode, lambda xy, f: np.save(f, xy[0]), "load_cifar10")
    return x, y, source


def _find_cifar10(roots: list[Path], split: str):
    """Return ((reader, path) or None, paths tried) for the first CIFAR-10 copy found."""
    tried = []
    for r in roots:
        pickles = r / "cifar-10-batches-py"
        tried.append(pickles)
        if (pickles / ("test_batch" if split == "test" else "data_batch_5")).exists():
            return (_read_cifar_pickles, pickles), tried
        for folder in (r / "cifar10" / split, r / split):
            tried.append(folder)
            missing = [c for c in CIFAR10_CLASSES if not (folder / c).is_dir()]
            if not missing:
                return (_cached_image_folder, folder), tried
            if len(missing) < len(CIFAR10_CLASSES):
                raise DataNotFoundError(
                    f"load_cifar10: {folder} has CIFAR-10 class folders but not {', '.join(missing)}; "
                    "restore them (the layout is <split>/<class>/*.jpg) or remove the folder"
                )
    return None, tried


def load_cifar10(split: str = "train", root=None, download: bool = True) -> ImageData:
    """Load a CIFAR-10 split as uint8 images ``(N, 3, 32, 32)`` and int64 labels.

    Reads torchvision's layout (``cifar-10-batches-py/``, the original Python pickles) or an
    image-folder tree (``cifar10/{train,test}/<class>/*.jpg``, the offline copy in
    ``../shared/data``; its JPEG pixels differ slightly from the originals). Decoded JPEGs are
    cached once as arrays. Downloads with torchvision when nothing is found and ``download=True``.

    Args:
        split: ``"train"`` (50,000 images) or ``"test"`` (10,000).
        root: a folder to look in (and download into) instead of ``$MRL_LAB_DATA`` and the cache.
        download: fetch the original archive if no copy is found.

    References:
        Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009.

    Example:
        >>> test = load_cifar10("test")  # doctest: +SKIP
        >>> test.images.shape, test.classes[:3]  # doctest: +SKIP
        (torch.Size([10000, 3, 32, 32]), ['airplane', 'automobile', 'bird'])
    """
    if split not in ("train", "test"):
        raise ValueError(f"load_cifar10: split={split!r} is not 'train' or 'test'")
    roots = data_roots(root, "load_cifar10")

    def fetch(folder):
        from torchvision.datasets import CIFAR10

        CIFAR10(root=folder, train=split == "train", download=True)

    find = partial(_find_cifar10, split=split)
    reader, path = _find_or_download(f"CIFAR-10 ({split} split)", roots, find, fetch, download)
    x, y, source = reader(path, split)
    return ImageData(torch.from_numpy(x), torch.from_numpy(y), list(CIFAR10_CLASSES), source)


def _read_checked_pickle(path: Path, md5: str, where: str) -> dict:
    """Unpickle ``path`` only if its md5 is the published one (a pickle can run code while loading)."""
    if (found := file_digest(path, "md5")) != md5:
        raise ValueError(f"{where}: {path} is not the published file (md5 {found}, expected {md5}), so it is "
                         f"not unpickled; delete {path.parent} and download again")  # fmt: skip
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def load_cifar100(split: str = "train", root=None, download: bool = True, labels: str = "fine") -> ImageData:
    """Load a CIFAR-100 split: uint8 images ``(N, 3, 32, 32)``, int64 labels, 100 (or 20) classes.

    The same 60,000 tiny images as CIFAR-10's size and format, in 100 classes of 600 ("fine"),
    grouped into 20 superclasses ("coarse"). With 10 times the classes a good embedding needs
    more directions, so small prefixes are harder and post-hoc PCA has less of a shortcut (see
    notebook 01). Reads the original archive's layout (``cifar-100-python/{train,test,meta}``,
    each file checked against its published md5 before it is unpickled); downloads it with
    torchvision (161 MB) when it is not found. The offline data here has no copy.

    Args:
        split: ``"train"`` (50,000 images) or ``"test"`` (10,000).
        root: a folder to look in (and download into) instead of ``$MRL_LAB_DATA`` and the cache.
        download: fetch the original archive if no copy is found.
        labels: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).

    Example:
        >>> test = load_cifar100("test")  # doctest: +SKIP
        >>> test.images.shape, len(test.classes), test.classes[:2]  # doctest: +SKIP
        (torch.Size([10000, 3, 32, 32]), 100, ['apple', 'aquarium_fish'])
    """
    if split not in ("train", "test"):
        raise ValueError(f"load_cifar100: split={split!r} is not 'train' or 'test'")
    if labels not in ("fine", "coarse"):
        raise ValueError(f"load_cifar100: labels={labels!r} is not 'fine' (100 classes) or 'coarse' (20)")
    roots = data_roots(root, "load_cifar100")

    def find(roots):
        tried = [r / "cifar-100-python" for r in roots]
        return next((t for t in tried if (t / split).exists() and (t / "meta").exists()), None), tried

    def fetch(folder):
        from torchvision.datasets import CIFAR100

        CIFAR100(root=folder, train=split == "train", download=True)

    folder = _find_or_download(f"CIFAR-100 ({split} split)", roots, find, fetch, download)
    batch = _read_checked_pickle(folder / split, CIFAR100_MD5[split], "load_cifar100")
    meta = _read_checked_pickle(folder / "meta", CIFAR100_MD5["meta"], "load_cifar100")
    x = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    y = np.asarray(batch[f"{labels}_labels"], dtype=np.int64)
    classes = list(meta[f"{labels}_label_names"])
    return ImageData(torch.from_numpy(x), torch.from_numpy(y), classes, str(folder.resolve()))
