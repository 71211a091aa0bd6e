import inspect
import subprocess
import sys

import mrl_lab
import mrl_lab.core
import mrl_lab.data
import mrl_lab.evaluation
import mrl_lab.models
import mrl_lab.runtime
import mrl_lab.training
from mrl_lab.cli import main

METHOD = ["InfoNCE", "MRLHead", "MatryoshkaLoss", "nesting_dims", "truncate", "train", "encode"]
PUBLIC = {  # what a learner calls by name, and where it lives
    mrl_lab: METHOD,
    mrl_lab.evaluation: ["PCA", "linear_probe_correct", "head_accuracy", "knn_accuracy", "recall_at_k", "topk_overlap",
                         "knee", "search"],
    mrl_lab.data: ["load_cifar10", "load_cifar100", "load_ag_news", "load_sts_benchmark"],
    mrl_lab.runtime: ["get_budget"],
    mrl_lab.training: ["seed_everything", "random_crop_flip"],
    mrl_lab.models: ["ConvNet", "Classifier"],
}  # fmt: skip


def test_the_top_level_exports_the_method_and_nothing_else():
    assert sorted(mrl_lab.__all__) == sorted(METHOD)


def test_every_public_name_exists_with_a_docstring_that_has_an_example():
    for package, names in PUBLIC.items():
        for name in names:
            obj = getattr(package, name)
            doc = inspect.getdoc(obj) or ""
            assert "Example" in doc and ">>>" in doc, f"{package.__name__}.{name} needs a docstring with an Example"
        assert set(names) <= set(package.__all__), package.__name__


def test_functions_that_take_arguments_document_them():
    for obj in [mrl_lab.nesting_dims, mrl_lab.truncate, mrl_lab.MRLHead, mrl_lab.MatryoshkaLoss, mrl_lab.train,
                mrl_lab.data.load_cifar10, mrl_lab.runtime.get_budget]:  # fmt: skip
        assert "Args:" in inspect.getdoc(obj), obj.__name__


def test_paper_ideas_cite_the_paper():
    for name in ["nesting_dims", "MRLHead", "MatryoshkaLoss"]:
        assert "Matryoshka Representation Learning" in inspect.getdoc(getattr(mrl_lab, name)), name


def test_the_core_never_imports_jupyter():
    code = (
        "import sys, mrl_lab, mrl_lab.lab.plots; "
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
