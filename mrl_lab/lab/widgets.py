"""ipywidgets dashboards for the notebooks. The only module that imports Jupyter."""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as widgets
import torch
from IPython.display import display

from mrl_lab.core.checks import check_callable, check_count, check_dims
from mrl_lab.core.nesting import nesting_dims, truncate
from mrl_lab.evaluation.quantize import PRECISIONS, storage_bytes
from mrl_lab.evaluation.search import search
from mrl_lab.lab.plots import _check_curves, plot_vs_size

TOP_K = 5  # neighbours shown by neighbour_dashboard, results per method by search_dashboard


def _redraw(chart: widgets.Output, curves, metric: str, d: int) -> None:
    """Replace the chart in ``chart`` by ``curves`` with a dotted line at size ``d``."""
    with chart:
        chart.clear_output(wait=True)
        display(plot_vs_size(curves, metric=metric, highlight=d, title=f"{metric} vs size (dotted line: d = {d})"))


def _check_start(start: int, sizes: list[int], where: str) -> int:
    """``start`` if the slider offers it; else an error (a slider would silently show another size)."""
    if start not in sizes:
        raise ValueError(f"{where}: start={start!r} is not one of the sizes {sizes}; pick one of them")
    return start


def truncation_dashboard(
    curves: dict[str, dict[int, float]],
    evaluate: Callable[[int], dict[str, float]],
    full_dim: int,
    metric: str = "accuracy",
    start: int | None = None,
) -> widgets.VBox:
    """A size slider that cuts every model's vectors to ``d`` dims, measures them live and marks
    ``d`` on the chart of ``curves``.

    Args:
        curves: ``{method: {size: score}}`` measured beforehand, drawn as lines.
        evaluate: ``evaluate(d) -> {method: score}``, run on every slider move (keep it fast).
        full_dim: the full embedding width (the slider's maximum).
        metric: what the scores are.
        start: the slider's first value (default: the smallest size in ``curves``).

    Returns:
        The dashboard; its ``slider`` and ``readout`` attributes let code (and tests) drive and read it.

    Example (in a notebook; ``tests/test_widgets.py`` drives it the same way):
        >>> curves = {"MRL": {8: 0.5, 16: 0.6}}
        >>> board = truncation_dashboard(curves, lambda d: {"MRL": d / 16}, full_dim=16)  # doctest: +SKIP
        >>> board.slider.value = 4  # doctest: +SKIP
        >>> "25.0%" in board.readout.value  # doctest: +SKIP
        True
    """
    full_dim = check_count(full_dim, "full_dim", "truncation_dashboard")
    _check_curves(curves, "truncation_dashboard")
    check_callable(evaluate, "evaluate", "truncation_dashboard", "lambda d: {'MRL': knn_accuracy(...)}")
    sizes = check_dims(sorted({d for curve in curves.values() for d in curve}), full_dim, where="truncation_dashboard")
    start = sizes[0] if start is None else check_count(start, "start", "truncation_dashboard", high=full_dim)
    slider = widgets.IntSlider(
        value=start,
        min=1,
        max=full_dim,
        description="size d",
        continuous_update=False,
        style={"description_width": "initial"},
        layout=widgets.Layout(width="60%"),
    )
    readout, chart = widgets.HTML(), widgets.Output()
    full = evaluate(full_dim)
    if not isinstance(full, dict):
        raise TypeError(
            f"truncation_dashboard: evaluate({full_dim}) returned {full!r}; it must return {{method: score}}"
        )

    def update(change=None):
        d = slider.value
        scores = evaluate(d)
        rows = ""
        for name, score in scores.items():
            kept = f"{score / full[name]:.0%} of its full-width {metric}" if full.get(name) else ""
            rows += f"<tr><td>{html.escape(name)}</td><td><b>{score:.1%}</b></td><td>{html.escape(kept)}</td></tr>"
        readout.value = (
            f"<p>Cut to the first <b>{d}</b> of {full_dim} dims: {storage_bytes(1, d, 'float32')} bytes per float32 "
            f"vector instead of {storage_bytes(1, full_dim, 'float32')} ({d / full_dim:.1%}).</p><table>{rows}</table>"
        )
        _redraw(chart, curves, metric, d)

    slider.observe(update, names="value")
    update()
    board = widgets.VBox([slider, readout, chart])
    board.slider, board.readout = slider, readout
    return board


def _image_uri(image) -> str:
    """A uint8 ``(3, H, W)`` image tensor as a PNG data URI."""
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _thumb(image, label: str, wrong: bool = False) -> str:
    border = "3px solid #d62728" if wrong else "3px solid transparent"
    mark = " &#10007;" if wrong else ""
    return (
        f'<div style="display:inline-block;text-align:center;margin:2px;font-size:11px">'
        f'<img src="{_image_uri(image)}" width="56" height="56" style="image-rendering:pixelated;border:{border}"><br>'
        f"{html.escape(label)}{mark}</div>"
    )


def _neighbour_controls(test_set, sizes: list[int], start: int, n_queries: int):
    """The size slider, the test-image menu and its previous / next buttons (already wired to the menu)."""
    classes = test_set.classes
    size = widgets.SelectionSlider(options=sizes, value=start, description="size d")
    image = widgets.Dropdown(
        options=[(f"test #{i}: {classes[int(test_set.labels[i])]}", i) for i in range(min(n_queries, len(test_set)))],
        description="test image",
    )
    previous, following = widgets.Button(description="◀ previous"), widgets.Button(description="next ▶")

    def step(delta):
        image.value = (image.value + delta) % len(image.options)

    previous.on_click(lambda _: step(-1))
    following.on_click(lambda _: step(1))
    return size, image, previous, following


def _accuracy_html(curves: dict[str, dict[int, float]], metric: str, d: int) -> str:
    """Each method's score at size ``d`` (``-`` where its curve has none)."""
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td><b>{curve[d]:.1%}</b></td></tr>"
        if d in curve
        else f"<tr><td>{html.escape(name)}</td><td>-</td></tr>"
        for name, curve in curves.items()
    )
    return f"<b>{html.escape(metric)} at d = {d}</b><table>{rows}</table>"


def _storage_html(d: int) -> str:
    """What one vector of ``d`` dims costs at each precision, and a million float32 ones."""
    one, million = {p: storage_bytes(1, d, p) for p in PRECISIONS}, storage_bytes(10**6, d, "float32") / 1e6
    return (
        f"<b>Storage at d = {d}</b>: {one['float32']} bytes per float32 vector, {one['float16']} as float16, "
        f"{one['int8']} as int8, {one['binary']} as binary; one million float32 vectors: {million:,.0f} MB."
    )


def _gallery_html(vectors: Callable, methods: list[str], train_set, test_set, d: int, i: int) -> str:
    """Test image ``i`` and, per method, its top-``TOP_K`` training images at size ``d`` (wrong classes marked)."""
    classes, truth = test_set.classes, int(test_set.labels[i])
    page = f"<div>{_thumb(test_set.images[i], 'query: ' + classes[truth])}</div><table>"
    for name in methods:
        v = vectors(name, d)
        if v is None:
            page += f"<tr><td>{html.escape(name)}</td><td><i>no model of size {d} at this budget</i></td></tr>"
            continue
        found = search(v["test"][i : i + 1], v["train"], TOP_K)[0].tolist()
        thumbs = "".join(
            _thumb(train_set.images[j], classes[int(train_set.labels[j])], int(train_set.labels[j]) != truth)
            for j in found
        )
        page += f"<tr><td style='padding-right:8px'>{html.escape(name)}</td><td>{thumbs}</td></tr>"
    return page + "</table>"


def neighbour_dashboard(
    curves: dict[str, dict[int, float]],
    vectors: Callable,
    train_set,
    test_set,
    sizes: list[int],
    metric: str = "1-NN accuracy",
    start: int = 8,
    n_queries: int = 50,
) -> widgets.VBox:
    """Pick a size and a test image; see each method's accuracy at that size, the image's top-5
    (``TOP_K``) neighbours under each method (wrong-class neighbours marked in red), and the storage cost.

    Args:
        curves: ``{method: {size: score}}``, drawn as a chart and read at the chosen size; its
            methods, in order, are the gallery's rows.
        vectors: ``vectors(method, d) -> {"train": ..., "test": ...} or None``: a method's vectors
            at size ``d`` (``None`` where it has none of that size), e.g. ``cifar.embed_all(...).at``.
        train_set, test_set: :class:`~mrl_lab.data.images.ImageData`; neighbours come from ``train_set``.
        sizes: the sizes the slider offers; metric: what the scores are.
        start: the first size shown; n_queries: test images offered.

    Returns:
        The dashboard, with ``size``, ``image``, ``accuracy``, ``gallery`` and ``storage``
        attributes to drive and read it from code.

    Example (in a notebook):
        >>> vectors = results["vectors"]  # doctest: +SKIP
        >>> board = neighbour_dashboard(curves, vectors, train_set, test_set, sizes=[8, 16])  # doctest: +SKIP
        >>> board.size.value = 16  # doctest: +SKIP
    """
    where = "neighbour_dashboard"
    sizes = check_dims(sizes, where=where)
    start = _check_start(start, sizes, where)
    _check_curves(curves, where)
    check_callable(vectors, "vectors", where, "cifar.embed_all(...).at")
    check_count(n_queries, "n_queries", where)
    if len(test_set) == 0:
        raise ValueError(f"{where}: test_set is empty; pass the test ImageData whose images are the queries")
    size, image, previous, following = _neighbour_controls(test_set, sizes, start, n_queries)
    accuracy, gallery, storage, chart = widgets.HTML(), widgets.HTML(), widgets.HTML(), widgets.Output()

    def update_gallery(change=None):
        gallery.value = _gallery_html(vectors, list(curves), train_set, test_set, size.value, image.value)

    def update_size(change=None):
        accuracy.value, storage.value = _accuracy_html(curves, metric, size.value), _storage_html(size.value)
        _redraw(chart, curves, metric, size.value)
        update_gallery()

    size.observe(update_size, names="value")
    image.observe(update_gallery, names="value")
    update_size()
    board = widgets.VBox(
        [size, widgets.HBox([image, previous, following]), widgets.HBox([accuracy, storage]), gallery, chart]
    )
    board.size, board.image, board.accuracy, board.gallery, board.storage = size, image, accuracy, gallery, storage
    return board


def _check_search_inputs(encoders: dict, corpus: dict, titles: list[str], labels: list[str], full_dim: int) -> None:
    """An error unless the methods agree and each corpus is ``(N, >= full_dim)``, one row per title and label."""
    where = "search_dashboard"
    if not corpus or set(encoders) != set(corpus):
        raise ValueError(f"{where}: encoders and corpus need the same methods; got {list(encoders)} and {list(corpus)}")
    if isinstance(titles, str) or isinstance(labels, str):
        raise TypeError(f"{where}: titles and labels must be lists, one str per corpus row; got a str")
    for method, z in corpus.items():
        if not isinstance(z, torch.Tensor) or z.ndim != 2:
            raise TypeError(f"{where}: corpus[{method!r}] must be an (N, D) tensor of full-width vectors")
        if not len(z) == len(titles) == len(labels):
            raise ValueError(
                f"{where}: corpus[{method!r}] has {len(z)} rows; there are {len(titles)} titles, {len(labels)} labels"
            )
        if z.shape[1] < full_dim:
            raise ValueError(f"{where}: corpus[{method!r}] has {z.shape[1]} dims, fewer than full_dim={full_dim}")
        if len(z) < TOP_K:
            raise ValueError(f"{where}: corpus[{method!r}] has {len(z)} rows; it needs at least {TOP_K} (TOP_K, the "
                             "results shown per method)")  # fmt: skip


def _ranker(encoders: dict[str, Callable], corpus: dict[str, torch.Tensor]) -> Callable:
    """``top(method, text, d)``: the rows of ``corpus[method]`` nearest the query ``text``, both cut to ``d``.

    Each query is encoded once at full width and each corpus cut once per size; both are then cut
    with :func:`~mrl_lab.core.nesting.truncate`, so every method is "a vector you cut".
    """
    queries: dict = {}
    cut: dict = {}

    def top(method: str, text: str, d: int) -> list[int]:
        if (method, text) not in queries:
            queries[(method, text)] = encoders[method](text)
        if (method, d) not in cut:
            cut[(method, d)] = truncate(corpus[method], d)
        return search(truncate(queries[(method, text)], d), cut[(method, d)], TOP_K)[0].tolist()

    return top


def _results_html(columns: dict[str, tuple[list[int], set[int]]], titles: list[str], labels: list[str], d: int) -> str:
    """One column per method: its results at ``d``, green where they are in its full-width ``reference``."""
    k, cells = TOP_K, ""
    for method, (found, reference) in columns.items():
        shared = sum(j in reference for j in found)
        items = "".join(
            f"<li style='background:{'#d4edda' if j in reference else 'transparent'}'>"
            f"{html.escape(titles[j])} <i>({html.escape(labels[j])})</i></li>"
            for j in found
        )
        cells += (
            f"<td style='vertical-align:top;width:{100 // len(columns)}%;padding:4px'>"
            f"<b>{html.escape(method)}</b> at d = {d}: "
            f"<b>{shared}/{k}</b> of its full-width top-{k}<ol>{items}</ol></td>"
        )
    return f"<table style='width:100%'><tr>{cells}</tr></table>"


def search_dashboard(
    encoders: dict[str, Callable[[str], torch.Tensor]],
    corpus: dict[str, torch.Tensor],
    titles: list[str],
    labels: list[str],
    full_dim: int,
    query: str = "oil prices climb as supply fears grow",
    start: int = 32,
    sizes: list[int] | None = None,
) -> widgets.VBox:
    """Type a query, pick a size: each method's top-5 (``TOP_K``) results at that size, side by side.

    Every method is a full-width vector cut to the slider's size: the query's and the corpus's
    vectors are both cut to ``d`` (and re-normalised) with :func:`~mrl_lab.core.nesting.truncate`.
    Results that are also in the same method's full-width top-5 are highlighted in green, and
    the overlap (how many of the full-width results survive the cut) is shown above each column.

    Args:
        encoders: ``{method: fn(query text) -> (1, D) full-width query vector}``; for PCA, the
            query rotated onto all components (cut to ``d`` it ranks as the first ``d`` components do).
        corpus: ``{method: (N, D) full-width corpus vectors}``, the same methods.
        titles, labels: what to show for each corpus row (e.g. headline and topic).
        full_dim: the width the green "full-width" results use (at most the narrowest corpus
            width); start: the first size.
        sizes: the sizes the slider offers (default: halving from ``full_dim`` down to 1).

    Returns:
        The dashboard, with ``text``, ``size`` and ``results`` attributes to drive and read it.

    Example (in a notebook):
        >>> encoders = {"MRL": lambda q: model.encode([q], convert_to_tensor=True).cpu()}  # doctest: +SKIP
        >>> board = search_dashboard(encoders, {"MRL": corpus_z}, titles, labels, full_dim=256)  # doctest: +SKIP
        >>> board.size.value = 8  # doctest: +SKIP
    """
    if sizes is None:
        sizes = nesting_dims(full_dim, smallest=1)  # 1, 2, 4, ..., full_dim
    sizes = check_dims(sizes, full_dim, where="search_dashboard")  # an empty list is an error, not the default
    start = _check_start(start, sizes, "search_dashboard")
    _check_search_inputs(encoders, corpus, titles, labels, full_dim)
    text = widgets.Text(value=query, description="query", layout=widgets.Layout(width="70%"), continuous_update=False)
    size = widgets.SelectionSlider(options=sizes, value=start, description="size d")
    results, top = widgets.HTML(), _ranker(encoders, corpus)

    def update(change=None):
        d, q = size.value, text.value
        columns = {method: (top(method, q, d), set(top(method, q, full_dim))) for method in encoders}
        results.value = _results_html(columns, titles, labels, d)

    text.observe(update, names="value")
    size.observe(update, names="value")
    update()
    board = widgets.VBox([text, size, results])
    board.text, board.size, board.results = text, size, results
    return board
