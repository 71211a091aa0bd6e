"""The `gpu` budget's code path, run on the CPU at a tiny size, so that a run on a GPU cannot meet a path
CI never ran: each experiment's `gpu` row (its recipe, with only the data sizes made tiny), the trainer
in bf16 autocast (on the CPU, as it runs on CUDA), channels-last images and the data kept on the
training device."""

import pytest
import torch
from torch import nn

from mrl_lab.data.images import CIFAR10_CLASSES, ImageData
from mrl_lab.data.text import AGNews, SentencePairs, TextData
from mrl_lab.evaluation.results import curves
from mrl_lab.experiments import cifar, pretrained, text
from mrl_lab.training import trainer


@pytest.fixture
def bf16(monkeypatch):
    """The trainer's and encode's autocast in bf16 on the CPU, as on CUDA; records every device it ran on."""
    used = []

    def autocast(device):
        used.append(device.type)
        return torch.autocast("cpu", dtype=torch.bfloat16)

    monkeypatch.setattr(trainer, "_autocast", autocast)
    return used


def images(n, seed):
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    return ImageData(pixels, torch.arange(n) % 10, CIFAR10_CLASSES, f"generated {seed}")


def test_the_gpu_cifar_recipe_trains_every_model_and_evaluates_in_bf16_with_channels_last(tmp_cache, bf16):
    gpu = cifar.settings("gpu", train_images=40, batch_size=20, epochs=2, width=4, embed_dim=16, test_images=20)
    assert not gpu.progressive and gpu.per_size is None  # the gpu row: full-size images, a network for every size
    data = cifar.Data(images(40, 0), images(20, 1))
    models = cifar.train_all(gpu, data, progress=False)
    assert list(models) == cifar.methods(gpu) and len(models) == 3 + len(gpu.dims) - 1  # every FF-d
    first_conv = next(m for m in models["MRL"][0].modules() if isinstance(m, nn.Conv2d))
    assert first_conv.weight.is_contiguous(memory_format=torch.channels_last)
    results = cifar.evaluate(gpu, data, models)
    head = curves(results, "head accuracy")
    assert set(head["FF"]) == set(gpu.dims) and results["value"].between(0, 1).all()
    assert bf16 and set(bf16) == {"cpu"}  # training and embedding both went through the autocast


def test_the_gpu_text_recipe_trains_every_per_size_model_in_bf16(tmp_cache, bf16):
    gpu = text.settings("gpu", embed_dim=32, hidden=16, epochs=1, batch_size=16, max_words=100, buckets=64)
    assert gpu.max_pairs is None and gpu.per_size is None  # every pair, a model for every size
    rows = [(f"topic {i % 4} title {i}", f"about topic {i % 4}, story {i}") for i in range(48)]
    pairs = TextData([t for t, _ in rows], [d for _, d in rows], torch.arange(48) % 4, source="generated")
    sts = SentencePairs(["a topic", "story one"], ["the topic", "one story"], torch.tensor([4.0, 1.0]), "generated")
    data = text.load_data(gpu, AGNews(pairs, pairs.take(range(8)), pairs.take(range(16)), "tiny"), sts)
    assert len(data.train) == 48  # max_pairs None: the whole training split
    models = text.train_all(gpu, data, progress=False)
    assert list(models) == text.methods(gpu) == ["normal", "MRL", "FF-8", "FF-16"]
    results = text.evaluate(gpu, data, models)
    assert set(curves(results, "recall@10")["FF"]) == {8, 16, 32} and bf16


def test_the_gpu_fine_tune_recipe_runs_the_whole_model_from_the_published_start(encoder_folder, tmp_cache, bf16):
    gpu = pretrained.settings("gpu", train_pairs=6, batch_size=3, max_tokens=32, per_size=(16,))
    assert gpu.frozen_layers == 0 and gpu.start == "pretrained" and gpu.epochs > 1  # the gpu row's recipe
    texts = [f"headline number {i} about markets" for i in range(6)], [f"a story {i} on prices" for i in range(6)]
    pairs = TextData(*texts, torch.zeros(6, dtype=torch.long), source="generated")
    sts = SentencePairs(texts[0][:3], texts[1][:3], torch.tensor([1.0, 2.0, 3.0]), "generated")
    data = pretrained.Data(encoder_folder, "test", pairs, pairs, sts, [], "tiny")
    tuned = pretrained.train_all(gpu, data, only=["MRL"], keep=("MRL",), progress=False)
    assert not tuned["MRL"]["meta"]["cached"] and tuned["MRL"]["vectors"]["titles"].shape == (6, 384)
    assert len(tuned["MRL"]["model"]) == 3  # the published model's modules, no PCA start appended
    assert bf16  # the fine-tune trained in the autocast
