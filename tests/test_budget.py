import pytest
import torch

from mrl_lab import get_budget


def test_named_budget_says_what_it_chose(monkeypatch):
    monkeypatch.setenv("MRL_LAB_BUDGET", "smoke")
    b = get_budget()
    assert b.name == "smoke" and "from MRL_LAB_BUDGET" in str(b) and "device=" in str(b)


def test_unset_budget_is_cpu_without_cuda_and_gpu_with_it(monkeypatch):
    monkeypatch.delenv("MRL_LAB_BUDGET", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_budget().name == "cpu" and get_budget().device.type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_budget().name == "gpu" and get_budget().device.type == "cuda"


def test_budgets_grow_from_smoke_to_gpu():
    smoke, cpu, gpu = (get_budget(n) for n in ("smoke", "cpu", "gpu"))
    assert smoke.cifar_train < cpu.cifar_train <= gpu.cifar_train == 50000
    assert cpu.cifar_test == gpu.cifar_test == 10000  # every CIFAR-10 test image from the cpu budget up


def test_unknown_budget_names_the_value_and_the_choices(monkeypatch):
    monkeypatch.setenv("MRL_LAB_BUDGET", "laptop")
    with pytest.raises(ValueError, match="unknown budget 'laptop'; choose one of 'smoke', 'cpu', 'gpu'"):
        get_budget()
