"""Trained models cached on disk, keyed by everything that decides their weights."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import hashlib
import json
import multiprocessing
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from queue import Empty

import torch
from torch import nn
from tqdm.auto import tqdm

from .cache import cache_dir, save_atomic
from .distributed import barrier, is_main


def config_key(config: dict) -> str:
    """A short, stable hash of a JSON-serialisable configuration.

    Example:
        >>> config_key({"b": 1, "a": [2, 3]}) == config_key({"a": [2, 3], "b": 1})
        True
    """
    return hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def checkpoint_path(config: dict, model: nn.Module, folder=None) -> Path:
    """Where :func:`load_or_train` keeps the model trained with ``config`` (it may not exist yet).

    The key also covers the architecture (the model's ``repr``), so a checkpoint is never loaded
    into a model it does not fit. The config is an experiment's settings table row plus its data's
    fingerprint, so every setting that decides the weights is in the key: nothing to bump by hand.
    """
    if "name" not in config:
        raise ValueError(f"load_or_train: config needs a 'name'; got keys {sorted(config)}")
    folder = Path(folder) if folder is not None else cache_dir() / "models"
    key = config_key(dict(config, architecture=repr(model)))
    return folder / f"{config['name']}-{key}.pt"


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


def load_or_train(
    config: dict,
    build: Callable[[], nn.Module],
    fit: Callable[[nn.Module], object],
    *,
    folder=None,
    retrain: bool = False,
    device=None,
) -> tuple[nn.Module, dict]:
    """Load the model trained with ``config`` from disk, or train it with ``fit`` and save it.

    The file name holds ``config["name"]`` and a hash of the whole ``config`` and the model's
    architecture: change any of them (data size, seed, epochs, sizes...) and it trains anew. Files
    are written atomically and read with ``torch.load(..., weights_only=True)``, which cannot run
    code hidden in a file; a damaged file (truncated, empty, weights that do not fit) is reported,
    deleted and trained again.

    Args:
        config: JSON-serialisable settings that decide the weights; must have a ``"name"``.
        build: makes the untrained model.
        fit: trains it in place and returns a :class:`~mrl_lab.train.TrainLog`.
        folder: where checkpoints live (default ``<cache>/models``).
        retrain: train even if a checkpoint exists (and overwrite it).
        device: where the returned model lives (default: where ``fit`` left it, or the CPU).

    Returns:
        ``(model, meta)``; ``meta`` has ``seconds`` and ``examples_per_s`` of the original training
        run and ``cached`` (whether it was loaded from disk).

    Example:
        >>> import tempfile
        >>> from mrl_lab import train
        >>> x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
        >>> fit = lambda m: train(m, nn.CrossEntropyLoss(), x, y, epochs=1, batch_size=8, progress=False)
        >>> folder = tempfile.mkdtemp()
        >>> _, meta = load_or_train({"name": "probe"}, lambda: nn.Linear(4, 2), fit, folder=folder)
        >>> _, again = load_or_train({"name": "probe"}, lambda: nn.Linear(4, 2), fit, folder=folder)
        >>> meta["cached"], again["cached"], again["seconds"] == meta["seconds"]
        (False, True, True)
    """
    model = build()
    path = checkpoint_path(config, model, folder)
    meta = None
    if path.exists() and not retrain:
        meta = _load(path, model)
        if meta is None:  # damaged (_load warned and deleted it): the model may hold part of its weights
            model = build()
    if meta is not None:
        meta = dict(meta, cached=True)
    else:
        log = fit(model)
        meta = {"seconds": log.seconds, "examples_per_s": log.examples_per_s}
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        if is_main():  # under torchrun every rank holds the same weights; one writes them
            save_atomic(path, lambda f: torch.save({"state_dict": state, "meta": meta, "config": config}, f))
        barrier()  # no rank goes on (and perhaps loads the file) before it is written
        meta = dict(meta, cached=False)
        give_freed_memory_back()  # what the training steps freed (the optimizer's state is gone with fit)
    if device is not None:
        model.to(device)
    model.eval()
    return model, meta


def _load(path: Path, model: nn.Module) -> dict | None:
    """Fill ``model`` from the checkpoint at ``path`` and return its meta, or warn, delete the file
    and return None when it is damaged (truncated, empty, not a checkpoint, weights that do not fit)."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["state_dict"])
        return dict(saved["meta"])
    except Exception as e:  # what a damaged file raises depends on where it is cut
        problem = f"{type(e).__name__}: {e}"
        warnings.warn(f"load_or_train: the cached model {path} is damaged ({problem}); training it again", stacklevel=3)
        path.unlink(missing_ok=True)
        return None


# ----------------------------------------------------------------------------- side by side on a CPU


def train_side_by_side(make_job, names: list[str], processes: int, steps: int, progress: bool = True) -> None:
    """Train the models ``names`` into the cache side by side, each in its own process, on the CPU.

    Small networks keep one core per model busier than two cores on one model (CIFAR on 2 cores:
    1.23x the images per second). ``make_job(name, device=, progress=, report=)`` returns what
    :func:`load_or_train` takes for one model; it runs in the worker, so it must be a module-level
    function or a ``functools.partial`` of one. Each worker gets an equal share of PyTorch's
    threads and reports its progress here, where it is drawn as one bar per model (``steps``
    each). The workers are fresh interpreters ("spawn": safe with threads, Jupyter and macOS), so
    a script must call this under ``if __name__ == "__main__":``. A worker's error is raised here.
    """
    threads = max(1, torch.get_num_threads() // processes)
    context = multiprocessing.get_context("spawn")
    reports = context.Queue()  # the workers' progress
    give_freed_memory_back()  # the workers need memory of their own: hand back what this process no longer uses
    if progress:
        print(f"training {len(names)} models, {processes} at a time in worker processes")
    with ProcessPoolExecutor(processes, context, _start_worker, (reports, threads)) as pool:
        futures = [pool.submit(_train_in_worker, make_job, name) for name in names]
        _follow(futures, reports, names, steps, progress)


_reports = None  # in a worker process: the queue its progress goes to (set by _start_worker)


def _start_worker(reports, threads: int) -> None:
    global _reports
    _reports = reports
    torch.set_num_threads(threads)


def _train_in_worker(make_job, name: str) -> None:
    last = [0.0]

    def report(step, total, line):  # every epoch's line, and the step count at most twice a second
        if line is not None or step == total or time.monotonic() - last[0] > 0.5:
            last[0] = time.monotonic()
            _reports.put((name, step, total, line))

    load_or_train(*make_job(name, device="cpu", progress=False, report=report), retrain=True)  # saves it


def _follow(futures: list, reports, methods: list[str], steps: int, progress: bool) -> None:
    """Draw one progress bar per model from the workers' reports until all are done; re-raise any error."""
    bars = {m: tqdm(total=steps, desc=f"{m} (in a worker)", disable=not progress) for m in methods}
    pending = set(futures)
    while True:
        try:  # wait for a report, at most half a second
            method, step, total, line = reports.get(timeout=0.5)
            bars[method].update(step - bars[method].n)
            if line is not None:
                bars[method].write(line)
        except Empty:
            pending = {f for f in pending if not f.done()}
            if not pending:
                break
    for bar in bars.values():
        bar.close()
    for future in futures:
        future.result()  # re-raises a worker's error here
