"""The package's layers, checked from its source: imports go one way only (docs/architecture.md)."""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mrl_lab"
# Each subpackage's layer: a module may import from its own subpackage and from lower layers only.
LAYERS = {
    "core": 0,
    "runtime": 1,
    "data": 2,
    "models": 2,
    "training": 3,
    "evaluation": 4,
    "serving": 5,
    "experiments": 6,
    "lab": 7,
    "cli": 8,
    "__init__": 8,
    "__main__": 9,
}
JUPYTER_SIDE = {"ipywidgets", "IPython", "ipykernel", "plotly", "jupyter_client"}


def modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def part_of(path: Path) -> str:
    """The subpackage a file belongs to (``core``, ``data``, ...), or the top-level module's name."""
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported(path: Path):
    """``(line, name imported)`` for every import in the file, relative ones made absolute; ``from A import b``
    gives ``A.b``, so that ``from mrl_lab import experiments`` is seen as importing ``mrl_lab.experiments``."""
    tree = ast.parse(path.read_text())
    package = ".".join(("mrl_lab", *path.relative_to(PACKAGE).parent.parts))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                above = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{above}.{node.module}" if node.module else above
            yield from ((node.lineno, f"{base}.{alias.name}") for alias in node.names)


def layer_of(name: str) -> str:
    """The part of the package an imported ``mrl_lab.…`` name belongs to (a name of the top level: ``__init__``)."""
    part = name.split(".")[1]
    return part if part in LAYERS else "__init__"


def test_every_subpackage_has_a_layer():
    assert {part_of(p) for p in modules()} <= set(LAYERS)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_one_way_only(path):
    mine = part_of(path)
    for line, name in imported(path):
        if not name.startswith("mrl_lab."):
            continue
        theirs = layer_of(name)
        assert theirs == mine or LAYERS[theirs] < LAYERS[mine], (
            f"{path.relative_to(PACKAGE)}:{line} imports {name}: {mine} (layer {LAYERS[mine]}) may import only from "
            f"its own subpackage and lower layers, and {theirs} is layer {LAYERS[theirs]}"
        )


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").glob("*.py")), ids=lambda p: p.name)
def test_the_core_imports_torch_and_the_standard_library_only(path):
    for line, name in imported(path):
        top = name.split(".")[0]
        assert top in sys.stdlib_module_names or top == "torch" or name.startswith("mrl_lab.core"), (
            f"core/{path.name}:{line} imports {name}; the method must need nothing but torch"
        )


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_lab_imports_jupyter_side_libraries(path):
    if part_of(path) == "lab":
        return
    for line, name in imported(path):
        assert name.split(".")[0] not in JUPYTER_SIDE, f"{path.relative_to(PACKAGE)}:{line} imports {name}"


def test_the_checker_catches_an_import_against_the_direction(tmp_path, monkeypatch):
    fake = tmp_path / "mrl_lab"
    (fake / "core").mkdir(parents=True)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    for bad in ("from mrl_lab.experiments import cifar", "from mrl_lab import experiments", "from .. import lab",
                "from ..lab import plots", "from mrl_lab import train", "import mrl_lab.serving.ann"):  # fmt: skip
        (fake / "core" / "bad.py").write_text(bad + "\n")
        with pytest.raises(AssertionError, match="core .layer 0. may import only"):
            test_imports_go_one_way_only(fake / "core" / "bad.py")
    (fake / "core" / "good.py").write_text("from mrl_lab.core.checks import check_dims\nfrom . import checks\n")
    test_imports_go_one_way_only(fake / "core" / "good.py")  # its own subpackage: allowed


def functions():
    """``(path, function node)`` for every function in the package."""
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path, node


def code_lines(node) -> int:
    """A function's lines without its docstring: what a reader has to hold."""
    body = node.body
    has_doc = body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
    start = body[1].lineno if has_doc and len(body) > 1 else node.lineno
    return node.end_lineno - start + 1 + (1 if has_doc else 0)


def parameters(node) -> int:
    a = node.args
    names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs] + [x.arg for x in (a.vararg, a.kwarg) if x]
    return len([n for n in names if n not in ("self", "cls")])


def test_every_function_is_short_enough_to_hold_or_says_why():
    too_long = []
    for path, node in functions():
        doc = ast.get_docstring(node) or ""
        if (code_lines(node) > 60 or parameters(node) > 8) and "Long because" not in doc:
            too_long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}: {code_lines(node)} lines of code, "
                            f"{parameters(node)} parameters")  # fmt: skip
    assert not too_long, "split these, or say in the docstring why not ('Long because ...'):\n" + "\n".join(too_long)


def test_no_code_comment_or_docstring_carries_a_date():
    import re

    dated = [f"{p.relative_to(PACKAGE)}:{i}" for p in modules() for i, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"\b20\d\d-\d\d-\d\d\b", line)]  # fmt: skip
    assert not dated, f"measurement history belongs in benchmarks/RESULTS.md, not in code: {dated}"
