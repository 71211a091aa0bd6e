import inspect
import subprocess
import sys

import mrl_lab
from mrl_lab.__main__ import main

PUBLIC = [
    "nesting_dims",
    "truncate",
    "MRLHead",
    "MatryoshkaLoss",
    "InfoNCE",
    "PCA",
    "linear_probe_correct",
    "head_accuracy",
    "knn_accuracy",
    "recall_at_k",
    "topk_overlap",
    "knee",
    "search",
    "load_cifar10",
    "load_cifar100",
    "load_ag_news",
    "load_sts_benchmark",
    "get_budget",
    "train",
    "encode",
    "seed_everything",
    "random_crop_flip",
    "ConvNet",
    "Classifier",
]


def test_every_public_name_exists_with_a_docstring_that_has_an_example():
    for name in PUBLIC:
        obj = getattr(mrl_lab, name)
        doc = inspect.getdoc(obj) or ""
        assert "Example" in doc and ">>>" in doc, f"mrl_lab.{name} needs a docstring with an Example"
    assert set(PUBLIC) <= set(mrl_lab.__all__)


def test_functions_that_take_arguments_document_them():
    for name in ["nesting_dims", "truncate", "MRLHead", "MatryoshkaLoss", "train", "load_cifar10", "get_budget"]:
        assert "Args:" in inspect.getdoc(getattr(mrl_lab, name)), name


def test_paper_ideas_cite_the_paper():
    for name in ["nesting_dims", "MRLHead", "MatryoshkaLoss"]:
        assert "Matryoshka Representation Learning" in inspect.getdoc(getattr(mrl_lab, name)), name


def test_the_core_never_imports_jupyter():
    code = (
        "import sys, mrl_lab, mrl_lab.plots; "
        "bad = [m for m in ('ipywidgets', 'IPython', 'ipykernel', 'jupyter_client') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_doctor_names_the_device_budget_and_datasets(shared_data, monkeypatch, capsys):
    monkeypatch.setenv("MRL_LAB_DATA", str(shared_data))
    monkeypatch.setenv("MRL_LAB_BUDGET", "smoke")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "Budget: smoke (from MRL_LAB_BUDGET)" in out
    assert "Device: CPU" in out or "Device: CUDA GPU" in out
    for name in ("CIFAR-10  found at", "AG News   found at", "STS-B     found at"):
        assert name in out
    assert "test split only" in out


def test_doctor_says_what_to_do_about_missing_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MRL_LAB_DATA", str(tmp_path))
    monkeypatch.setenv("MRL_LAB_CACHE", str(tmp_path / "cache"))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "CIFAR-10  not found" in out and "set MRL_LAB_DATA" in out


def test_doctor_runs_as_a_module():
    result = subprocess.run([sys.executable, "-m", "mrl_lab", "doctor"], capture_output=True, text=True)
    assert "mrl-lab doctor" in result.stdout and "Budget:" in result.stdout, result.stderr
