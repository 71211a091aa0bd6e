"""AG News (titles, descriptions, topics) and STS-B (sentence pairs with human similarity scores)."""

from __future__ import annotations

import html
import re
import reprlib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch

from mrl_lab.core.checks import check_count, check_indices
from mrl_lab.data.files import csv_rows
from mrl_lab.data.locate import _find_or_download, data_roots, file_digest, find_file
from mrl_lab.data.split import balanced_subset, split_indices

AG_NEWS_CLASSES = ["World", "Sports", "Business", "Sci/Tech"]
AG_NEWS_URL = "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/"
AG_NEWS_MD5 = {"train": "b1a00f826fdfbd249f79597b59e1dc12", "test": "d52ea96a97a2d943681189a97654912d"}
STSB_URL = "http://ixa2.si.ehu.es/stswiki/images/4/48/Stsbenchmark.tar.gz"

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
        index = check_indices(index, len(self), "TextData.take: index", "rows").tolist()
        return TextData(
            [self.titles[i] for i in index],
            [self.descriptions[i] for i in index],
            self.labels[index],
            self.classes,
            self.source,
        )

    def subset(self, n: int, seed: int = 0) -> TextData:
        """A class-balanced random subset of ``n`` rows (see :meth:`ImageData.subset`)."""
        return balanced_subset(self, n, seed)


def _clean_ag_news(text: str) -> str:
    # The archive writes line breaks as a backslash and entities without '&' (" #36;" for "$").
    text = re.sub(r" ?#(\d+);", r"&#\1;", text.replace("\\", " "))
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def _read_ag_news_csv(path: Path) -> TextData:
    titles, descriptions, labels = [], [], []
    fix, expected = "re-download it (delete the file) or restore the original", "class (1-4), title, description"
    for line, row in csv_rows(path, "load_ag_news", expected, fix):
        if len(row) != 3 or row[0].strip() not in ("1", "2", "3", "4"):
            raise ValueError(
                f"load_ag_news: {path}, line {line}: expected {expected}; got {len(row)} field(s) {reprlib.repr(row)}. "
                f"{fix}"
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
    check_count(val_size, "val_size", "load_ag_news")
    roots = data_roots(root, "load_ag_news")

    def fetch(folder):
        from torchvision.datasets.utils import download_url

        for split in ("train", "test"):
            download_url(AG_NEWS_URL + f"{split}.csv", str(folder / "ag_news_csv"), f"{split}.csv", AG_NEWS_MD5[split])

    find = partial(find_file, relative="ag_news_csv/test.csv")
    test_path = _find_or_download("AG News", roots, find, fetch, download)
    test = _read_ag_news_csv(test_path)
    train_path = test_path.with_name("train.csv")
    if train_path.is_file():
        full = _read_ag_news_csv(train_path)
        check_count(val_size, "val_size", "load_ag_news", high=len(full) - 1)  # some rows must be left to train on
        train_idx, val_idx = split_indices(full.labels, [1 - val_size / len(full), val_size / len(full)], seed)
        note = (
            f"original splits from {test_path.parent}: train.csv minus {len(val_idx)} validation rows "
            f"(seed {seed}); test.csv"
        )
        return AGNews(full.take(train_idx), full.take(val_idx), test, note)
    parts = split_indices(test.labels, [0.7, 0.1, 0.2], seed)
    if not all(parts):
        raise ValueError(f"load_ag_news: {test_path} has {len(test)} rows, too few to split 70/10/20 % into "
                         "train/val/test; restore the full file (delete it to download it again)")  # fmt: skip
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
    roots = data_roots(root, "load_sts_benchmark")

    def fetch(folder):
        from torchvision.datasets.utils import download_and_extract_archive

        download_and_extract_archive(STSB_URL, str(folder))

    find = partial(find_file, relative=f"stsbenchmark/sts-{split}.csv")
    path = _find_or_download(f"STS Benchmark ({split} split)", roots, find, fetch, download)
    s1, s2, scores = [], [], []
    expected = "at least 7 tab-separated fields (genre, file, year, id, score 0-5, sentence 1, sentence 2)"
    fix = "Replace the file with the original (delete it: it downloads again when online)"
    for number, fields in csv_rows(path, "load_sts_benchmark", expected, fix, delimiter="\t", quoting=False):
        try:
            score = float(fields[4]) if len(fields) >= 7 else None
        except ValueError:
            score = None
        if score is None or not 0 <= score <= 5:
            got = f"score {fields[4]!r}" if len(fields) >= 7 else f"{len(fields)} field(s) {reprlib.repr(fields)}"
            raise ValueError(f"load_sts_benchmark: {path}, line {number}: expected {expected}; got {got}. {fix}")
        s1.append(fields[5])
        s2.append(fields[6])
        scores.append(score)
    if not scores:
        raise ValueError(f"load_sts_benchmark: {path} has no rows; expected {expected} on each line. {fix}")
    return SentencePairs(s1, s2, torch.tensor(scores), str(path.resolve()))
