import dataclasses

import pytest
import torch

from mrl_lab.experiments import adaptor, cifar, pretrained, text
from mrl_lab.runtime.budget import get_budget
from mrl_lab.training.model_cache import checkpoint_path, settings_key


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


@pytest.mark.parametrize("experiment", [cifar, text, pretrained, adaptor], ids=lambda m: m.__name__)
def test_every_experiment_has_the_same_shape(experiment):
    rows = experiment.SETTINGS
    assert set(rows) == {"smoke", "cpu", "gpu"}
    assert all(type(row) is experiment.Settings for row in rows.values())  # one table, one row per budget
    assert experiment.Settings.__dataclass_params__.frozen  # a row cannot be changed by accident: settings() copies
    assert experiment.settings("cpu") == rows["cpu"] and experiment.settings("smoke", seed=1).seed == 1
    for part in ("Data", "methods", "train", "train_all"):
        assert callable(getattr(experiment, part)), f"{experiment.__name__} has no {part}"
    if experiment is not adaptor:  # (adaptors are measured in the pretrained experiment's table)
        assert {"load_data", "evaluate"} <= set(dir(experiment))
        assert {"epochs", "lr", "weight_decay", "warmup", "seed"} <= {f.name for f in dataclasses.fields(rows["cpu"])}


def test_budgets_grow_from_smoke_to_gpu():
    rows = cifar.SETTINGS
    assert rows["smoke"].train_images < rows["cpu"].train_images <= rows["gpu"].train_images == 50000
    assert rows["cpu"].test_images == rows["gpu"].test_images == 10000  # every CIFAR-10 test image from cpu up


def test_a_changed_setting_is_a_new_model_and_an_unknown_one_is_named():
    smoke = get_budget("smoke")
    model = cifar.build(cifar.settings(smoke), "MRL")
    base, changed = settings_key(cifar.settings(smoke)), settings_key(cifar.settings(smoke, warmup=0.1))
    assert checkpoint_path(dict(base, name="m"), model) != checkpoint_path(dict(changed, name="m"), model)
    with pytest.raises(ValueError, match=r"cifar.settings: unknown setting 'epoch'"):
        cifar.settings(smoke, epoch=3)


def test_unknown_budget_names_the_value_and_the_choices(monkeypatch):
    monkeypatch.setenv("MRL_LAB_BUDGET", "laptop")
    with pytest.raises(ValueError, match="unknown budget 'laptop'; choose one of 'smoke', 'cpu', 'gpu'"):
        get_budget()
