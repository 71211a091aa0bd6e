"""Where the lab keeps what it computes once (decoded images, trained models, embeddings), and how
it writes there: atomically, so that a reader never sees half a file."""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from pathlib import Path


def cache_dir() -> Path:
    """The per-user cache directory (``$MRL_LAB_CACHE`` if set, else the platform's user cache).

    Example:
        >>> cache_dir().name in ("mrl-lab", os.environ.get("MRL_LAB_CACHE", "mrl-lab").split(os.sep)[-1])
        True
    """
    if os.environ.get("MRL_LAB_CACHE"):
        return Path(os.environ["MRL_LAB_CACHE"]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mrl-lab", appauthor=False))


def load_cached(path: Path, read, where: str):
    """What ``read(path)`` makes of a cached file, or None when there is none to use: the one way the lab
    reads its caches (models, embeddings, decoded images).

    A missing file gives None. A damaged one (``read`` raises, e.g. on a truncated file, or returns
    None to say its contents do not fit) is reported in one line naming it, deleted, and None is
    returned, so the caller builds the entry again.

    Example:
        >>> import tempfile
        >>> bad = Path(tempfile.mkdtemp()) / "entry.pt"
        >>> _ = bad.write_bytes(b"half a file")
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as said:
        ...     warnings.simplefilter("always")
        ...     load_cached(bad, lambda p: int(p.read_text()), "demo")
        >>> bad.exists(), "demo: the cached file" in str(said[0].message)
        (False, True)
    """
    if not path.exists():
        return None
    try:
        value = read(path)
        problem = None if value is not None else "its contents do not fit what it is for"
    except (PermissionError, IsADirectoryError):  # not a damaged file: the user must fix the folder
        raise
    except Exception as e:  # what a damaged file raises depends on where it was cut
        first = str(e).splitlines()[0] if str(e) else ""
        problem = f"{type(e).__name__}: {first[:120]}{'...' if len(first) > 120 else ''}"
    if problem is None:
        return value
    warnings.warn(f"{where}: the cached file {path} is damaged ({problem}); building it again", stacklevel=2)
    path.unlink(missing_ok=True)
    return None


def save_atomic(path: Path, write) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``, so
    readers never see half a file (the rename is atomic on one file system).

    The data reaches the disk before the rename (``fsync``: a crash cannot leave an empty file
    under the final name); the file gets the permissions of any new file (the umask: a shared
    ``MRL_LAB_CACHE`` stays readable by others); temporary files that a killed writer left behind
    for over an hour are removed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob("*.tmp"):
        try:
            if time.time() - stale.stat().st_mtime > 3600:
                stale.unlink()
        except OSError:  # another process removed it first
            pass
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private (0600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it
    os.umask(mask)
    return mask
