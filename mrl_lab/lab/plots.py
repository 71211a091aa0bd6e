"""Plotly charts: a score against the embedding size, serving (recall against latency), and two diagrams
(which features each head reads; the served funnel). Plotly only: no Jupyter."""

from __future__ import annotations

import reprlib

import pandas as pd
import plotly.graph_objects as go

from mrl_lab.core.checks import check_count, check_dims, check_records

_PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def _check_curves(curves, where: str) -> None:
    """A clear error when there is nothing to show: a chart or a table of no methods, or of no points."""
    if not isinstance(curves, dict) or not curves or not any(isinstance(c, dict) and c for c in curves.values()):
        raise ValueError(f"{where}: nothing to show (curves={curves!r}); pass {{method: {{size: score}}}} with at "
                         "least one point, e.g. from mrl_lab.evaluation.results.curves")  # fmt: skip


def _check_intervals(intervals, where: str) -> None:
    """A clear error unless ``intervals`` is None or ``{method: {size: (low, high)}}``."""
    spans = intervals.values() if isinstance(intervals, dict) else [None]
    pairs = all(isinstance(s, dict) and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in s.values())
                for s in spans)  # fmt: skip
    if intervals is not None and not pairs:
        raise ValueError(f"{where}: intervals={reprlib.repr(intervals)}; pass {{method: {{size: (low, high)}}}}, e.g. "
                         "from mrl_lab.evaluation.results.spans")  # fmt: skip


def curves_table(curves: dict[str, dict[int, float]], intervals: dict | None = None) -> pd.DataFrame:
    """The numbers behind a chart: one row per size, one column per method.

    Args:
        curves: ``{method: {size: score}}``.
        intervals: ``{method: {size: (low, high)}}``; then each cell reads ``"score [low, high]"``
            in percent (e.g. from :func:`~mrl_lab.evaluation.results.spans`); a cell without one shows the score.

    Example:
        >>> curves_table({"MRL": {8: 0.5, 16: 0.6}, "normal": {8: 0.3, 16: 0.55}})  # doctest: +NORMALIZE_WHITESPACE
              MRL  normal
        size
        8     0.5    0.30
        16    0.6    0.55
        >>> curves_table({"MRL": {8: 0.5}}, {"MRL": {8: (0.48, 0.52)}}).loc[8, "MRL"]
        '50.0 [48.0, 52.0]'
    """
    _check_curves(curves, "curves_table")
    _check_intervals(intervals, "curves_table")
    if intervals is not None:

        def cell(method, d, v):
            low, high = intervals.get(method, {}).get(d, (None, None))
            return f"{100 * v:.1f}" if low is None else f"{100 * v:.1f} [{100 * low:.1f}, {100 * high:.1f}]"

        curves = {m: {d: cell(m, d, v) for d, v in curve.items()} for m, curve in curves.items()}
    table = pd.DataFrame(curves).sort_index()
    table.index.name = "size"
    return table if intervals is None else table.fillna("")  # sizes a method lacks: blank, not "NaN"


def plot_vs_size(
    curves: dict[str, dict[int, float]],
    metric: str = "accuracy",
    title: str | None = None,
    highlight: int | None = None,
    percent: bool = True,
    intervals: dict | None = None,
    axis: str = "embedding size (dims, log2 scale)",
) -> go.Figure:
    """One line per method of ``metric`` against embedding size, on a log2 size axis.

    Hovering shows each point's numbers. ``highlight`` draws a vertical line at one size;
    ``intervals`` draws error bars.

    Args:
        curves: ``{method: {size: score}}``, e.g. ``{"MRL": {8: 0.52, 16: 0.58}}``.
        metric: what the scores are (the y-axis title).
        title: the chart's title.
        highlight: a size to mark with a vertical line (e.g. the slider's value).
        percent: show scores as percentages.
        intervals: ``{method: {size: (low, high)}}`` (e.g. 95 % bootstrap intervals), for any
            methods and sizes; the bars span low to high.
        axis: the x-axis title: another cost can stand for size, e.g. bytes per stored vector.

    Example:
        >>> fig = plot_vs_size({"MRL": {8: 0.5, 16: 0.6}, "normal": {8: 0.3, 16: 0.55}}, highlight=8,
        ...                    intervals={"MRL": {8: (0.45, 0.55), 16: (0.57, 0.62)}})
        >>> [trace.name for trace in fig.data], list(fig.data[0].error_y.array)
        (['MRL', 'normal'], [0.05, 0.02])
    """
    _check_curves(curves, "plot_vs_size")
    _check_intervals(intervals, "plot_vs_size")
    fig = go.Figure()
    sizes = sorted({d for curve in curves.values() for d in curve})
    for name, curve in curves.items():
        xs = sorted(curve)
        bars = None
        if intervals and name in intervals:
            span = [intervals[name].get(d, (curve[d], curve[d])) for d in xs]
            bars = dict(type="data", symmetric=False, thickness=1, width=2,
                        array=[round(high - curve[d], 6) for d, (_, high) in zip(xs, span)],
                        arrayminus=[round(curve[d] - low, 6) for d, (low, _) in zip(xs, span)])  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[curve[d] for d in xs],
                name=name,
                mode="lines+markers",
                error_y=bars,
                hovertemplate=f"{name}<br>{axis.split(' (')[0]} %{{x}}<br>"
                f"{metric} %{{y:{'.1%' if percent else '.3f'}}}<extra></extra>",
            )
        )
    ticks = [d for d in sizes if float(d).is_integer() and int(d) & (int(d) - 1) == 0] or sizes  # powers of two
    fig.update_xaxes(type="log", tickvals=ticks, ticktext=[str(d) for d in ticks], title=axis)
    fig.update_yaxes(title=metric, tickformat=".0%" if percent else None)
    if highlight is not None:
        # No annotation_text: on log axes plotly places it at 10**x (plotly.py issue #4012).
        fig.add_vline(x=highlight, line_dash="dot", line_color="grey")
    fig.update_layout(title=title, template="plotly_white", hovermode="x unified", height=420, legend_title="method")
    return fig


def plot_serving(rows: list[dict], chosen: dict | None = None, title: str | None = None) -> go.Figure:
    """Relative recall@10 against the latency of one query (log scale), one point per search setting.

    One colour per model; one marker per way of searching, filled for a prefix re-ranked at full
    width, open for the same index at full width, a cross for the torch brute-force funnel. Exact
    search is the dotted line.

    Args:
        rows: :func:`mrl_lab.serving.ann.serving_table` rows, each with a ``"model"`` key added.
        chosen: one row to ring as the operating point.

    Example:
        >>> rows = [dict(model="MRL", index="exact", kind="flat", d=64, median_ms=9.0, recall=1.0, effort=None),
        ...         dict(model="MRL", index="hnsw on 16", kind="hnsw", d=16, median_ms=0.5, recall=0.96, effort=64)]
        >>> [t.name for t in plot_serving(rows).data]
        ['MRL: hnsw on a prefix, re-ranked']
    """
    keys = ("model", "index", "kind", "d", "median_ms", "recall", "effort")
    fix = "pass serving_table(...)'s rows, each with a 'model' key added"
    rows = check_records(rows, "rows", keys, "plot_serving", fix)
    if all(r["kind"] == "flat" for r in rows):
        raise ValueError(f"plot_serving: the rows hold exact search only, nothing to plot against it; {fix}")
    fig, colours, named = go.Figure(), {}, set()
    symbols = {"hnsw": "circle", "ivf": "square", "torch": "x"}
    for r in rows:
        if r["kind"] == "flat":
            fig.add_vline(x=r["median_ms"], line_dash="dot", line_color="grey", opacity=0.6)
            continue
        prefix = r["d"] < max(x["d"] for x in rows if x["model"] == r["model"])
        family = f"{r['kind']} on a prefix, re-ranked" if prefix else f"{r['kind']} at full width"
        name = f"{r['model']}: {'torch brute force on a prefix, re-ranked' if r['kind'] == 'torch' else family}"
        colour = colours.setdefault(r["model"], _PALETTE[len(colours) % len(_PALETTE)])
        fig.add_trace(
            go.Scatter(
                x=[r["median_ms"]], y=[r["recall"]], mode="markers", name=name, legendgroup=name,
                showlegend=name not in named, text=[f"{r['model']}: {r['index']}, effort {r['effort']}"],
                marker=dict(symbol=symbols[r["kind"]] + ("" if prefix else "-open"), color=colour, size=10),
                hovertemplate="%{text}<br>%{x:.2f} ms per query<br>relative recall@10 %{y:.3f}<extra></extra>",
            )
        )  # fmt: skip
        named.add(name)
    if chosen is not None:
        fig.add_trace(
            go.Scatter(
                x=[chosen["median_ms"]], y=[chosen["recall"]], mode="markers", name="operating point",
                marker=dict(size=20, symbol="circle-open", color="black", line=dict(width=2)),
            )
        )  # fmt: skip
    fig.update_xaxes(title="median latency of one query, ms (log scale; dotted: exact search)", type="log")
    fig.update_yaxes(title="relative recall@10 (share of the exact top 10 found)")
    fig.update_layout(title=title, template="plotly_white", height=480)
    return fig


def plot_funnel(rows: int, d: int, shortlist: int, full_dim: int, k: int = 10) -> go.Figure:
    """The served funnel as a diagram (schematic: the widths are not to scale).

    Example:
        >>> len(plot_funnel(100_000, 64, 400, 384).data[0].y)
        4
    """
    full_dim = check_count(full_dim, "full_dim", "plot_funnel")
    check_count(d, "d", "plot_funnel", high=full_dim)
    k = check_count(k, "k", "plot_funnel")
    check_count(shortlist, "shortlist", "plot_funnel", low=k, high=check_count(rows, "rows", "plot_funnel"))
    stages = [
        f"database: {rows:,} stored vectors of {full_dim} dims",
        f"ANN index on their first {d} dims: visits a small part",
        f"shortlist: {shortlist:,} candidates, re-scored with all {full_dim} dims",
        f"answer: the top {k}",
    ]
    fig = go.Figure(
        go.Funnel(
            y=stages, x=[4, 3, 2, 1], textinfo="none", hoverinfo="y", connector=dict(line=dict(width=0)),
            marker=dict(color=["#cfd8dc", "#90caf9", "#42a5f5", "#1565c0"]),
        )
    )  # fmt: skip
    fig.update_layout(title="Adaptive retrieval as it is served (schematic, not to scale)", template="plotly_white",
                      height=300, margin=dict(l=360), xaxis=dict(visible=False))  # fmt: skip
    return fig


def plot_nesting(dims: list[int]) -> go.Figure:
    """Which features each head of a Matryoshka model reads: a staircase, one row per size.

    Columns are the blocks of features between consecutive sizes (features 1-8, 9-16, ...); the
    head of size ``d`` reads every block up to ``d``, so the first block is read by every head and
    the last only by the full one. That is why training pushes the most useful features forward.

    Example:
        >>> [list(row) for row in plot_nesting([2, 4, 8]).data[0].z]  # rows: sizes 2, 4, 8
        [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    """
    dims = check_dims(dims, where="plot_nesting")
    starts = [1] + [d + 1 for d in dims[:-1]]
    blocks = [f"{a}" if a == b else f"{a}-{b}" for a, b in zip(starts, dims)]
    rows = [f"head on the first {d}" for d in dims]
    seen = [[int(j <= i) for j in range(len(dims))] for i in range(len(dims))]
    readers = [f"read by {len(dims) - j} of {len(dims)} heads" for j in range(len(dims))]
    fig = go.Figure(
        go.Heatmap(
            z=seen, x=blocks, y=rows, colorscale=[[0, "#f5f5f5"], [1, "#1f77b4"]], showscale=False,
            xgap=3, ygap=3, customdata=[readers] * len(dims),
            hovertemplate="%{y} reads features %{x}: %{z}<br>features %{x} are %{customdata}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_xaxes(title="features of the embedding (blocks between nesting sizes)", type="category")
    fig.update_yaxes(autorange="reversed", type="category")
    title = "Which features each head reads (one loss per row, summed): the first block is in every row"
    fig.update_layout(title=title, template="plotly_white", height=80 + 40 * len(dims))
    return fig


def plot_lead_panels(panels: dict[str, tuple[dict, dict]], reference: str, title: str | None = None) -> go.Figure:
    """Side by side, one panel per task: each method's gap to ``reference`` at every size, with its interval, in
    points (x 100), on log2 size axes; a line at 0 is ``reference`` itself. A method keeps one colour in every panel.

    Args:
        panels: ``{panel title: (gaps, intervals)}``, each as :func:`~mrl_lab.evaluation.results.leads` returns
            them: ``{method: {size: gap}}`` and ``{method: {size: (low, high)}}``, as fractions.
        reference: what the gaps are measured from (the y-axes say "minus" it).

    Example:
        >>> gaps = {"PCA": {8: -0.05, 16: -0.01}}, {"PCA": {8: (-0.07, -0.03), 16: (-0.03, 0.01)}}
        >>> fig = plot_lead_panels({"news": gaps, "STS-B": gaps}, "MRL")
        >>> [t.name for t in fig.data], [round(v, 6) for v in fig.data[0].error_y.arrayminus]
        (['PCA', 'PCA'], [2.0, 2.0])
    """
    from plotly.subplots import make_subplots

    if not isinstance(panels, dict) or not panels:
        raise ValueError(f"plot_lead_panels: nothing to draw (panels={panels!r}); pass {{task: leads(...)}} with at "
                         "least one method, e.g. from mrl_lab.evaluation.results.leads")  # fmt: skip
    for task, panel in panels.items():
        if not isinstance(panel, (tuple, list)) or len(panel) != 2:
            raise ValueError(f"plot_lead_panels: panels[{task!r}]={reprlib.repr(panel)}; pass (gaps, intervals), what "
                             "mrl_lab.evaluation.results.leads returns")  # fmt: skip
        _check_curves(panel[0], f"plot_lead_panels (panel {task!r})")
        _check_intervals(panel[1], f"plot_lead_panels (panel {task!r})")
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels), horizontal_spacing=0.08)
    colours = {}
    for col, (gaps, intervals) in enumerate(panels.values(), start=1):
        for name, gap in gaps.items():
            xs, first = sorted(gap), name not in colours
            colour = colours.setdefault(name, _PALETTE[len(colours) % len(_PALETTE)])
            span = [intervals.get(name, {}).get(d, (gap[d], gap[d])) for d in xs]
            bars = dict(type="data", symmetric=False, thickness=1, width=3,
                        array=[round(100 * (high - gap[d]), 6) for d, (_, high) in zip(xs, span)],
                        arrayminus=[round(100 * (gap[d] - low), 6) for d, (low, _) in zip(xs, span)])  # fmt: skip
            fig.add_trace(
                go.Scatter(
                    x=xs, y=[100 * gap[d] for d in xs], name=name, legendgroup=name, showlegend=first,
                    mode="lines+markers", line=dict(color=colour), error_y=bars,
                    hovertemplate=f"{name}<br>size %{{x}}<br>%{{y:+.1f}} pt<extra></extra>",
                ),
                row=1, col=col,
            )  # fmt: skip
        every = {d for gap in gaps.values() for d in gap}
        ticks = sorted({d for d in every if d & (d - 1) == 0} | {max(every)})  # powers of two, and the full width
        fig.update_xaxes(type="log", tickvals=ticks, ticktext=[str(d) for d in ticks], title="size (dims)", row=1,
                         col=col)  # fmt: skip
        fig.update_yaxes(title=f"minus the {reference} (pt: x 100)", zeroline=False, row=1, col=col)
        fig.add_hline(y=0, line_color="grey", row=1, col=col)
    fig.update_layout(title=title, template="plotly_white", height=460, legend_title="method", hovermode="closest")
    return fig


def plot_vs_bytes(results: pd.DataFrame, metric: str, methods=None, title: str | None = None) -> go.Figure:
    """``metric`` against bytes per stored vector, one line per method of a results table with a ``bytes``
    column (:mod:`mrl_lab.experiments.rivals`), with 95 % intervals where the table has them.

    Example:
        >>> t = pd.DataFrame({"method": ["CSR", "MRL"], "size": [8, 12], "metric": "recall@10", "value": [0.5, 0.6],
        ...                   "low": [0.4, 0.5], "high": [0.6, 0.7], "bytes": [48, 48]})
        >>> [trace.name for trace in plot_vs_bytes(t, "recall@10").data]
        ['CSR', 'MRL']
    """
    if not isinstance(results, pd.DataFrame) or not {"method", "metric", "value", "bytes"} <= set(results.columns):
        raise TypeError("plot_vs_bytes: pass a results table with a bytes column (mrl_lab.experiments.rivals.compare)")
    chosen = results[(results["metric"] == metric) & (results["method"].isin(methods) if methods else True)]
    lines = {m: dict(zip(g["bytes"], g["value"])) for m, g in chosen.groupby("method", sort=False)}
    bars = {m: dict(zip(g["bytes"], zip(g["low"], g["high"]))) for m, g in chosen.groupby("method", sort=False)
            if g["low"].notna().all()}  # fmt: skip
    _check_curves(lines, f"plot_vs_bytes (metric={metric!r})")
    return plot_vs_size(lines, metric=metric, intervals=bars or None, percent=metric == "recall@10",
                        axis="bytes per stored vector (log2 scale)",
                        title=title or f"{metric} against bytes per stored vector")  # fmt: skip


def plot_layers(results: pd.DataFrame, metric: str, method: str, reference: str | None = None,
                title: str | None = None) -> go.Figure:  # fmt: skip
    """A heatmap of ``metric`` for one ``method`` at every layer count (rows) x size (columns), from a results
    table with a ``layers`` column (:func:`mrl_lab.experiments.layers.evaluate`); with ``reference``, each cell
    is ``method`` minus ``reference`` there, in points (x 100), centred on 0.

    Example:
        >>> t = pd.DataFrame({"method": "2D", "layers": [1, 1, 6, 6], "size": [8, 16, 8, 16],
        ...                   "metric": "recall@10", "value": [0.2, 0.3, 0.5, 0.6]})
        >>> plot_layers(t, "recall@10", "2D").data[0].z.tolist()
        [[20.0, 30.0], [50.0, 60.0]]
    """
    if not isinstance(results, pd.DataFrame) or not {"method", "layers", "size", "metric"} <= set(results.columns):
        raise TypeError("plot_layers: pass a results table with a layers column (mrl_lab.experiments.layers.evaluate)")

    def grid(name):
        chosen = results[(results["metric"] == metric) & (results["method"] == name)]
        if chosen.empty:
            known = sorted(results["method"].unique())
            raise ValueError(f"plot_layers: no {metric!r} rows for method={name!r}; choose one of {known}")
        return 100 * chosen.pivot_table(index="layers", columns="size", values="value")

    z = grid(method) if reference is None else grid(method) - grid(reference)
    extra = dict(zmid=0, colorscale="RdBu") if reference is not None else dict(colorscale="Viridis")
    unit = "pt" if reference is not None else ("%" if metric == "recall@10" else "x 100")
    fig = go.Figure(go.Heatmap(z=z.values.round(1), x=[str(c) for c in z.columns], y=[str(r) for r in z.index],
                               text=z.values.round(1), texttemplate="%{text}", colorbar=dict(title=unit), **extra,
                               hovertemplate="%{y} layers, %{x} dims: %{z:.1f}<extra></extra>"))  # fmt: skip
    vs = f" minus {reference}" if reference is not None else ""
    fig.update_layout(
        title=title or f"{method}{vs}: {metric} by layers x dims",
        template="plotly_white",
        height=360,
        xaxis_title="dims kept (size)",
        yaxis_title="layers run",
        yaxis_autorange="reversed",
    )  # fmt: skip  (1 layer on top, full depth at the bottom)
    return fig
