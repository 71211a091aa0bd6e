"""The instructor copy (``./lab instructor``): notebooks executed into .ipynb, HTML and an index; sources untouched."""

import os
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from mrl_lab.lab.instructor import kernel_environment, main, run_notebooks

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "notebooks" / "00_quickstart.ipynb"


def index_row(out, name):
    """The status cell of ``name``'s row in ``out/index.html``."""
    found = re.search(rf"<td>{name}</td><td>([^<]*)</td>", (out / "index.html").read_text())
    assert found, f"{name} is not listed in {out / 'index.html'}"
    return found.group(1)


def test_the_quickstart_runs_into_an_executed_notebook_html_and_an_index(shared_data, tmp_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("MRL_LAB_DATA", str(shared_data))
    before = QUICKSTART.read_bytes()
    out = tmp_path / "out"
    [run] = run_notebooks([QUICKSTART], "smoke", out)
    assert run.ok, run.error
    assert QUICKSTART.read_bytes() == before, "the source notebook must stay as committed (stripped)"
    executed = nbformat.read(out / "00_quickstart.ipynb", as_version=4)
    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code) and sum(len(cell.outputs) for cell in code) > len(code)
    page = (out / "00_quickstart.html").read_text()
    assert "MatryoshkaLoss equals the loop: True" in page  # a line the notebook prints
    assert "budget=smoke" in page  # the kernel ran at the budget asked for
    assert "Plotly.newPlot" in page, "the charts must be drawn in the static page too, not only as plotly's JSON"
    assert index_row(out, "00_quickstart") == "ok"
    assert 'href="00_quickstart.html"' in (out / "index.html").read_text()
    assert not list(out.glob("*.tmp")), "no temporary file may be left beside the finished ones"


def write_notebook(path, *sources):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)


def test_a_failing_notebook_is_written_with_its_error_and_the_next_one_still_runs(tmp_path, tmp_cache, capsys):
    folder, out = tmp_path / "notebooks", tmp_path / "out"
    folder.mkdir()
    write_notebook(folder / "10_fails.ipynb", 'print("before the error")', 'raise ValueError("boom")', 'print("never")')
    write_notebook(folder / "20_works.ipynb", 'import os\nprint("budget", os.environ["MRL_LAB_BUDGET"], os.getcwd())')
    write_notebook(folder / "30_hangs.ipynb", "import time\ntime.sleep(60)")
    sources = {p: p.read_bytes() for p in folder.iterdir()}
    status = main(["--budget", "smoke", "--notebooks", str(folder), "--out", str(out), "--timeout", "3"])
    printed = capsys.readouterr().out
    assert status == 1, "a run with a failed notebook must exit non-zero"
    assert re.search(r"10_fails: [\d.]+ s, failed: ValueError: boom", printed), printed
    assert re.search(r"20_works: [\d.]+ s, ok", printed), printed
    page = (out / "10_fails.html").read_text()
    assert "before the error" in page and "ValueError" in page and "boom" in page  # its output, then its error
    after = nbformat.read(out / "10_fails.ipynb", as_version=4).cells[2]
    assert not after.outputs, "the cells after the failing one did not run"
    assert index_row(out, "10_fails") == "failed: ValueError: boom"
    assert index_row(out, "20_works") == "ok"
    assert index_row(out, "30_hangs") == "failed: A cell timed out while it was being executed, after 3 seconds."
    assert f"budget smoke {folder.resolve()}" in (out / "20_works.html").read_text()  # budget set, run in its folder
    assert {p: p.read_bytes() for p in folder.iterdir()} == sources, "the source notebooks must not be written"


def test_bad_inputs_name_the_function_the_value_and_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"run_notebooks: unknown budget 'huge'; choose one of smoke, cpu, gpu"):
        run_notebooks([QUICKSTART], "huge", tmp_path / "out")
    with pytest.raises(FileNotFoundError, match=r"run_notebooks: notebook '.*99_missing.ipynb' does not exist; pass"):
        run_notebooks([tmp_path / "99_missing.ipynb"], "smoke", tmp_path / "out")
    (tmp_path / "a_file").write_text("")
    with pytest.raises(
        NotADirectoryError, match=r"run_notebooks: the output folder '.*a_file' is a file; pass another"
    ):
        run_notebooks([QUICKSTART], "smoke", tmp_path / "a_file")
    with pytest.raises(ValueError, match=r"holds the source notebooks, which would be overwritten"):
        run_notebooks([QUICKSTART], "smoke", QUICKSTART.parent)
    (tmp_path / "00_quickstart.ipynb").write_bytes(QUICKSTART.read_bytes())
    with pytest.raises(ValueError, match=r"two notebooks named \['00_quickstart'\] would write the same files"):
        run_notebooks([QUICKSTART, tmp_path / "00_quickstart.ipynb"], "smoke", tmp_path / "out")
    assert not (tmp_path / "out").exists(), "nothing is created before the inputs are checked"


def test_an_unknown_notebook_prefix_is_an_error_that_lists_the_notebooks(capsys):
    assert main(["--budget", "smoke", "--only", "99"]) == 2
    error = capsys.readouterr().err
    assert "select_notebooks: no notebook in" in error and "starts with '99'" in error and "00_quickstart" in error


def test_the_kernel_environment_is_set_inside_and_restored_after(monkeypatch):
    monkeypatch.setenv("MRL_LAB_BUDGET", "gpu")
    monkeypatch.setenv("MRL_LAB_DATA", "relative/data")
    with kernel_environment("smoke"):
        assert os.environ["MRL_LAB_BUDGET"] == "smoke"
        assert os.path.isabs(os.environ["MRL_LAB_DATA"])  # kernels run in the notebooks' folder, not here
    assert os.environ["MRL_LAB_BUDGET"] == "gpu" and os.environ["MRL_LAB_DATA"] == "relative/data"


def test_the_lab_script_offers_the_instructor_command():
    done = subprocess.run([str(REPO / "lab"), "no-such-command"], capture_output=True, text=True)
    assert done.returncode == 2 and "./lab instructor [--budget" in done.stderr
