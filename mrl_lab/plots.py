"""Plotly charts of a score against the embedding size. Plotly only: no Jupyter needed."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go


def curves_table(curves: dict[str, dict[int, float]]) -> pd.DataFrame:
    """The numbers behind a chart: one row per size, one column per method.

    Args:
        curves: ``{method: {size: score}}``.

    Example:
        >>> curves_table({"MRL": {8: 0.5, 16: 0.6}, "normal": {8: 0.3, 16: 0.55}})  # doctest: +NORMALIZE_WHITESPACE
              MRL  normal
        size
        8     0.5    0.30
        16    0.6    0.55
    """
    table = pd.DataFrame(curves).sort_index()
    table.index.name = "size"
    return table


def plot_vs_size(
    curves: dict[str, dict[int, float]],
    metric: str = "accuracy",
    title: str | None = None,
    highlight: int | None = None,
    percent: bool = True,
) -> go.Figure:
    """One line per method of ``metric`` against embedding size, on a log2 size axis.

    Hovering shows each point's numbers. ``highlight`` draws a vertical line at one size.

    Args:
        curves: ``{method: {size: score}}``, e.g. ``{"MRL": {8: 0.52, 16: 0.58}}``.
        metric: what the scores are (the y-axis title).
        title: the chart's title.
        highlight: a size to mark with a vertical line (e.g. the slider's value).
        percent: show scores as percentages.

    Example:
        >>> fig = plot_vs_size({"MRL": {8: 0.5, 16: 0.6}, "normal": {8: 0.3, 16: 0.55}}, highlight=8)
        >>> [trace.name for trace in fig.data]
        ['MRL', 'normal']
    """
    fig = go.Figure()
    sizes = sorted({d for curve in curves.values() for d in curve})
    for name, curve in curves.items():
        xs = sorted(curve)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[curve[d] for d in xs],
                name=name,
                mode="lines+markers",
                hovertemplate=f"{name}<br>size %{{x}}<br>{metric} %{{y:{'.1%' if percent else '.3f'}}}<extra></extra>",
            )
        )
    ticks = [d for d in sizes if float(d).is_integer() and int(d) & (int(d) - 1) == 0] or sizes  # powers of two
    fig.update_xaxes(
        type="log", tickvals=ticks, ticktext=[str(d) for d in ticks], title="embedding size (dims, log2 scale)"
    )
    fig.update_yaxes(title=metric, tickformat=".0%" if percent else None)
    if highlight is not None:
        # No annotation_text: on log axes plotly places it at 10**x (plotly.py issue #4012).
        fig.add_vline(x=highlight, line_dash="dot", line_color="grey")
    fig.update_layout(title=title, template="plotly_white", hovermode="x unified", height=420, legend_title="method")
    return fig


def plot_speedup(rows: list[dict], full_dim: int, chosen: dict | None = None, title: str | None = None) -> go.Figure:
    """Speed-up over exact search against relative recall, one point per funnel (hover: its stages).

    Each coarse size ``d_s`` gets its own colour and a dotted line at its physical limit
    ``full_dim / d_s`` (the ratio of arithmetic in the coarse pass; real speed-ups stay below it).

    Args:
        rows: from :func:`mrl_lab.retrieval.measure` (the exact-search row is skipped).
        full_dim: the full width ``D``; chosen: one row to ring as the operating point.

    Example:
        >>> rows = [{"stages": [], "speedup": 1.0, "relative_recall": 1.0},
        ...         {"stages": [[8, 200]], "speedup": 9.0, "relative_recall": 0.98}]
        >>> [t.name for t in plot_speedup(rows, full_dim=256).data]
        ['d_s = 8']
    """
    fig = go.Figure()
    by_size: dict[int, list[dict]] = {}
    for r in rows:
        if r["stages"]:
            by_size.setdefault(r["stages"][0][0], []).append(r)
    for d, group in sorted(by_size.items()):
        labels = [" -> ".join(f"({a}, {b})" for a, b in r["stages"]) for r in group]
        fig.add_trace(
            go.Scatter(
                x=[r["relative_recall"] for r in group], y=[r["speedup"] for r in group], mode="markers",
                name=f"d_s = {d}", text=labels,
                hovertemplate="%{text}<br>relative recall@10 %{x:.3f}<br>speed-up %{y:.1f}x<extra></extra>",
            )
        )  # fmt: skip
        fig.add_hline(y=full_dim / d, line_dash="dot", line_color="grey", opacity=0.5)
    if chosen is not None:
        fig.add_trace(
            go.Scatter(
                x=[chosen["relative_recall"]], y=[chosen["speedup"]], mode="markers", name="operating point",
                marker=dict(size=18, symbol="circle-open", color="black", line=dict(width=2)),
            )
        )  # fmt: skip
    fig.update_xaxes(title="relative recall@10 (share of the exact top 10 found)")
    fig.update_yaxes(title="speed-up over exact full-width search (x)", type="log")
    fig.update_layout(title=title, template="plotly_white", height=440, legend_title="coarse size")
    return fig
