"""Time and peak memory of whole notebooks, as the workshop guide reports them.

    python benchmarks/notebook_cost.py notebooks/03_pretrained_text.ipynb --budget cpu
    python benchmarks/notebook_cost.py notebooks/0*.ipynb --budget smoke --empty-cache --json cost.json

Runs each notebook top to bottom with nbclient (in ``notebooks/``, as Jupyter does) and samples
the memory of the kernel and of every process it starts: their resident sizes every 0.1 s (the
peak of their sum, shared pages counted in every process), and their proportional set sizes
(shared pages counted once, as the operating system does) every 2 s, since reading those costs a
core's time at a high rate. It also times how long each cell stays *silent*: the longest stretch with
no new output (a printed line, a chart, a progress-bar update), from the cell's start to its end; and
it adds up the time per section (per "## " heading), for the workshop guide.
``--empty-cache`` points ``MRL_LAB_CACHE``
at a new folder first, so the notebooks train and encode everything they need; without it they
use your cache. Notebooks given together run in that order, sharing one cache.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient


def _memory(pid: int, pss: bool) -> float:
    """Sum of the RSS (or of the PSS) in bytes of a process and all its descendants."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        for p in [root, *root.children(recursive=True)]:
            try:
                total += getattr(p.memory_full_info(), "pss", 0.0) if pss else p.memory_info().rss
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


# What a learner sees change: printed text, results, charts, and widget updates (tqdm's bars in Jupyter).
VISIBLE = {"stream", "display_data", "execute_result", "update_display_data", "clear_output", "comm_msg", "error"}


class TimedClient(NotebookClient):
    """A NotebookClient that notes when each visible output of the running cell arrives."""

    def process_message(self, msg, cell, cell_index):
        if msg["msg_type"] in VISIBLE:
            self.output_times.append(time.perf_counter())
        return super().process_message(msg, cell, cell_index)


def sections(nb, cells: list[dict]) -> list[dict]:
    """Sum the cells' times per section (a markdown "## " heading; before the first, "setup")."""
    heading, of_cell = "setup", {}
    for i, cell in enumerate(nb.cells):
        found = [line[3:].strip() for line in cell.source.splitlines() if line.startswith("## ")]
        if cell.cell_type == "markdown" and found:
            heading = found[-1]
        of_cell[i] = heading
    out = {}
    for c in cells:
        row = out.setdefault(
            of_cell[c["cell"]], {"section": of_cell[c["cell"]], "seconds": 0.0, "longest_silence_s": 0.0}
        )
        row["seconds"] += c["seconds"]
        row["longest_silence_s"] = max(row["longest_silence_s"], c["longest_silence_s"])
    return list(out.values())


def run(path: Path, timeout: int, executed: Path | None = None) -> dict:
    nb = nbformat.read(path, as_version=4)
    client = TimedClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.output_times = []
    peak, done = [0.0, 0.0], threading.Event()
    cells, current = [], {}  # per code cell: its wall time, the peak RSS sum while it ran and the last one sampled
    # (what the cell leaves behind for the next), its longest silence

    def cell_started(cell, cell_index, **_):
        current.update(cell=cell_index, first_line=cell.source.split("\n")[0], start=time.perf_counter(), rss=0.0)
        client.output_times.clear()

    def cell_finished(cell, cell_index, **_):
        end = time.perf_counter()
        moments = [current["start"], *client.output_times, end]
        silent = max(later - earlier for earlier, later in zip(moments, moments[1:]))
        cells.append({"cell": cell_index, "first_line": current["first_line"], "seconds": end - current["start"],
                      "peak_rss_gb": current["rss"] / 1e9, "end_rss_gb": current.get("last", 0.0) / 1e9,
                      "longest_silence_s": silent})  # fmt: skip

    client.on_cell_execute, client.on_cell_executed = cell_started, cell_finished

    def sample():
        ticks = 0
        while not done.is_set():
            kernel = getattr(client, "km", None)
            if kernel is not None and kernel.has_kernel and kernel.provisioner and kernel.provisioner.process:
                pid = kernel.provisioner.process.pid
                rss = _memory(pid, pss=False)
                peak[1] = max(peak[1], rss)
                current["rss"], current["last"] = max(current.get("rss", 0.0), rss), rss
                if ticks % 20 == 0:
                    peak[0] = max(peak[0], _memory(pid, pss=True))
            ticks += 1
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        done.set()
        sampler.join()
        if executed is not None:  # the run's outputs, to read its numbers (never into notebooks/: they stay stripped)
            executed.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, executed / path.name)
    return {"notebook": path.name, "seconds": time.perf_counter() - start, "peak_pss_gb": peak[0] / 1e9,
            "peak_rss_gb": peak[1] / 1e9, "cells": cells, "sections": sections(nb, cells)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--budget", choices=["smoke", "cpu", "gpu"], required=True)
    parser.add_argument("--empty-cache", action="store_true", help="start from a new, empty MRL_LAB_CACHE")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--slowest", type=int, default=5, help="print this many slowest cells (time, peak RSS)")
    parser.add_argument("--executed", type=Path, help="also save each executed notebook, with its outputs, here")
    args = parser.parse_args()
    os.environ["MRL_LAB_BUDGET"] = args.budget
    if args.empty_cache:
        os.environ["MRL_LAB_CACHE"] = tempfile.mkdtemp(prefix="mrl-lab-cache-")
    print(f"budget {args.budget}; cache {os.environ.get('MRL_LAB_CACHE', 'the default')}")
    results = []
    for path in args.notebooks:
        result = run(path.resolve(), args.timeout, args.executed)
        results.append(result)
        minutes, seconds = divmod(round(result["seconds"]), 60)
        rss, pss = result["peak_rss_gb"], result["peak_pss_gb"]
        print(f"{result['notebook']}: {minutes} min {seconds:02d} s, peak {rss:.2f} GB RSS sum, {pss:.2f} GB PSS sum")
        for cell in sorted(result["cells"], key=lambda c: -c["seconds"])[: args.slowest]:
            seconds, gb, line = cell["seconds"], cell["peak_rss_gb"], cell["first_line"][:60]
            print(f"  cell {cell['cell']:2d}: {seconds:6.1f} s, peak {gb:.2f} GB  {line}")
        top = max(result["cells"], key=lambda c: c["peak_rss_gb"])
        print(
            f"  highest peak: cell {top['cell']} ({top['first_line'][:50]}), {top['peak_rss_gb']:.2f} GB; "
            f"{top['end_rss_gb']:.2f} GB when it ended"
        )
        quiet = max(result["cells"], key=lambda c: c["longest_silence_s"])
        where = f"cell {quiet['cell']} ({quiet['first_line'][:50]})"
        print(f"  longest silence: {quiet['longest_silence_s']:.1f} s in {where}")
        for row in result["sections"]:
            name, quiet = row["section"][:60], row["longest_silence_s"]
            print(f"  section {name:60s} {row['seconds']:6.1f} s (silent at most {quiet:.1f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
