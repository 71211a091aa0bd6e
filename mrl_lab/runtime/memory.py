"""Freeing memory that glibc keeps after tensors die, so a long notebook stays inside Binder's limit."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys


def give_freed_memory_back() -> None:
    """Return the memory that glibc keeps after tensors are freed to the operating system (Linux; elsewhere nothing).

    glibc keeps freed blocks in its heap for reuse, and training frees activations of a few MB at
    every step. Without this, a Jupyter kernel that trained 04's text variants one after another
    grew by ~0.35 GB per model (0.42, 0.72, 1.13, 1.51 GB after four, with no tensor left alive),
    and one fine-tune of all-MiniLM-L6-v2 left 0.7 GB behind: too much for Binder. ``malloc_trim(0)``
    hands it back (0.36 GB after each of the four). :func:`load_or_train` calls it after training,
    ``pretrained`` also after encoding. (Making glibc return every block at once instead, with a
    1 MB mmap threshold, cost 20-30 % of training and encoding speed.)
    """
    gc.collect()  # a trained model and its optimizer sit in reference cycles: free them first
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc: nothing to give back
            pass
