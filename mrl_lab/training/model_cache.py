"""Trained models cached on disk, keyed by everything that decides their weights: an experiment's
settings, the method and the data's fingerprint."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn

from mrl_lab.runtime.cache import building, cache_dir, load_cached, save_atomic
from mrl_lab.runtime.memory import give_freed_memory_back
from mrl_lab.training.distributed import barrier, is_main, rank_and_world


def config_key(config: dict) -> str:
    """A short, stable hash of a JSON-serialisable configuration.

    Example:
        >>> config_key({"b": 1, "a": [2, 3]}) == config_key({"a": [2, 3], "b": 1})
        True
    """
    return hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def settings_key(settings) -> dict:
    """The fields of an experiment's settings (a dataclass) that decide its weights, for the cache key:
    all of them but those declared with ``field(metadata={"key": False})`` (e.g. which per-size models exist).

    Example:
        >>> from dataclasses import dataclass, field
        >>> @dataclass(frozen=True)
        ... class Demo:
        ...     epochs: int = 2
        ...     per_size: tuple = field(default=(8,), metadata={"key": False})
        >>> settings_key(Demo())
        {'epochs': 2}
    """
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.metadata.get("key", True)}


def checkpoint_path(key: dict, model: nn.Module, folder=None) -> Path:
    """Where the model trained with ``key`` is kept (it may not exist yet).

    The file name holds ``key["name"]`` and a hash of the whole key and of the model's
    architecture (its ``repr``), so a checkpoint is never loaded into a model it does not fit. An
    experiment's key is its settings (:func:`settings_key`), the method and the data's
    fingerprint: change any of them and the model trains anew, with nothing to bump by hand.
    """
    if "name" not in key:
        raise ValueError(f"checkpoint_path: the key needs a 'name'; got keys {sorted(key)}")
    folder = Path(folder) if folder is not None else cache_dir() / "models"
    return folder / f"{key['name']}-{config_key(dict(key, architecture=repr(model)))}.pt"


def load(key: dict, model: nn.Module, folder=None) -> dict | None:
    """Fill ``model`` with the weights cached under ``key`` and return their training record (``seconds``,
    ``examples_per_s``, ``cached=True``); None when there are none, or when the file was damaged
    (reported in one line, deleted: see :func:`~mrl_lab.runtime.cache.load_cached`).

    Checkpoints are read with ``torch.load(..., weights_only=True)``, which cannot run code hidden
    in a file, and their weights are checked against the model before any is copied into it.

    Example:
        >>> import tempfile
        >>> from mrl_lab import train
        >>> from mrl_lab.training.trainer import TrainSettings
        >>> x, y, folder = torch.randn(32, 4), torch.randint(0, 2, (32,)), tempfile.mkdtemp()
        >>> model, key = nn.Linear(4, 2), {"name": "probe", "epochs": 1}
        >>> load(key, model, folder) is None
        True
        >>> log = train(model, nn.CrossEntropyLoss(), x, y, TrainSettings(epochs=1, batch_size=8), progress=None)
        >>> saved = save(key, model, log, folder)
        >>> again = load(key, nn.Linear(4, 2), folder)
        >>> saved["cached"], again["cached"], again["seconds"] == saved["seconds"]
        (False, True, True)
    """
    saved = load_cached(checkpoint_path(key, model, folder), lambda p: _read(p, model), "model cache")
    if saved is None:
        return None
    model.load_state_dict(saved["state_dict"])
    return dict(saved["meta"], cached=True)


def save(key: dict, model: nn.Module, log, folder=None) -> dict:
    """Cache ``model``'s weights under ``key`` with its training record (from the trainer's ``log``); return the record.

    The file is written atomically (:func:`~mrl_lab.runtime.cache.save_atomic`); under torchrun
    every process holds the same weights, so only the first writes them, and none goes on before
    the file is there.
    """
    meta = {"seconds": log.seconds, "examples_per_s": log.examples_per_s}
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if is_main():
        path = checkpoint_path(key, model, folder)
        save_atomic(path, lambda f: torch.save({"state_dict": state, "meta": meta, "config": key}, f))
    barrier()
    give_freed_memory_back()  # what the training steps freed
    return dict(meta, cached=False)


def load_or_train(key: dict, model: nn.Module, fit, retrain: bool = False, folder=None) -> dict:
    """``model`` filled from the cache under ``key``, or trained by ``fit()`` (which returns the trainer's log)
    and cached; returns the training record, as :func:`load` and :func:`save` do.

    Two processes that need the same model at once train it once: the first trains under a lock
    (:func:`~mrl_lab.runtime.cache.building`), the other waits, saying so, then loads what it saved.
    A run interrupted while training (Ctrl-C, a kernel interrupt) caches nothing, so the next one
    trains afresh. Under torchrun every process trains together, so none takes the lock.
    """
    if not retrain and (meta := load(key, model, folder)) is not None:
        return meta
    together = rank_and_world()[1] > 1
    with nullcontext() if together else building(checkpoint_path(key, model, folder), "model cache"):
        if not retrain and not together and (meta := load(key, model, folder)) is not None:
            return meta  # another process trained it while this one waited
        give_freed_memory_back()  # what earlier steps freed (encoding, evaluating): training needs the room
        return save(key, model, fit(), folder)


def _read(path: Path, model: nn.Module) -> dict | None:
    """The checkpoint at ``path`` if its weights fit ``model`` (the same names and shapes), else None."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    mine = model.state_dict()
    weights = saved["state_dict"]
    fits = weights.keys() == mine.keys() and all(weights[k].shape == v.shape for k, v in mine.items())
    return saved if fits and "meta" in saved else None
