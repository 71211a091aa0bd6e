"""ipywidgets dashboards for the notebooks. The only module that imports Jupyter."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets
from IPython.display import display

from .plots import plot_vs_size


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
    sizes = sorted({d for curve in curves.values() for d in curve})
    slider = widgets.IntSlider(
        value=start or sizes[0],
        min=1,
        max=full_dim,
        description="size d",
        continuous_update=False,
        style={"description_width": "initial"},
        layout=widgets.Layout(width="60%"),
    )
    readout, chart = widgets.HTML(), widgets.Output()
    full = evaluate(full_dim)

    def update(change=None):
        d = slider.value
        scores = evaluate(d)
        rows = ""
        for name, score in scores.items():
            kept = f"{score / full[name]:.0%} of its full-width {metric}" if full.get(name) else ""
            rows += f"<tr><td>{name}</td><td><b>{score:.1%}</b></td><td>{kept}</td></tr>"
        readout.value = (
            f"<p>Cut to the first <b>{d}</b> of {full_dim} dims: {4 * d} bytes per float32 vector "
            f"instead of {4 * full_dim} ({d / full_dim:.1%}).</p><table>{rows}</table>"
        )
        with chart:
            chart.clear_output(wait=True)
            display(plot_vs_size(curves, metric=metric, highlight=d, title=f"{metric} vs size (dotted line: d = {d})"))

    slider.observe(update, names="value")
    update()
    board = widgets.VBox([slider, readout, chart])
    board.slider, board.readout = slider, readout
    return board
