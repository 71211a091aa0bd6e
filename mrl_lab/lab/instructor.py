"""An instructor copy: every notebook executed at one budget, saved as ``.ipynb`` and HTML, to read before class.

``./lab instructor --budget cpu`` (or ``python -m mrl_lab.lab.instructor --budget cpu``) runs each
notebook of ``notebooks/`` in order, top to bottom, in a fresh kernel with ``MRL_LAB_BUDGET`` set and
``notebooks/`` as its working directory, and writes into ``build/instructor/<budget>/``:

- ``<name>.ipynb``: the executed notebook, outputs and all;
- ``<name>.html``: the same as a static page (nbconvert's HTMLExporter);
- ``index.html``: each notebook's status (ok, or failed with the error's last line), wall time and links.

A notebook that fails is still written (up to and including the failing cell, its error shown) and
the run goes on to the next one; the command exits with 1 when any failed. The source notebooks are
only read, never written: the committed ones stay stripped. Every file is written beside its final
name and then renamed, so a run killed midway leaves no half file under a finished one's name.

Example (a smoke run of the first two notebooks)::

    python -m mrl_lab.lab.instructor --budget smoke --only 00 01
"""

from __future__ import annotations

import argparse
import html
import os
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import ExecutePreprocessor

from mrl_lab.runtime.budget import BUDGETS, get_budget
from mrl_lab.runtime.cache import save_atomic

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
# Charts as plotly's JSON (what JupyterLab draws) and as HTML with plotly.js inside (what the static page draws,
# offline too); plotly's default in a kernel gives the JSON alone, which nbconvert's HTML cannot show.
PLOTLY_RENDERER = "plotly_mimetype+notebook"
CELL_TIMEOUT_S = 1800  # per cell: the longest cell at `cpu` trains for about 8 minutes on two cores
WIDGET_NOTE = (
    "Static HTML has no kernel behind it: sliders and dashboards (ipywidgets) may show only their first "
    "state, or nothing, where a widget's state was not saved. Open the .ipynb in JupyterLab to move them."
)


@dataclass(frozen=True)
class NotebookRun:
    """How one notebook's run went: its name (``00_quickstart``), wall time, and the error's last line if it failed."""

    name: str
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def default_out(budget: str) -> Path:
    """Where a run at ``budget`` is written unless told otherwise: ``build/instructor/<budget>/`` in the repository."""
    return REPO / "build" / "instructor" / budget


def select_notebooks(only=None, folder: Path = NOTEBOOKS) -> list[Path]:
    """The notebooks of ``folder`` in order (by name), or those whose names start with one of ``only`` (``["00"]``).

    Example:
        >>> [p.name for p in select_notebooks(["00"])]
        ['00_quickstart.ipynb']
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"select_notebooks: no notebooks folder at {folder}; run from a checkout of mrl-lab or pass the folder"
        )
    found = sorted(folder.glob("*.ipynb"))
    if not only:
        return found
    chosen = []
    for prefix in only:
        matches = [p for p in found if p.name.startswith(str(prefix))]
        if not matches:
            raise ValueError(
                f"select_notebooks: no notebook in {folder} starts with {prefix!r}; "
                f"choose from {[p.stem for p in found]} (a prefix such as '00' is enough)"
            )
        chosen += [p for p in matches if p not in chosen]
    return sorted(chosen)


def check_inputs(notebooks, budget: str, out: Path) -> list[Path]:
    """The notebooks as absolute paths, after checking the budget, that every notebook exists and that ``out``
    can be a folder other than the notebooks' own (so no source notebook is ever overwritten)."""
    if budget not in BUDGETS:
        raise ValueError(f"run_notebooks: unknown budget {budget!r}; choose one of {', '.join(BUDGETS)}")
    paths = [Path(p).resolve() for p in ([notebooks] if isinstance(notebooks, (str, Path)) else notebooks)]
    if not paths:
        raise ValueError("run_notebooks: no notebooks given; pass paths to .ipynb files (default: notebooks/*.ipynb)")
    for path in paths:
        if not path.is_file() or path.suffix != ".ipynb":
            problem = "is not an .ipynb file" if path.exists() else "does not exist"
            raise FileNotFoundError(f"run_notebooks: notebook {str(path)!r} {problem}; pass the path of an .ipynb file")
    stems = [p.stem for p in paths]
    if len(set(stems)) < len(stems):
        twice = sorted({s for s in stems if stems.count(s) > 1})
        raise ValueError(f"run_notebooks: two notebooks named {twice} would write the same files; run them apart")
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(
            f"run_notebooks: the output folder {str(out)!r} is a file; pass another folder with out= (or --out)"
        )
    if out in {p.parent for p in paths}:
        raise ValueError(
            f"run_notebooks: the output folder {str(out)!r} holds the source notebooks, which would be overwritten; "
            "pass another folder with out= (or --out)"
        )
    return paths


@contextmanager
def kernel_environment(budget: str):
    """``MRL_LAB_BUDGET=budget`` and ``PLOTLY_RENDERER`` for the kernels started inside, and ``MRL_LAB_DATA`` and
    ``MRL_LAB_CACHE`` made absolute (kernels run in the notebooks' folder, not here); restored afterwards."""
    saved = dict(os.environ)
    os.environ["MRL_LAB_BUDGET"] = budget
    os.environ["PLOTLY_RENDERER"] = PLOTLY_RENDERER
    for name in ("MRL_LAB_DATA", "MRL_LAB_CACHE"):
        if os.environ.get(name):
            os.environ[name] = str(Path(os.environ[name]).expanduser().resolve())
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def error_line(error: BaseException) -> str:
    """The last line of what went wrong, e.g. ``ValueError: boom`` (a cell's error, a timeout, a dead kernel)."""
    if getattr(error, "ename", None):
        return f"{error.ename}: {error.evalue}".strip()
    if isinstance(error, TimeoutError):  # its message goes on with a preview of the cell: keep the first line
        return str(error).splitlines()[0] if str(error) else "TimeoutError"
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(error)).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (no half file under the final name)."""
    save_atomic(path, lambda f: f.write(text.encode("utf-8")))


def run_one(path: Path, out: Path, timeout: int) -> NotebookRun:
    """Execute the notebook at ``path`` (in its own folder) and write ``<name>.ipynb`` and ``<name>.html`` into ``out``.

    The notebook is read into memory and executed there; the file at ``path`` is never written. A cell that
    raises (or runs past ``timeout`` seconds) stops this notebook; what ran until then is still written.
    """
    notebook = nbformat.read(path, as_version=4)
    executor = ExecutePreprocessor(timeout=timeout)
    start, error = time.perf_counter(), None
    try:
        executor.preprocess(notebook, {"metadata": {"path": str(path.parent)}})
    except Exception as e:  # any failure of this notebook is reported; the next one still runs
        error = error_line(e)
    seconds = time.perf_counter() - start
    write_text(out / f"{path.stem}.ipynb", nbformat.writes(notebook))
    body, _ = HTMLExporter().from_notebook_node(notebook)
    write_text(out / f"{path.stem}.html", body)
    return NotebookRun(path.stem, seconds, error)


def duration(seconds: float) -> str:
    """``"42.0 s"`` or ``"10 min 14 s"``: a wall time as the workshop guide writes it.

    Example:
        >>> duration(42.04), duration(614.4)
        ('42.0 s', '10 min 14 s')
    """
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def index_html(runs: list[NotebookRun], budget: str) -> str:
    """The index page: one row per notebook (status, wall time, links), and what static HTML cannot show."""
    rows = []
    for run in runs:
        name = html.escape(run.name)
        status = "ok" if run.ok else f"failed: {html.escape(run.error)}"
        rows.append(
            f'<tr class="{"ok" if run.ok else "failed"}"><td>{name}</td><td>{status}</td>'
            f"<td>{duration(run.seconds)}</td>"
            f'<td><a href="{name}.html">HTML</a> · <a href="{name}.ipynb">notebook</a></td></tr>'
        )
    failed = sum(not run.ok for run in runs)
    total = sum(run.seconds for run in runs)
    summary = f"{len(runs) - failed} of {len(runs)} ok, {duration(total)} in all"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mrl-lab instructor copy ({budget})</title>
<style>body {{font-family: sans-serif; margin: 2em;}} td, th {{padding: 0.3em 1em; text-align: left;}}
tr.failed td {{color: #b00020;}}</style></head>
<body>
<h1>mrl-lab instructor copy: budget <code>{budget}</code></h1>
<p>Run {time.strftime("%Y-%m-%d %H:%M")}, MRL_LAB_BUDGET={budget}: {summary}.</p>
<table><tr><th>notebook</th><th>status</th><th>wall time</th><th>open</th></tr>
{chr(10).join(rows)}
</table>
<p>{html.escape(WIDGET_NOTE)}</p>
</body></html>
"""


def run_notebooks(notebooks=None, budget: str | None = None, out=None, timeout: int = CELL_TIMEOUT_S):
    """Execute ``notebooks`` (default: every ``notebooks/*.ipynb``, in order) at ``budget`` into ``out``.

    Args:
        notebooks: paths of ``.ipynb`` files; each runs with its own folder as the working directory.
        budget: ``"smoke"``, ``"cpu"`` or ``"gpu"``; default ``$MRL_LAB_BUDGET``, else the lab's rule
            (:func:`mrl_lab.runtime.budget.get_budget`: ``gpu`` with CUDA, ``cpu`` without).
        out: the output folder (created if missing); default ``build/instructor/<budget>/``.
        timeout: the most seconds one cell may run before its notebook counts as failed.

    Returns:
        One :class:`NotebookRun` per notebook, in order; prints one line per notebook as it goes and
        rewrites ``index.html`` after each one.
    """
    budget = budget or get_budget().name
    out = Path(out) if out is not None else default_out(budget)
    paths = check_inputs(select_notebooks() if notebooks is None else notebooks, budget, out)
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    print(f"Executing {len(paths)} notebook(s) at MRL_LAB_BUDGET={budget} into {out} (a line as each one ends)")
    with kernel_environment(budget):
        for path in paths:
            run = run_one(path, out, timeout)
            print(f"{run.name}: {run.seconds:.1f} s, {'ok' if run.ok else 'failed: ' + run.error}", flush=True)
            runs.append(run)
            write_text(out / "index.html", index_html(runs, budget))
    failed = [run.name for run in runs if not run.ok]
    print(f"{len(runs) - len(failed)} of {len(runs)} ok" + (f" (failed: {', '.join(failed)})" if failed else ""))
    print(f"Open {out / 'index.html'}")
    return runs


def main(argv=None) -> int:
    """``python -m mrl_lab.lab.instructor``: 0 when every notebook ran, 1 when any failed, 2 on bad arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m mrl_lab.lab.instructor",
        description="Execute the notebooks into executed .ipynb and HTML files, with an index, to read before class.",
    )
    parser.add_argument("--budget", choices=BUDGETS, help="default: $MRL_LAB_BUDGET, else gpu with CUDA, cpu without")
    parser.add_argument("--only", nargs="+", metavar="PREFIX", help="only the notebooks whose names start so (00 01)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: build/instructor/<budget>/)")
    parser.add_argument(
        "--timeout",
        type=int,
        default=CELL_TIMEOUT_S,
        metavar="S",
        help="seconds one cell may run (default: %(default)s)",
    )
    parser.add_argument(
        "--notebooks", type=Path, default=NOTEBOOKS, metavar="DIR", help="folder of notebooks (default: notebooks/)"
    )
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error(f"--timeout must be a positive number of seconds, not {args.timeout}")
    try:
        notebooks = select_notebooks(args.only, args.notebooks)
        runs = run_notebooks(notebooks, args.budget, args.out, args.timeout)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0 if all(run.ok for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
