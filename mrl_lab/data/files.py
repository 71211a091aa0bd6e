"""Your own files: texts one per line or in a CSV/TSV column, and embeddings saved as ``.npy``.

These readers serve ``python -m mrl_lab check``. Each error names the file, the line where it
applies, what was expected and how to fix it, because the file is the user's, not the lab's.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import torch


def _existing(path, what: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what}: path={path!r}; pass a file's path (a str or a pathlib.Path)")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what}: no file at {path}; check the path (it is read relative to {Path.cwd()})")
    return path


def decoded(path: Path, what: str, fix: str) -> str:
    """The text of ``path``; a byte that is not UTF-8 is an error naming ``what``, the file, its line and ``fix``."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ValueError(f"{what}: {path}, line {line}: byte {data[e.start]:#04x} is not UTF-8 text; {fix}") from None


def csv_rows(path: Path, what: str, expected: str, fix: str, delimiter: str = ",", quoting: bool = True):
    """Each ``(line, cells)`` of a CSV (or, with ``delimiter="\t"``, TSV) file, read strictly: a quote never closed,
    or a byte that is not UTF-8, is an error naming ``what``, the file, the line, the ``expected`` cells and ``fix``."""
    rows = csv.reader(io.StringIO(decoded(path, what, fix), newline=""), delimiter=delimiter, strict=True,
                      quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE)  # fmt: skip
    try:
        for cells in rows:
            yield rows.line_num, cells
    except csv.Error as e:
        raise ValueError(f"{what}: {path}, line {rows.line_num}: {e} (a stray or unclosed quote?); expected "
                         f"{expected}. {fix}") from None  # fmt: skip


def read_texts(path, column: str | None = None, what: str = "read_texts") -> list[str]:
    """The texts in ``path``: a ``.csv`` or ``.tsv`` file's ``column`` (its header names the columns), or
    any other file's lines, one text a line. Blank lines or cells are an error, not skipped: they would
    shift every row after them against the embeddings or the labels that refer to rows.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "docs.tsv").write_text("id\\ttext\\n1\\tA cat.\\n2\\tA dog.\\n")
        >>> read_texts(folder / "docs.tsv", "text")
        ['A cat.', 'A dog.']
    """
    path = _existing(path, what)
    fix = "check the file: close every quote and save it as UTF-8"
    if path.suffix.lower() in (".csv", ".tsv"):
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        rows = csv_rows(path, what, "a header line naming the columns, then one row of cells per text", fix, delimiter)
        _, header = next(rows, (None, None))
        if header is None:
            raise ValueError(f"{what}: {path} is empty; it needs a header line naming the columns, then rows")
        if column is None:
            if len(header) != 1:
                raise ValueError(f"{what}: {path} has columns {header}; say which holds the texts (--column NAME)")
            column = header[0]
        if column not in header:
            raise ValueError(f"{what}: {path} has no column {column!r}; its columns are {header}")
        at, texts = header.index(column), []
        for line, cells in rows:
            if len(cells) != len(header):
                raise ValueError(f"{what}: {path}, line {line}: {len(cells)} cells, the header has {len(header)} "
                                 f"({header}); quote cells that contain the delimiter")  # fmt: skip
            texts.append(cells[at])
    else:
        texts = decoded(path, what, fix).splitlines()
    blank = [i for i, t in enumerate(texts) if not t.strip()]
    if blank:
        first = blank[0] + (2 if path.suffix.lower() in (".csv", ".tsv") else 1)
        raise ValueError(f"{what}: {path} has {len(blank)} blank text(s), the first on line {first}; "
                         "remove them (every row must be a text)")  # fmt: skip
    if not texts:
        raise ValueError(f"{what}: {path} holds no texts; give one text a line (or a CSV/TSV with a header)")
    return texts


def read_vectors(path, what: str = "read_vectors") -> torch.Tensor:
    """The embeddings saved in ``path`` (``numpy.save``): a 2-D float array, one row per text, as float32.

    Rows of NaN or infinity, and rows of all zeros (which have no direction, so no cosine), are an
    error naming how many and which.
    """
    path = _existing(path, what)
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise ValueError(f"{what}: {path} is not a .npy array ({e}); save embeddings with numpy.save") from None
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating) or 0 in array.shape:
        raise ValueError(f"{what}: {path} holds a {array.dtype} array of shape {array.shape}; it needs a 2-D float "
                         "array, one row per text (rows, dims)")  # fmt: skip
    x = torch.from_numpy(array.astype(np.float32))
    for problem, bad in (("NaN or infinite", ~torch.isfinite(x).all(dim=1)), ("all-zero", (x == 0).all(dim=1))):
        if bad.any():
            rows = bad.nonzero().flatten().tolist()
            shown = ", ".join(map(str, rows[:10])) + (", ..." if len(rows) > 10 else "")
            raise ValueError(f"{what}: {path} has {len(rows)} {problem} row(s) of {len(x)} (rows {shown}, from 0); "
                             "re-encode those texts or drop them from both the vectors and the texts")  # fmt: skip
    return x
