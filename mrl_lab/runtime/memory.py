"""Freeing memory that glibc keeps after tensors die, so a long notebook stays inside Binder's limit."""

from __future__ import annotations

import ctypes
import functools
import gc
import sys


def give_freed_memory_back() -> None:
    """Return the memory that glibc keeps after tensors are freed to the operating system (Linux; elsewhere nothing).

    glibc keeps freed blocks in its heap for reuse, and training frees activations of a few MB at
    every step. Without this, a Jupyter kernel that trains models one after another grows with each
    model, with no tensor left alive, until it no longer fits Binder. ``malloc_trim(0)`` hands that
    memory back. :func:`~mrl_lab.training.model_cache.load_or_train` calls it before and after training, ``pretrained``
    also after encoding.
    (Making glibc return every block at once instead, with a small mmap threshold, slows training
    and encoding.) ``benchmarks/notebook_cost.py`` prints a notebook's peak memory.
    """
    gc.collect()  # a trained model and its optimizer sit in reference cycles: free them first
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _glibc():
    """glibc, loaded once, or None where there is none (macOS, Windows, musl's Linux).

    Loaded by its soname: ``ctypes.util.find_library`` would run ``ldconfig`` in a child process at every
    call, and a child shares the kernel's pages until it execs, so a memory probe that sums the
    kernel's processes would count the kernel twice.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None
