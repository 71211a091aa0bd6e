"""Handing freed memory back: it must not start a process (a child shares the kernel's pages until it
execs, so a memory probe that sums a kernel's processes would count the kernel twice)."""

import platform
import subprocess
import sys

from mrl_lab.runtime import memory


def test_giving_memory_back_starts_no_process(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"give_freed_memory_back started a process: {args[:1]}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    memory._glibc.cache_clear()
    memory.give_freed_memory_back()
    memory.give_freed_memory_back()
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert memory._glibc() is not None  # where glibc is, malloc_trim is really called
