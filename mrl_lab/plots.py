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
    ticks = [d for d in sizes if d & (d - 1) == 0] or sizes  # powers of two keep the axis readable
    fig.update_xaxes(
        type="log", tickvals=ticks, ticktext=[str(d) for d in ticks], title="embedding size (dims, log2 scale)"
    )
    fig.update_yaxes(title=metric, tickformat=".0%" if percent else None)
    if highlight is not None:
        # No annotation_text: on log axes plotly places it at 10**x (plotly.py issue #4012).
        fig.add_vline(x=highlight, line_dash="dot", line_color="grey")
    fig.update_layout(title=title, template="plotly_white", hovermode="x unified", height=420, legend_title="method")
    return fig
