"""Argument checks shared by the whole package: each error names the function, the bad value and the fix."""

from __future__ import annotations

import math
import numbers
import reprlib
from collections.abc import Iterable, Mapping

import torch


def check_count(value, name: str, where: str, low: int = 1, high: int | None = None) -> int:
    """``value`` as an int if it is a whole number from ``low`` to ``high``, else an error naming ``where``.

    Example:
        >>> check_count(2.5, "epochs", "train")
        Traceback (most recent call last):
        ...
        ValueError: train: epochs=2.5; it must be a whole number >= 1
    """
    bound = f">= {low}" if high is None else f"in {low}..{high}"
    whole = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not whole or value < low or (high is not None and value > high):
        raise ValueError(f"{where}: {name}={value!r}; it must be a whole number {bound}")
    return int(value)


def check_number(value, name: str, where: str, low=None, high=None, *, open_low=False, open_high=False) -> float:
    """``value`` as a float if it is a finite number from ``low`` to ``high`` (excluded where ``open_``), else an
    error naming ``where``.

    Example:
        >>> check_number(0, "temperature", "InfoNCE", low=0, open_low=True)
        Traceback (most recent call last):
        ...
        ValueError: InfoNCE: temperature must be > 0; got 0
        >>> check_number(float("nan"), "level", "accuracy_interval", 0, 1, open_low=True, open_high=True)
        Traceback (most recent call last):
        ...
        ValueError: accuracy_interval: level must be in (0, 1); got nan
    """
    if low is not None and high is not None:
        bound = f"in {'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
    elif low is not None:
        bound = f"{'>' if open_low else '>='} {low}"
    elif high is not None:
        bound = f"{'<' if open_high else '<='} {high}"
    else:
        bound = "a finite number"
    number = value.item() if isinstance(value, torch.Tensor) and value.numel() == 1 else value
    ok = isinstance(number, numbers.Real) and not isinstance(number, bool) and math.isfinite(number)
    if ok and low is not None:
        ok = number > low if open_low else number >= low
    if ok and high is not None:
        ok = number < high if open_high else number <= high
    if not ok:
        raise ValueError(f"{where}: {name} must be {bound}; got {value!r}")
    return float(number)


def check_callable(fn, name: str, where: str, example: str):
    """``fn`` if it can be called, else an error naming ``where`` with an ``example`` of what to pass.

    Example:
        >>> check_callable(None, "loss", "MatryoshkaLoss", "nn.CrossEntropyLoss()")
        Traceback (most recent call last):
        ...
        TypeError: MatryoshkaLoss: loss=None is not callable; pass a function or module, e.g. nn.CrossEntropyLoss()
    """
    if not callable(fn):
        raise TypeError(
            f"{where}: {name}={reprlib.repr(fn)} is not callable; pass a function or module, e.g. {example}"
        )
    return fn


def check_counts(values, name: str, where: str, low: int = 1, high: int | None = None) -> list[int]:
    """``values`` as a list of ints if it is a non-empty list of whole numbers from ``low`` to ``high`` (in any
    order: layer counts, code sizes, byte budgets), else an error naming ``where``.

    Example:
        >>> check_counts(6, "layers", "layers.Settings")
        Traceback (most recent call last):
        ...
        TypeError: layers.Settings: layers=6 is not a list of whole numbers; pass a list or tuple, e.g. (6,)
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{where}: {name}={values!r} is not a list of whole numbers; pass a list or tuple, "
                        f"e.g. ({values!r},)")  # fmt: skip
    values = list(values)
    if not values:
        raise ValueError(f"{where}: {name} is empty; pass at least one whole number")
    return [check_count(v, f"each of {name}", where, low, high) for v in values]


def check_choice(value, choices, name: str, where: str):
    """``value`` if it is one of ``choices`` (a method, a precision, a name), else an error listing them.

    Example:
        >>> check_choice("int4", ["float32", "int8", "binary"], "precision", "stored_search")
        Traceback (most recent call last):
        ...
        ValueError: stored_search: precision='int4'; choose one of ['float32', 'int8', 'binary']
    """
    if value not in list(choices):
        raise ValueError(f"{where}: {name}={value!r}; choose one of {list(choices)}")
    return value


def check_keys(mapping, keys, name: str, where: str, fix: str):
    """``mapping`` if it is a dict holding each of ``keys`` (the text sets of an evaluation, a model's vectors),
    else an error naming ``where``, what is missing and the ``fix``.

    Example:
        >>> check_keys({"titles": 1}, ["titles", "sts1"], "full", "csr.evaluate", "embed pretrained.eval_texts(data)")
        Traceback (most recent call last):
        ...
        ValueError: csr.evaluate: full lacks ['sts1'] (it has ['titles']); embed pretrained.eval_texts(data)
    """
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{where}: {name} is a {type(mapping).__name__}, not a dict with {list(keys)}; {fix}")
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise ValueError(f"{where}: {name} lacks {missing} (it has {list(mapping)}); {fix}")
    return mapping


def _kind(cls) -> str:
    """A class's name as a learner writes it: ``text.Settings`` for the lab's classes, else the bare name."""
    module = cls.__module__
    return f"{module.rpartition('.')[2]}.{cls.__qualname__}" if module.startswith("mrl_lab.") else cls.__qualname__


def check_instance(value, kind, name: str, where: str, fix: str):
    """``value`` if it is a ``kind`` (a class), else an error naming ``where``, what it got and the ``fix``.

    Example:
        >>> check_instance({}, torch.nn.Module, "start", "adaptor.fit", "pass the adaptor that fit returned")
        Traceback (most recent call last):
        ...
        TypeError: adaptor.fit: start has type dict, not Module; pass the adaptor that fit returned
    """
    if not isinstance(value, kind):
        raise TypeError(f"{where}: {name} has type {_kind(type(value))}, not {_kind(kind)}; {fix}")
    return value


def check_has(value, attrs, name: str, where: str, fix: str):
    """``value`` if it has each of ``attrs`` (a data object: AG News, STS-B pairs, a test split), else an error
    naming ``where``, what it got, what it lacks and the ``fix``.

    Example:
        >>> check_has([], ["train", "test"], "news", "text.load_data", "pass load_ag_news()")
        Traceback (most recent call last):
        ...
        TypeError: text.load_data: news has type list, which has no train, test; pass load_ag_news()
    """
    missing = [a for a in attrs if not hasattr(value, a)]
    if missing:
        raise TypeError(f"{where}: {name} has type {_kind(type(value))}, which has no {', '.join(missing)}; {fix}")
    return value


def check_trained(models, kind, name: str, where: str, fix: str) -> dict:
    """``models`` if it is ``{method: (model, meta)}`` with each model a ``kind`` (what an experiment's ``train_all``
    returns), else an error naming ``where``, the method, what it got and the ``fix``.

    Example:
        >>> check_trained({"MRL": torch.nn.Linear(2, 2)}, torch.nn.Linear, "models", "embed_all", "pass train_all's")
        Traceback (most recent call last):
        ...
        TypeError: embed_all: models['MRL'] has type Linear, not a (model, meta) pair; pass train_all's
    """
    if not isinstance(models, Mapping):
        raise TypeError(f"{where}: {name} has type {_kind(type(models))}, not {{method: (model, meta)}}; {fix}")
    for method, pair in models.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"{where}: {name}[{method!r}] has type {_kind(type(pair))}, not a (model, meta) pair; "
                            f"{fix}")  # fmt: skip
        check_instance(pair[0], kind, f"{name}[{method!r}]'s model", where, fix)
    return models


def check_settings(settings, kind, where: str):
    """``settings`` if it is ``kind``, an experiment's ``Settings`` class, else an error naming ``where`` and how to
    get them: each experiment reads only its own settings table.

    Example:
        >>> from mrl_lab.experiments import csr, text
        >>> check_settings(text.settings("smoke"), csr.Settings, "csr.train")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        TypeError: csr.train: settings has type text.Settings, not csr.Settings; pass csr.settings(budget), e.g. ...
    """
    module = kind.__module__.rpartition(".")[2]
    return check_instance(settings, kind, "settings", where, f"pass {module}.settings(budget), e.g. "
                                                              f"{module}.settings('smoke')")  # fmt: skip


def check_texts(texts, where: str, what: str = "text") -> list[str]:
    """``texts`` as a list if it is a non-empty list of strings (texts, method names), else an error naming ``where``.

    Example:
        >>> check_texts("a title", "embed")
        Traceback (most recent call last):
        ...
        TypeError: embed takes a list of texts; wrap a single text in a list: ['a title']
    """
    if isinstance(texts, str):
        raise TypeError(f"{where} takes a list of {what}s; wrap a single {what} in a list: [{texts!r}]")
    if not isinstance(texts, Iterable):
        raise TypeError(f"{where} takes a list of {what}s (each a str); got {type(texts).__name__}")
    texts = list(texts)
    if not texts:
        raise ValueError(f"{where}: the list of {what}s is empty")
    bad = next((t for t in texts if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(f"{where}: every {what} must be a str; got {type(bad).__name__} {bad!r}")
    return texts


def check_fitted(state, where: str, fix: str):
    """``state`` (what ``fit`` sets) if it is there, else an error naming ``where`` and how to fit first.

    Example:
        >>> check_fitted(None, "PCA.transform", "call PCA().fit(train_embeddings) first")
        Traceback (most recent call last):
        ...
        ValueError: PCA.transform: not fitted yet; call PCA().fit(train_embeddings) first
    """
    if state is None:
        raise ValueError(f"{where}: not fitted yet; {fix}")
    return state


def check_dims(dims, full_dim: int | None = None, *, where: str = "dims") -> list[int]:
    """Validate a nesting list and return it as a list of ints.

    Sizes must be positive ints, strictly increasing, and (when ``full_dim`` is given) no wider
    than the embedding. Every error names the bad value and says how to fix it.

    Args:
        dims: the nesting sizes, e.g. ``[8, 16, 32]``.
        full_dim: the embedding width the sizes must fit in, if known.
        where: the caller's name, put at the start of error messages.

    Example:
        >>> check_dims([8, 16, 32], full_dim=32)
        [8, 16, 32]
    """
    try:
        dims = list(dims)
    except TypeError:
        raise TypeError(f"{where}: nesting sizes must be a list of ints; got {dims!r}") from None
    if not dims:
        raise ValueError(f"{where}: nesting sizes are empty; pass at least one, e.g. [8, 16, 32]")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int):
            raise TypeError(f"{where}: nesting sizes must be ints; got {d!r} in {dims}")
        if d <= 0:
            raise ValueError(f"{where}: nesting sizes must be >= 1; got {d} in {dims}")
    for a, b in zip(dims, dims[1:]):
        if a == b:
            raise ValueError(f"{where}: nesting size {a} is repeated in {dims}; list each size once")
        if a > b:
            raise ValueError(
                f"{where}: nesting sizes must increase; got {dims} ({a} before {b}) "
                f"- pass them sorted, e.g. {sorted(set(dims))}"
            )
    if full_dim is not None and dims[-1] > full_dim:
        raise ValueError(
            f"{where}: nesting size {dims[-1]} is wider than the embedding ({full_dim} features); "
            f"use sizes <= {full_dim}"
        )
    return dims


def check_tensor(x, name: str, shape=None, *, integers: bool = False) -> torch.Tensor:
    """Raise a clear error unless ``x`` is a non-empty tensor of ``shape``; return it.

    ``shape`` names each axis (a str) or fixes its size (an int), e.g. ``("batch", 3, "H", "W")``; None
    allows any. With ``integers`` it must hold whole numbers (row indices, token ids).

    Example:
        >>> check_tensor(torch.zeros(3, 8), "MRLHead: z", ("batch", 16))
        Traceback (most recent call last):
        ...
        ValueError: MRLHead: z must have shape (batch, 16); got shape (3, 8)
    """
    want = None if shape is None else "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
    if not isinstance(x, torch.Tensor):
        of = f" of shape {want}" if want else ""
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}. Pass one{of} "
                        "(torch.as_tensor converts a list or a NumPy array)")  # fmt: skip

    def fits(axes, sizes):
        return len(axes) == len(sizes) and all(isinstance(a, str) or a == n for a, n in zip(axes, sizes))

    if shape is not None and not fits(shape, x.shape):
        one = fits(shape[1:], x.shape)  # a single example, without the batch axis
        hint = " (a single one needs a batch axis in front: x[None])" if one else ""
        raise ValueError(f"{name} must have shape {want}; got shape {tuple(x.shape)}{hint}")
    if x.numel() == 0:
        raise ValueError(f"{name} are empty (shape {tuple(x.shape)}); pass at least one row of at least one number")
    if integers and (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool):
        raise TypeError(f"{name} must hold whole numbers (row indices or ids); got dtype {x.dtype}. Convert: .long()")
    return x


def check_embeddings(x: torch.Tensor, name: str = "embeddings", dim: int | None = None) -> torch.Tensor:
    """Raise a clear error unless ``x`` is a non-empty 2-D tensor of finite numbers (``dim`` wide, if given); return it.

    Example:
        >>> check_embeddings(torch.tensor([[float("nan"), 1.0]]), "queries")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: queries contain 1 NaN/inf value(s) (first at row 0); fix the model or drop those rows ...
    """
    check_tensor(x, name, ("N", "dim" if dim is None else dim))
    bad = ~torch.isfinite(x)
    if bad.any():
        row = int(bad.any(dim=1).nonzero()[0])
        raise ValueError(
            f"{name} contain {int(bad.sum())} NaN/inf value(s) (first at row {row}); "
            "fix the model or drop those rows before measuring"
        )
    return x


def check_indices(x, n: int, name: str, what: str) -> torch.Tensor:
    """``x`` as an int64 tensor if each of its values indexes one of ``n`` things (``0..n-1``: ``what``); else an error.

    Example:
        >>> check_indices(torch.tensor([0, 7]), 5, "target_ranks: targets", "database rows")
        Traceback (most recent call last):
        ...
        ValueError: target_ranks: targets must index database rows 0..4; got 0..7
    """
    try:
        x = torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{name} must be whole numbers indexing {what}; got {type(x).__name__}") from None
    if x.numel() == 0:
        return x.long()
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name} must be whole numbers indexing {what}; got dtype {x.dtype}. Convert: .long()")
    low, high = int(x.min()), int(x.max())
    if low < 0 or high >= n:
        raise ValueError(f"{name} must index {what} 0..{n - 1}; got {low}..{high}")
    return x.long()


def check_labels(labels, rows: int, name: str, where: str, classes: int | None = None) -> torch.Tensor:
    """Raise a clear error unless ``labels`` is a 1-D tensor with one entry per row (``rows``), each a class in
    ``0..classes-1`` when ``classes`` is given; return it.

    Example:
        >>> check_labels(torch.tensor([0, 1]), 3, "test_y", "knn_accuracy")
        Traceback (most recent call last):
        ...
        ValueError: knn_accuracy: test_y has shape (2,); it needs one entry per row: shape (3,)
    """
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{where}: {name} is a {type(labels).__name__}; pass a tensor with one entry per row, shape "
                        f"({rows},) (torch.as_tensor converts a list)")  # fmt: skip
    shape = tuple(labels.shape)
    if labels.ndim != 1 or len(labels) != rows:
        raise ValueError(f"{where}: {name} has shape {shape}; it needs one entry per row: shape ({rows},)")
    if classes is not None:
        check_indices(labels, classes, f"{where}: {name}", "classes")
    return labels


def check_items(where: str, minimum: int = 1, **results) -> list[torch.Tensor]:
    """Each of ``results`` as a tensor, if all are 1-D per-item results of the same ``minimum`` or more items
    (a method's right/wrong answers, one similarity per pair); else an error naming ``where`` and the shapes.

    Example:
        >>> check_items("lead", items=[True, False], baseline=[True])
        Traceback (most recent call last):
        ...
        ValueError: lead: items, baseline have shapes [(2,), (1,)]; pass 1-D results of the same items, one per item
    """
    tensors = []
    for name, x in results.items():
        try:
            tensors.append(torch.as_tensor(x))
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"{where}: {name} must be one number or bool per item; got {reprlib.repr(x)}") from None
    shapes = [tuple(t.shape) for t in tensors]
    if len(set(shapes)) != 1 or len(shapes[0]) != 1:
        raise ValueError(f"{where}: {', '.join(results)} have shapes {shapes}; pass 1-D results of the same "
                         "items, one per item")  # fmt: skip
    if shapes[0][0] < minimum:
        raise ValueError(f"{where}: {', '.join(results)} hold {shapes[0][0]} item(s); pass at least {minimum}")
    for name, t in zip(results, tensors):
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ValueError(f"{where}: {name} holds NaN/inf at item {int((~torch.isfinite(t)).nonzero()[0])}; "
                             "fix or drop that item in every result")  # fmt: skip
    return tensors


def check_records(rows, name: str, keys, where: str, fix: str) -> list[dict]:
    """``rows`` as a list if it is a non-empty list of dicts that each have ``keys``; else an error naming ``where``.

    Example:
        >>> check_records([], "rows", ["recall"], "best_at", "pass serving_table's rows")
        Traceback (most recent call last):
        ...
        ValueError: best_at: rows=[] is empty; pass serving_table's rows
    """
    if not isinstance(rows, (list, tuple)):
        raise TypeError(f"{where}: {name}={reprlib.repr(rows)} is not a list of dicts; {fix}")
    if not rows:
        raise ValueError(f"{where}: {name}={reprlib.repr(rows)} is empty; {fix}")
    for i, r in enumerate(rows):
        missing = [k for k in keys if not isinstance(r, dict) or k not in r]
        if missing:
            raise ValueError(f"{where}: {name}[{i}]={reprlib.repr(r)} has no {', '.join(missing)}; {fix}")
    return list(rows)


def check_table(table, columns, where: str, fix: str):
    """``table`` if it is a table (a pandas DataFrame) with ``columns``; else an error naming ``where`` and ``fix``.

    Example:
        >>> check_table([1, 2], ["metric"], "kept_table", "pass the check's table")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        TypeError: kept_table: expected a table (a pandas DataFrame) with columns ['metric']; got list; pass ...
    """
    if not hasattr(table, "columns") or not hasattr(table, "loc"):
        raise TypeError(f"{where}: expected a table (a pandas DataFrame) with columns {list(columns)}; got "
                        f"{type(table).__name__}; {fix}")  # fmt: skip
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{where}: the table has no column {', '.join(map(repr, missing))} (it has "
                         f"{list(table.columns)}); {fix}")  # fmt: skip
    return table


def rows_where(table, column: str, value, where: str):
    """The rows of ``table`` whose ``column`` is ``value``; an error naming ``where`` and the values there are, if none.

    Example:
        >>> import pandas as pd
        >>> rows_where(pd.DataFrame({"metric": ["acc"]}), "metric", "recall@10", "kept_table")
        Traceback (most recent call last):
        ...
        ValueError: kept_table: no rows with metric='recall@10'; the table has metric ['acc']
    """
    chosen = table[table[column] == value]
    if chosen.empty:
        raise ValueError(
            f"{where}: no rows with {column}={value!r}; the table has {column} {sorted(set(table[column]))}"
        )
    return chosen
