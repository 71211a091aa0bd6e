"""Trained models cached on disk, keyed by everything that decides their weights."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from mrl_lab.runtime.cache import cache_dir, save_atomic
from mrl_lab.runtime.memory import give_freed_memory_back
from mrl_lab.training.distributed import barrier, is_main


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
        fit: trains it in place and returns a :class:`~mrl_lab.training.trainer.TrainLog`.
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
