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

import hashlib
import os
import tempfile
from pathlib import Path

from mrl_lab.runtime.cache import cache_dir


class DataNotFoundError(FileNotFoundError):
    """Raised when a dataset is neither on disk nor downloadable; the message lists what was tried."""


def data_roots(root=None, where: str = "data_roots") -> list[Path]:
    """The folders searched for datasets, in order: ``root`` alone if given, else
    ``$MRL_LAB_DATA`` (when set) and then the cache directory. ``where`` names the caller in errors.

    Example:
        >>> data_roots("/data")
        [PosixPath('/data')]
    """
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"{where}: root={root!r}; pass a folder (a str or a pathlib.Path), or None to search as usual")
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


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes (``hashlib.file_digest`` of Python 3.11, read in 1 MB blocks)."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_fingerprint(folder: Path, files: list[Path]) -> str:
    """A short hash of a folder's path and of its files' names, sizes and modification times:
    it changes when a file is added, removed or rewritten, so caches built from the folder do too."""
    digest = hashlib.sha1(str(folder.resolve()).encode())
    for p in files:
        stat = p.stat()
        digest.update(f"{p.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:12]


def find_file(roots: list[Path], relative: str):
    tried = []
    for r in roots:
        tried.append(r / relative)
        if tried[-1].is_file():
            return tried[-1], tried
    return None, tried


MODEL = "all-MiniLM-L6-v2"  # the pretrained sentence encoder of notebook 03
HUB_IDS = {MODEL: "sentence-transformers/all-MiniLM-L6-v2"}


def find_encoder(name: str = MODEL, root=None, download: bool = True) -> Path:
    """The folder of a pretrained sentence-transformers model, found or downloaded.

    Looks in ``<root>/models/<name>`` when ``root`` is given, else in ``$MRL_LAB_DATA/models/<name>``
    and ``<cache>/models/<name>`` (like the datasets), then in the Hugging Face cache. If none has
    it and ``download=True``, downloads it from the Hugging Face Hub into ``<first writable
    folder>/models/<name>``. Offline that fails at once, with the paths tried and what to do.

    Example:
        >>> find_encoder(root="/nonexistent", download=False)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        mrl_lab.data.locate.DataNotFoundError: pretrained encoder all-MiniLM-L6-v2 not found. Paths tried: ...
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"find_encoder: name={name!r}; pass a model's name, e.g. {MODEL!r}")
    roots, tried = data_roots(root, "find_encoder"), []
    for r in roots:
        tried.append(r / "models" / name)
        if (tried[-1] / "modules.json").is_file():
            return tried[-1]
    from huggingface_hub import snapshot_download

    repo = HUB_IDS.get(name, name)
    try:  # already in the Hugging Face cache: no network needed
        return Path(snapshot_download(repo, local_files_only=True))
    except Exception:
        tried.append(Path(f"the Hugging Face cache ({repo})"))
    error = "download=False"
    if download:
        if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0"):
            error = "HF_HUB_OFFLINE is set"
        else:
            try:
                target = _writable_root(roots) / "models" / name
                return Path(snapshot_download(repo, local_dir=target, etag_timeout=10))
            except Exception as e:  # no network, no space, no such model
                error = f"{type(e).__name__}: {str(e).splitlines()[0]}"
    raise DataNotFoundError(
        f"pretrained encoder {name} not found. Paths tried: {', '.join(str(p) for p in tried)}. "
        f"The download from the Hugging Face Hub ({repo}) failed: {error}. Fix: go online once (it is then "
        f"cached), or copy the model's folder to $MRL_LAB_DATA/models/{name} (offline: MRL_LAB_DATA=../shared/data)"
    )


def fingerprint(folder: Path) -> str:
    """A short hash of a model folder's weights file, so caches know which weights they came from."""
    weights = next((folder / f for f in ("model.safetensors", "pytorch_model.bin") if (folder / f).exists()), None)
    if weights is None:
        raise DataNotFoundError(f"fingerprint: no model.safetensors or pytorch_model.bin in {folder}")
    return file_digest(weights)[:12]
