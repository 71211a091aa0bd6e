"""Real datasets for the lab: CIFAR-10 (and CIFAR-100, online), AG News and STS-B.

Where files are looked for, in this order:

1. ``root=`` when you pass it (then only there);
2. ``$MRL_LAB_DATA`` when it is set (e.g. ``MRL_LAB_DATA=../shared/data`` offline);
3. a per-user cache directory (``~/.cache/mrl-lab`` on Linux; ``$MRL_LAB_CACHE`` overrides it).

Each loader reads the original archive's layout and the offline copies' layout. When nothing is
found it downloads the original archive into the first writable place (``download=True``), and if
that fails too it raises :class:`DataNotFoundError` listing every path it tried and how to fix it.
Decoded JPEG images are cached once as ``.npy`` arrays in the cache directory.
"""

from __future__ import annotations

import csv
import hashlib
import html
import os
import pickle
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .cache import cache_dir, save_atomic

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
AG_NEWS_CLASSES = ["World", "Sports", "Business", "Sci/Tech"]
AG_NEWS_URL = "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/"
CIFAR10_MD5 = {  # of the files in the original archive, as torchvision publishes them
    "data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e",
}  # fmt: skip
CIFAR100_MD5 = {  # the original archive's files, as torchvision publishes them
    "train": "16019d7e3df5f24257cddd939b257f8d", "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    "meta": "7973b15100ade9c7d40fb424638fde48",
}  # fmt: skip
AG_NEWS_MD5 = {"train": "b1a00f826fdfbd249f79597b59e1dc12", "test": "d52ea96a97a2d943681189a97654912d"}
STSB_URL = "http://ixa2.si.ehu.es/stswiki/images/4/48/Stsbenchmark.tar.gz"


class DataNotFoundError(FileNotFoundError):
    """Raised when a dataset is neither on disk nor downloadable; the message lists what was tried."""


def data_roots(root=None) -> list[Path]:
    """The folders searched for datasets, in order: ``root`` alone if given, else
    ``$MRL_LAB_DATA`` (when set) and then the cache directory.

    Example:
        >>> data_roots("/data")
        [PosixPath('/data')]
    """
    if root is not None:
        return [Path(root).expanduser()]
    roots = [Path(os.environ["MRL_LAB_DATA"]).expanduser()] if os.environ.get("MRL_LAB_DATA") else []
    return roots + [cache_dir()]


def _not_found(name: str, tried: list[Path], download_error: str | None) -> DataNotFoundError:
    lines = [f"{name} not found. Paths tried:"] + [f"  - {p}" for p in tried]
    if download_error:
        lines.append(f"The download failed too: {download_error}")
    lines.append(
        "Fix: connect to the internet and call again with download=True, or point MRL_LAB_DATA "
        "(or root=) at a folder holding the dataset, e.g. MRL_LAB_DATA=../shared/data. "
        "`python -m mrl_lab doctor` shows what is found where."
    )
    return DataNotFoundError("\n".join(lines))


def _writable_root(roots: list[Path]) -> Path:
    """The first folder of ``roots`` that can be written to. A folder you named (``root=``,
    ``MRL_LAB_DATA``) is created only inside an existing folder, so a typo is not made into a tree."""
    problems = []
    for r in roots:
        try:
            r.mkdir(parents=r == cache_dir(), exist_ok=True)
            with tempfile.TemporaryFile(dir=r):
                return r
        except FileNotFoundError:
            problems.append(f"{r}: its parent folder does not exist (a typo?)")
        except OSError as e:
            problems.append(f"{r}: {e.strerror or e}")
    raise OSError(f"no writable folder to download into: {'; '.join(problems)}")


def _find_or_download(name: str, roots: list[Path], find, fetch, download: bool):
    """``find(roots)`` returns ``(found or None, paths tried)``. When nothing is found and
    ``download`` is allowed, ``fetch(folder)`` downloads into the first writable root and we look
    again; if it is still missing, raise :class:`DataNotFoundError` with every path tried."""
    found, tried = find(roots)
    download_error = None
    if found is None and download:
        try:
            fetch(_writable_root(roots))
            found, tried = find(roots)
        except Exception as e:  # no network, no space, server down: report it with the paths tried
            download_error = f"{type(e).__name__}: {e}"
    if found is None:
        raise _not_found(name, tried, download_error)
    return found


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
        index = torch.as_tensor(index)
        return ImageData(self.images[index], self.labels[index], self.classes, self.source)

    def subset(self, n: int, seed: int = 0) -> ImageData:
        """A class-balanced random subset of ``n`` examples (the same ``n`` and ``seed`` give the same subset).

        Example:
            >>> images, labels = torch.zeros(6, 3, 2, 2, dtype=torch.uint8), torch.tensor([0, 0, 0, 1, 1, 1])
            >>> data = ImageData(images, labels, ["a", "b"], "demo")
            >>> data.subset(4).labels.bincount().tolist()
            [2, 2]
        """
        return _balanced_subset(self, n, seed)


def _balanced_subset(data, n: int, seed: int):
    if not 1 <= n <= len(data):
        raise ValueError(f"subset: n={n} is outside 1..{len(data)} (the dataset size); pick n in that range")
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(data), generator=g)
    labels = data.labels[order]
    num_classes = len(data.classes)
    quota = [n // num_classes + (c < n % num_classes) for c in range(num_classes)]
    keep = torch.cat([order[labels == c][: quota[c]] for c in range(num_classes)])
    keep = keep[torch.randperm(len(keep), generator=g)]
    return data.take(keep)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes (``hashlib.file_digest`` of Python 3.11, read in 1 MB blocks)."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
            raise ValueError(f"{path}: a CIFAR-10 image must be 32x32 RGB; got shape {pixels.shape}")
        images[i] = pixels.transpose(2, 0, 1)
    return images, np.asarray(labels, dtype=np.int64)


def folder_fingerprint(folder: Path, files: list[Path]) -> str:
    """A short hash of a folder's path and of its files' names, sizes and modification times:
    it changes when a file is added, removed or rewritten, so caches built from the folder do too."""
    digest = hashlib.sha1(str(folder.resolve()).encode())
    for p in files:
        stat = p.stat()
        digest.update(f"{p.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:12]


def _cached_image_folder(folder: Path, split: str):
    files, labels = _image_files(folder)
    key = folder_fingerprint(folder, files)
    x_path = cache_dir() / "arrays" / f"cifar10-{split}-{key}-images.npy"
    y_path = x_path.with_name(x_path.name.replace("-images", "-labels"))
    source = f"{folder.resolve()} (image folder {key})"
    if x_path.exists() and y_path.exists():
        try:  # memory-mapped (copy-on-write): a subset reads only its own images from disk
            x, y = np.load(x_path, mmap_mode="c"), np.load(y_path)
            if x.shape == (len(files), 3, 32, 32) and y.shape == (len(files),):
                return x, y, source
            problem = f"shape {x.shape} for {len(files)} images"
        except (OSError, ValueError, EOFError) as e:  # truncated or not an array
            problem = f"{type(e).__name__}: {e}"
        message = f"load_cifar10: the cached arrays {x_path} are damaged ({problem}); decoding the images again"
        warnings.warn(message, stacklevel=3)
        x_path.unlink(missing_ok=True)
        y_path.unlink(missing_ok=True)
    x, y = _decode_image_folder(files, labels)
    save_atomic(y_path, lambda f: np.save(f, y))  # labels first: the images file marks both as complete
    save_atomic(x_path, lambda f: np.save(f, x))
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
    roots = data_roots(root)

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
    roots = data_roots(root)

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


# ----------------------------------------------------------------------------- AG News


@dataclass
class TextData:
    """AG News rows: titles, descriptions and topic labels, with a note on where they came from."""

    titles: list[str]
    descriptions: list[str]
    labels: torch.Tensor
    classes: list[str] = field(default_factory=lambda: list(AG_NEWS_CLASSES))
    source: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index) -> TextData:
        """The rows at ``index`` (a tensor or list of positions)."""
        index = torch.as_tensor(index).tolist()
        return TextData(
            [self.titles[i] for i in index],
            [self.descriptions[i] for i in index],
            self.labels[index],
            self.classes,
            self.source,
        )

    def subset(self, n: int, seed: int = 0) -> TextData:
        """A class-balanced random subset of ``n`` rows (see :meth:`ImageData.subset`)."""
        return _balanced_subset(self, n, seed)


def _clean_ag_news(text: str) -> str:
    # The archive writes line breaks as a backslash and entities without '&' (" #36;" for "$").
    text = re.sub(r" ?#(\d+);", r"&#\1;", text.replace("\\", " "))
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def _read_ag_news_csv(path: Path) -> TextData:
    titles, descriptions, labels = [], [], []
    fix = "re-download it (delete the file) or restore the original"
    with open(path, newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.reader(f), start=1):
            if len(row) != 3 or row[0].strip() not in ("1", "2", "3", "4"):
                raise ValueError(
                    f"load_ag_news: {path}, line {line}: expected class (1-4), title, description; "
                    f"got {row[:3]!r}. {fix}"
                )
            labels.append(int(row[0]) - 1)
            titles.append(_clean_ag_news(row[1]))
            descriptions.append(_clean_ag_news(row[2]))
    if not labels:
        raise ValueError(f"load_ag_news: {path} has no rows; {fix}")
    source = f"{path.resolve()} (sha256 {file_digest(path)[:12]})"  # models trained on it are keyed on its bytes
    return TextData(titles, descriptions, torch.tensor(labels), source=source)


@dataclass
class AGNews:
    """AG News split three ways, plus a sentence saying how the split was made."""

    train: TextData
    val: TextData
    test: TextData
    note: str

    def __repr__(self) -> str:
        return f"AGNews(train={len(self.train)}, val={len(self.val)}, test={len(self.test)}): {self.note}"


def _find_file(roots: list[Path], relative: str):
    tried = []
    for r in roots:
        tried.append(r / relative)
        if tried[-1].is_file():
            return tried[-1], tried
    return None, tried


def _split_indices(labels: torch.Tensor, fractions, seed: int):
    """Deterministic class-stratified split of ``range(len(labels))`` by ``fractions``."""
    g = torch.Generator().manual_seed(seed)
    parts = [[] for _ in fractions]
    for c in labels.unique().tolist():
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)].tolist()
        edges = np.round(np.cumsum([0, *fractions]) * len(idx)).astype(int)
        for k in range(len(fractions)):
            parts[k] += idx[edges[k] : edges[k + 1]]
    return [sorted(p) for p in parts]


def load_ag_news(root=None, download: bool = True, val_size: int = 5000, seed: int = 0) -> AGNews:
    """Load AG News (news titles and descriptions in 4 topics) as train / val / test.

    With the original archive's ``train.csv`` (120,000 rows), ``val_size`` rows of it become the
    validation split and ``test.csv`` (7,600) is the test split. The offline copy has only
    ``test.csv``; then its 7,600 rows are split deterministically (stratified, 70 / 10 / 20 %,
    ``seed``) and ``note`` says so. Offline numbers are therefore not comparable with published ones.

    Args:
        root: a folder to look in (and download into) instead of ``$MRL_LAB_DATA`` and the cache.
        download: fetch the original CSVs if no copy is found.
        val_size: validation rows taken from the full training split.
        seed: seed of the deterministic splits.

    References:
        Zhang, Zhao and LeCun, "Character-level Convolutional Networks for Text Classification", 2015.

    Example:
        >>> news = load_ag_news()  # doctest: +SKIP
        >>> news.note  # doctest: +SKIP
        'offline copy with the test split only: its 7,600 rows split 70/10/20 % (seed 0) ...'
    """
    roots = data_roots(root)

    def fetch(folder):
        from torchvision.datasets.utils import download_url

        for split in ("train", "test"):
            download_url(AG_NEWS_URL + f"{split}.csv", str(folder / "ag_news_csv"), f"{split}.csv", AG_NEWS_MD5[split])

    find = partial(_find_file, relative="ag_news_csv/test.csv")
    test_path = _find_or_download("AG News", roots, find, fetch, download)
    test = _read_ag_news_csv(test_path)
    train_path = test_path.with_name("train.csv")
    if train_path.is_file():
        full = _read_ag_news_csv(train_path)
        train_idx, val_idx = _split_indices(full.labels, [1 - val_size / len(full), val_size / len(full)], seed)
        note = (
            f"original splits from {test_path.parent}: train.csv minus {len(val_idx)} validation rows "
            f"(seed {seed}); test.csv"
        )
        return AGNews(full.take(train_idx), full.take(val_idx), test, note)
    parts = _split_indices(test.labels, [0.7, 0.1, 0.2], seed)
    note = (
        f"offline copy with the test split only ({test_path}): its {len(test):,} rows split "
        f"70/10/20 % into train/val/test, stratified, seed {seed}; not comparable with published AG News numbers"
    )
    return AGNews(*(test.take(p) for p in parts), note)


# ----------------------------------------------------------------------------- STS-B


@dataclass
class SentencePairs:
    """STS-B pairs with similarity scores from 0 (unrelated) to 5 (same meaning)."""

    sentences1: list[str]
    sentences2: list[str]
    scores: torch.Tensor
    source: str

    def __len__(self) -> int:
        return len(self.scores)


def load_sts_benchmark(split: str = "test", root=None, download: bool = True) -> SentencePairs:
    """Load an STS Benchmark split: sentence pairs with human similarity scores (0-5).

    Reads the original archive's ``stsbenchmark/sts-{train,dev,test}.csv`` (tab-separated, quoting
    off; extra trailing fields on some lines are ignored).

    Args:
        split: ``"train"`` (5,749 pairs), ``"dev"`` (1,500) or ``"test"`` (1,379).
        root: a folder to look in (and download into) instead of ``$MRL_LAB_DATA`` and the cache.
        download: fetch the original archive if no copy is found.

    References:
        Cer et al., "SemEval-2017 Task 1: Semantic Textual Similarity", 2017.

    Example:
        >>> sts = load_sts_benchmark("test")  # doctest: +SKIP
        >>> len(sts), float(sts.scores.max())  # doctest: +SKIP
        (1379, 5.0)
    """
    if split not in ("train", "dev", "test"):
        raise ValueError(f"load_sts_benchmark: split={split!r} is not 'train', 'dev' or 'test'")
    roots = data_roots(root)

    def fetch(folder):
        from torchvision.datasets.utils import download_and_extract_archive

        download_and_extract_archive(STSB_URL, str(folder))

    find = partial(_find_file, relative=f"stsbenchmark/sts-{split}.csv")
    path = _find_or_download(f"STS Benchmark ({split} split)", roots, find, fetch, download)
    s1, s2, scores = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            scores.append(float(fields[4]))
            s1.append(fields[5])
            s2.append(fields[6])
    return SentencePairs(s1, s2, torch.tensor(scores), str(path.resolve()))


def locate_datasets(root=None) -> dict[str, Path | None]:
    """Where each dataset is found without loading or downloading anything (``None``: not found).

    Example:
        >>> sorted(locate_datasets("/nonexistent"))
        ['AG News', 'CIFAR-10', 'STS-B']
    """
    roots = data_roots(root)
    cifar, _ = _find_cifar10(roots, "test")
    return {
        "CIFAR-10": cifar[1] if cifar else None,
        "AG News": _find_file(roots, "ag_news_csv/test.csv")[0],
        "STS-B": _find_file(roots, "stsbenchmark/sts-test.csv")[0],
    }
