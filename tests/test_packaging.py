import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def requirement_lines(lines):
    reqs = {}
    for line in lines:
        line = line.split("#")[0].strip().lstrip("- ").strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", line)
        if match:
            reqs[CONDA_NAMES.get(match[1], match[1]).lower()] = match[2].replace(" ", "")
    return reqs


def test_environment_yml_and_requirements_list_the_same_packages():
    pip = requirement_lines((REPO / "requirements.txt").read_text().splitlines())
    text = (REPO / "environment.yml").read_text()
    deps = text[text.index("dependencies:") :].splitlines()[1:]
    conda = requirement_lines(line for line in deps if line.strip().startswith("- "))
    conda.pop("python")
    conda.pop("pip")
    assert conda == pip


def test_the_layout_the_owner_asked_for_is_there():
    for path in [
        "README.md",
        "environment.yml",
        "notebooks",
        "mrl_lab",
        "tests",
        "binder",
        "pyproject.toml",
        "requirements.txt",
        ".ci/run",
        "lab",
    ]:
        assert (REPO / path).exists(), path


def test_ci_runs_exactly_the_readmes_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "./lab test" in readme and "./lab start" in readme
    assert "MRL_LAB_DATA=../shared/data" in ci and "MRL_LAB_BUDGET=smoke" in ci
    assert ci.strip().splitlines()[-1] == "./lab test"


def notebooks():
    return sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebooks_are_stripped_short_celled_and_shaped_like_a_lesson(path):
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(not c["outputs"] and c["execution_count"] is None for c in code), "strip the outputs"
    for c in code:
        assert len("".join(c["source"]).splitlines()) <= 25, "keep code cells to ~25 lines"
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert text.startswith("# "), "a notebook starts with its title"
    assert "Learning goals" in text and "## Summary" in text and "<details>" in text
    assert "get_budget()" in "".join(code[0]["source"]), "the first cell says which budget and device"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_every_notebook_asks_for_predictions_before_the_cells_that_answer_them(path):
    cells = json.loads(path.read_text())["cells"]
    asks = [
        i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and "**Predict first.**" in "".join(c["source"])
    ]
    assert len(asks) >= 2, f"{path.name}: {len(asks)} predict-first prompts; ask at least 2 (> **Predict first.** ...)"
    for i in asks:
        after = cells[i + 1] if i + 1 < len(cells) else None
        assert after is not None and after["cell_type"] == "code", f"{path.name}: cell {i} asks; the next cell answers"


def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", str(REPO)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "script",
    ["cifar10.py", "text.py", "adaptive_retrieval.py", "pretrained_text.py", "notebook_cost.py", "vector_database.py"],
)
def test_the_benchmark_scripts_document_their_options(script):
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "--budget" in result.stdout and "--json" in result.stdout
    if script == "cifar10.py":
        assert "--all" in result.stdout
