"""The check's charts and its self-contained HTML report (``python -m mrl_lab check --out DIR``)."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from mrl_lab.core.checks import check_table, rows_where

_COLOURS = {"prefix": "#1f77b4", "PCA": "#d62728", "adaptor": "#2ca02c"}
_DASHES = {"float32": "solid", "int8": "dash", "binary": "dot"}
_COLUMNS = ["method", "size", "precision", "rescore", "metric", "kept", "kept_low", "kept_high", "bytes"]


def _chosen(table: pd.DataFrame, metric: str, where: str) -> pd.DataFrame:
    """The check table's rows of ``metric``, or an error naming ``where`` and what the table holds."""
    check_table(table, _COLUMNS, where, "pass the table that `python -m mrl_lab check` builds")
    return rows_where(table, "metric", metric, where)


def line_name(method: str, precision: str, rescore: bool) -> str:
    """``"prefix, int8 + re-score"``: one line of the chart, one column of the tables."""
    return f"{method}, {precision}" + (" + re-score" if rescore else "")


def quality_vs_bytes(table: pd.DataFrame, metric: str, title: str | None = None) -> go.Figure:
    """The share of full width kept on ``metric`` (with its interval) against bytes per stored vector, log2
    axis, one line per method and precision: colour is the method, dash the precision, open markers re-score.

    Example:
        >>> t = pd.DataFrame({"method": ["prefix"] * 2, "size": [8, 16], "precision": "float32", "rescore": False,
        ...                   "metric": "overlap@10", "kept": [0.5, 0.8], "kept_low": [0.4, 0.7],
        ...                   "kept_high": [0.6, 0.9], "bytes": [32, 64]})
        >>> [t.name for t in quality_vs_bytes(t, "overlap@10").data]
        ['prefix, float32']
    """
    fig = go.Figure()
    chosen = _chosen(table, metric, "quality_vs_bytes")
    for (method, precision, rescore), group in chosen.groupby(["method", "precision", "rescore"], sort=False):
        g = group.sort_values("bytes")
        fig.add_trace(
            go.Scatter(
                x=g["bytes"], y=100 * g["kept"], name=line_name(method, precision, rescore), mode="lines+markers",
                line=dict(color=_COLOURS.get(method), dash=_DASHES.get(precision)),
                marker=dict(symbol="circle-open" if rescore else "circle", size=8),
                error_y=dict(type="data", symmetric=False, array=100 * (g["kept_high"] - g["kept"]),
                             arrayminus=100 * (g["kept"] - g["kept_low"]), thickness=1, width=2),
                customdata=g["size"], hovertemplate="%{customdata} dims, %{x} B: %{y:.1f} %<extra></extra>",
            )
        )  # fmt: skip
    fig.update_xaxes(type="log", title="bytes per stored vector (log scale)")
    fig.update_yaxes(title=f"share of full-width float32 {metric} kept (%)")
    fig.update_layout(title=title or f"What each size and precision keeps of {metric}", template="plotly_white",
                      height=520, legend_title="method, precision")  # fmt: skip
    return fig


def kept_table(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per size, one column per line of the chart: ``"kept % [low, high]"`` on ``metric``."""
    chosen = _chosen(table, metric, "kept_table").copy()
    chosen["line"] = [line_name(*r) for r in zip(chosen["method"], chosen["precision"], chosen["rescore"])]
    chosen["cell"] = [f"{100 * k:.0f} [{100 * lo:.0f}, {100 * hi:.0f}]"
                      for k, lo, hi in zip(chosen["kept"], chosen["kept_low"], chosen["kept_high"])]  # fmt: skip
    order = list(dict.fromkeys(chosen["line"]))
    wide = chosen.pivot(index="size", columns="line", values="cell")[order].fillna("")
    wide.columns.name = None  # the lines' names are the headers; no label above them
    return wide


def html_report(summary: dict, table: pd.DataFrame) -> str:
    """A self-contained HTML page (plotly.js inlined): the summary's lines, the chart, the knees and the table."""
    if not isinstance(summary, dict) or not {"metric", "knees", "lines"} <= set(summary):
        raise ValueError(f"html_report: summary={summary!r}; pass the check's summary, a dict with metric, knees "
                         "and lines")  # fmt: skip
    metric = summary["metric"]
    _chosen(table, metric, "html_report")
    figure = quality_vs_bytes(table, metric).to_html(full_html=False, include_plotlyjs=True)
    knees = pd.DataFrame(summary["knees"]).to_html(index=False, na_rep="none", border=0)
    lines = "".join(f"<li>{html.escape(line)}</li>" for line in summary["lines"])
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>mrl-lab check</title><style>"
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}td,th{padding:2px 8px;text-align:right}"
        "</style></head><body><h1>mrl-lab check</h1>"
        f"<ul>{lines}</ul>{figure}<h2>Knee: the smallest size keeping the target share of {html.escape(metric)}</h2>"
        f"{knees}<h2>Share of full-width {html.escape(metric)} kept, % [95 % interval]</h2>"
        f"{kept_table(table, metric).to_html(border=0)}</body></html>"
    )
