"""The teaching budgets of the notebooks' and the guide's prose (issue: lessons, not logs).

Words are counted as the shared prose metrics count them: markdown outside folded ``<details>``
solutions. A notebook that grows past a budget, or a date that slips into a lesson, fails here.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
GUIDE = ROOT / "docs" / "workshop.md"
DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
DETAILS = re.compile(r"<details>.*?</details>", re.S)
INTERNAL = re.compile(r"\bissue\s+#?\d+|\bmust-show\b|\bcommit [0-9a-f]{7,}\b", re.I)


def words(text: str) -> int:
    return len(re.findall(r"[A-Za-z0-9][\w'’.,%-]*", text))


def markdown_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def test_the_counter_skips_folded_solutions():
    assert words(DETAILS.sub("", "Two words <details>four more words here</details>")) == 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_prose_stays_within_the_teaching_budget(path):
    counts = [words(DETAILS.sub("", cell)) for cell in markdown_cells(path)]
    assert sum(counts) <= 1400, f"{path.name}: {sum(counts)} words of markdown outside <details> (at most 1,400)"
    median = statistics.median(counts)
    assert median <= 70, f"{path.name}: median markdown cell {median} words (at most 70)"
    assert max(counts) <= 300, f"{path.name}: a {max(counts)}-word markdown cell (at most 300)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_carry_no_dates_or_internal_references(path):
    text = "\n".join(markdown_cells(path))  # folded solutions included: history belongs in RESULTS.md
    dates = DATE.findall(text)
    assert not dates, f"{path.name} prose carries dates {dates}: move them to benchmarks/RESULTS.md"
    assert not INTERNAL.findall(text), f"{path.name} prose carries internal references {INTERNAL.findall(text)}"


def test_the_guide_is_a_short_dateless_sheet():
    text = GUIDE.read_text()
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", re.sub(r"```.*?```", "", text, flags=re.S)) if words(s) > 2]
    mean = sum(map(words, sentences)) / len(sentences)
    assert words(text) <= 4500, f"docs/workshop.md has {words(text)} words (at most 4,500)"
    assert mean <= 24, f"docs/workshop.md's sentences average {mean:.1f} words (at most 24)"
    assert not DATE.findall(text), f"docs/workshop.md carries dates {DATE.findall(text)}: cite benchmarks/RESULTS.md"
    assert not INTERNAL.findall(text), f"docs/workshop.md carries internal references {INTERNAL.findall(text)}"
