"""Where the lab keeps what it computes once (decoded images, trained models, embeddings), and how
it writes there: atomically and durably, so that a reader never sees half a file, even after a crash;
one process at a time builds an entry (:func:`building`); a full disk or a read-only folder says
what to do (:class:`CacheWriteError`)."""

from __future__ import annotations

import errno
import os
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

# errors that mean "this folder cannot take the file", not "the lab has a bug"
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


class CacheWriteError(OSError):
    """A file could not be written (a full disk, a read-only or forbidden folder); the message says what to do."""


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


def load_or_build(path: Path, read, build, save, where: str):
    """The cached entry at ``path`` (what ``read(path)`` makes of it), or, when there is none to use,
    ``build()``'s value, written there with ``save(value, file)`` by :func:`save_atomic`.

    One process builds at a time (:func:`building`); one that waited for it loads what it built.
    A damaged entry is reported and rebuilt (:func:`load_cached`).

    Example:
        >>> import tempfile
        >>> entry = Path(tempfile.mkdtemp()) / "entry.txt"
        >>> read, save = (lambda p: p.read_text()), (lambda value, f: f.write(value.encode()))
        >>> load_or_build(entry, read, lambda: "built", save, "demo"), load_or_build(entry, read, None, save, "demo")
        ('built', 'built')
    """
    value = load_cached(path, read, where)
    if value is not None:
        return value
    with building(path, where):
        value = load_cached(path, read, where)  # another process may have built it while this one waited
        if value is None:
            value = build()
            save_atomic(path, lambda f: save(value, f))
    return value


def save_atomic(path: Path, write) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``, so
    readers never see half a file (the rename is atomic on one file system).

    Durable as well as atomic: the data reaches the disk before the rename (``fsync``), and the
    rename before the function returns (``fsync`` of the folder), so a crash leaves the old entry or
    the new one, never an empty file under the final name. The file gets the permissions of any new
    file (the umask: a shared ``MRL_LAB_CACHE`` stays readable by others); temporary files that a
    killed writer left behind for over an hour are removed. A full disk or a folder that cannot be
    written raises :class:`CacheWriteError`, saying what to do, and leaves the old entry as it was.

    ``MRL_LAB_TEST_WRITE_PAUSE`` (seconds; for the fault tests only) pauses between writing the
    temporary file and the rename, so that a test can kill the writer there.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob("*.tmp"):
            try:
                if time.time() - stale.stat().st_mtime > 3600:
                    stale.unlink()
            except OSError:  # another process removed it first
                pass
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private (0600)
        if os.environ.get("MRL_LAB_TEST_WRITE_PAUSE"):
            print(f"save_atomic: pausing before renaming {tmp}", file=sys.stderr, flush=True)
            time.sleep(float(os.environ["MRL_LAB_TEST_WRITE_PAUSE"]))
        os.replace(tmp, path)
        tmp = None
        _sync_folder(path.parent)
    except OSError as e:
        if e.errno not in _NO_ROOM:
            raise
        raise CacheWriteError(e.errno, _no_room_message(path, e)) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems do not sync folders; the rename itself is still atomic
        pass
    finally:
        os.close(fd)


def _no_room_message(path: Path, e: OSError) -> str:
    what = "no space left" if e.errno in (errno.ENOSPC, errno.EDQUOT) else "the folder cannot be written"
    try:
        in_cache = path.resolve().is_relative_to(cache_dir().resolve())
    except (OSError, ValueError):
        in_cache = False
    fix = (f"free some space there, or set MRL_LAB_CACHE to a writable folder with room (now {cache_dir()})"
           if in_cache else "free some space there, or choose a writable folder with room")  # fmt: skip
    return f"cannot write {path} ({what}: {e.strerror}); {fix}. Files already there are untouched."


@contextmanager
def building(path: Path, what: str):
    """Within the block, this process alone builds the cache entry ``path``: two processes that need it at once
    do not both spend the work. The other one waits, saying so in one line, and should then load the entry.

    A lock file (``filelock``) in the cache's ``locks`` folder marks the builder, so entries' folders hold
    entries only; the operating system releases the lock if the builder dies, so a killed run never
    leaves the others waiting.
    """
    from filelock import FileLock, Timeout

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        locks = cache_dir() / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(locks / f"{path.parent.name}-{path.name}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            print(f"{what}: another process is building {path.name}; waiting for it, then loading it", flush=True)
            lock.acquire()
    except OSError as e:
        if e.errno not in _NO_ROOM:
            raise
        raise CacheWriteError(e.errno, _no_room_message(path, e)) from None
    try:
        yield
    finally:
        lock.release()


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it
    os.umask(mask)
    return mask
