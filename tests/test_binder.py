"""Binder: repo2docker's build plan for this repository, and the Binder environment's package list."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_packaging import requirement_lines

REPO = Path(__file__).resolve().parents[1]


def conda_packages(path: Path) -> dict:
    text = path.read_text()
    deps = text[text.index("dependencies:") :].splitlines()[1:]
    return requirement_lines(line for line in deps if line.strip().startswith("- "))


def test_binder_lists_the_same_packages_as_environment_yml_with_a_cpu_only_pytorch():
    main, binder = conda_packages(REPO / "environment.yml"), conda_packages(REPO / "binder" / "environment.yml")
    assert binder.pop("torch").endswith("=cpu*")  # CPU-only build: Binder has no GPU, the image stays small
    main.pop("torch")
    main.pop("python"), binder.pop("python")
    assert binder == main


def test_repo2docker_plans_the_binder_build(tmp_path):
    pytest.importorskip("repo2docker", reason="pip install -r requirements-test.txt (./lab test does it)")
    src = tmp_path / "repo"  # a copy without .venv and caches, as Binder would clone it
    shutil.copytree(
        REPO, src, ignore=shutil.ignore_patterns(".venv", ".git", "test-artifacts", "*cache*", "*.egg-info")
    )
    result = subprocess.run(
        [sys.executable, "-m", "repo2docker", "--no-build", "--no-run", "--debug", str(src)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    plan = result.stdout + result.stderr
    assert result.returncode == 0, plan[-3000:]
    assert 'env update -p ${NB_PYTHON_PREFIX} --file "binder/environment.yml"' in plan  # conda, from binder/
    assert "requirements.txt" not in plan.split("binder/environment.yml")[0]  # binder/ takes precedence
    assert "./binder/postBuild" in plan  # installs the mrl_lab package itself
    assert 'R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in plan  # sets the default budget


def test_binder_defaults_to_the_cpu_budget_and_opens_the_quickstart():
    start = (REPO / "binder" / "start").read_text()
    assert 'MRL_LAB_BUDGET="${MRL_LAB_BUDGET:-cpu}"' in start and 'exec "$@"' in start
    readme = (REPO / "README.md").read_text()
    assert "mybinder.org/v2/" in readme and "urlpath=lab/tree/notebooks/00_quickstart.ipynb" in readme


# Notebooks measured over Binder's 1.5 GB with PyTorch's CUDA build on a CPU machine, at which budgets,
# and why (the guide's smoke and cpu columns, from an empty cache; benchmarks/RESULTS.md). The test fails
# once a listed notebook fits at a listed budget, so the list can only shrink. With the CPU-only build,
# which Binder and ./lab start install where there is no NVIDIA GPU, every notebook fits at cpu (the
# guide's last column, checked below).
OVER_BINDERS_LIMIT: dict[str, tuple[str, ...]] = {
    "01_cifar10": ("smoke", "cpu"),  # loading the decoded CIFAR-10 arrays; two training workers at cpu
    "02_text": ("smoke", "cpu"),  # text.evaluate's every-size loop, measured before its fix (fc74528)
    "03_pretrained_text": ("cpu",),  # the fine-tunes' shared frozen bottom
    "04_adaptive": ("smoke", "cpu"),  # drawing and searching the grown database
    "05_design_choices": ("cpu",),  # two text models side by side, for the step timing
    "06_check": ("cpu",),  # fine-tuning MiniLM when 03's model is not cached
    "07_beyond_the_prefix": ("smoke", "cpu"),  # the 2D Matryoshka fine-tunes and their vectors at every depth
}


def guide_memory_table() -> tuple[str, dict[str, str]]:
    """The header line of the guide's "Time and memory per notebook" table, and its rows by notebook name."""
    guide = (REPO / "docs" / "workshop.md").read_text()
    start = guide.index("## Time and memory per notebook")
    lines = guide[start : guide.index("\n## ", start)].splitlines()
    header = next(line for line in lines if line.startswith("| notebook"))
    return header, {line.split("|")[1].strip(" `"): line for line in lines if line.startswith("| `")}


def test_the_workshop_guide_gives_time_and_peak_memory_for_every_notebook_under_binders_limit():
    _, rows = guide_memory_table()
    notebooks = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))
    assert sorted(rows) == notebooks, "add a row to the guide's table for every notebook (and only those)"
    for name, row in rows.items():
        smoke_time, smoke_memory, cpu_time, cpu_memory = (cell.strip() for cell in row.split("|")[2:6])
        assert smoke_time.endswith(" s") and "min" in cpu_time, f"{name}: measured smoke and cpu times expected"
        for budget, memory in (("smoke", smoke_memory), ("cpu", cpu_memory)):
            peaks = [float(x) for x in memory.replace("(", " ").replace(")", " ").split() if x[0].isdigit()]
            assert peaks, f"{name}: peak memory {memory!r} must be measured"
            if budget in OVER_BINDERS_LIMIT.get(name, ()):
                assert max(peaks) >= 1.5, f"{name} now fits under 1.5 GB at {budget}: shrink OVER_BINDERS_LIMIT"
            else:
                assert max(peaks) < 1.5, f"{name}: peak memory {memory!r} at {budget} must be < 1.5 GB"


def test_with_the_cpu_only_build_every_notebook_fits_binder_at_cpu_in_the_guide():
    header, rows = guide_memory_table()
    assert header.split("|")[-2].strip() == "`cpu` peak, CPU-only build", "the guide's last column: the CPU-only build"
    for name, line in rows.items():
        peak = line.split("|")[-2].strip()
        shared_once = [float(x) for x in re.findall(r"\(([\d.]+)\)", peak)]  # in brackets: as a container counts
        assert shared_once, f"{name}: the CPU-only build's peak {peak!r} needs its figure in brackets"
        assert max(shared_once) <= 1.5, f"{name}: {peak!r} with the CPU-only build at cpu is over Binder's 1.5 GB"
