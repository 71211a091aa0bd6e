import pytest
import torch

from mrl_lab.experiments import cifar, pretrained, text
from mrl_lab.runtime.budget import get_budget
from mrl_lab.training.model_cache import checkpoint_path


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


@pytest.mark.parametrize("experiment", [cifar, text, pretrained], ids=lambda m: m.__name__)
def test_each_experiment_has_one_settings_table_with_the_same_settings_at_every_budget(experiment):
    rows = experiment.SETTINGS
    assert set(rows) == {"smoke", "cpu", "gpu"}
    assert rows["smoke"].keys() == rows["cpu"].keys() == rows["gpu"].keys()  # every setting at every budget
    assert {"epochs", "lr", "weight_decay", "warmup", "seed"} <= rows[
        "cpu"
    ].keys()  # the recipe, not train()'s defaults


def test_budgets_grow_from_smoke_to_gpu():
    rows = cifar.SETTINGS
    assert rows["smoke"]["train_images"] < rows["cpu"]["train_images"] <= rows["gpu"]["train_images"] == 50000
    assert cifar.TEST_IMAGES["cpu"] == cifar.TEST_IMAGES["gpu"] == 10000  # every CIFAR-10 test image from cpu up


def test_a_changed_setting_is_a_new_model_and_an_unknown_one_is_named():
    smoke = get_budget("smoke")
    model = cifar.build("MRL", cifar.experiment_config(smoke))
    base, changed = cifar.experiment_config(smoke), cifar.experiment_config(smoke, warmup=0.1)
    assert checkpoint_path(dict(base, name="m"), model) != checkpoint_path(dict(changed, name="m"), model)
    with pytest.raises(ValueError, match=r"experiment_config: unknown settings \['epoch'\]"):
        text.experiment_config(smoke, train_rows=10, epoch=3)


def test_unknown_budget_names_the_value_and_the_choices(monkeypatch):
    monkeypatch.setenv("MRL_LAB_BUDGET", "laptop")
    with pytest.raises(ValueError, match="unknown budget 'laptop'; choose one of 'smoke', 'cpu', 'gpu'"):
        get_budget()
