import pytest
import torch
from torch import nn

from mrl_lab import MatryoshkaLoss, MRLHead, encode, train
from mrl_lab.models import Classifier, ConvNet
from mrl_lab.training import TrainSettings, random_crop_flip


def test_crop_flip_returns_a_shifted_or_flipped_copy_of_each_image():
    torch.manual_seed(0)
    x = torch.randint(1, 256, (16, 3, 6, 6), dtype=torch.uint8)
    out = random_crop_flip(x, pad=2)
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(len(x)):
        crops = [padded[i, :, dy : dy + 6, dx : dx + 6] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], c) or torch.equal(out[i], c.flip(2)) for c in crops)


def test_crop_flip_draws_per_image_and_covers_both_flips():
    torch.manual_seed(0)
    x = torch.arange(3 * 4 * 4, dtype=torch.float32).view(1, 3, 4, 4).repeat(200, 1, 1, 1)
    out = random_crop_flip(x, pad=0)
    flipped = (out == x.flip(3)).flatten(1).all(1)
    same = (out == x).flatten(1).all(1)
    assert bool((flipped | same).all()) and 50 < int(flipped.sum()) < 150


def test_crop_flip_cuts_smaller_windows_and_names_a_size_that_does_not_fit():
    torch.manual_seed(0)
    x = torch.randint(1, 256, (16, 3, 8, 8), dtype=torch.uint8)
    out = random_crop_flip(x, pad=0, size=5)
    assert out.shape == (16, 3, 5, 5)
    for i in range(len(x)):
        windows = [x[i, :, dy : dy + 5, dx : dx + 5] for dy in range(4) for dx in range(4)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(2)) for w in windows)
    with pytest.raises(ValueError, match=r"size=9 does not fit in 8x8 images padded by 0; choose 1 <= size <= 8"):
        random_crop_flip(x, pad=0, size=9)


def test_train_applies_one_augmentation_per_epoch_when_given_a_list():
    seen = []

    def tag(k):
        return lambda batch: seen.append(k) or batch

    x, y = torch.randn(32, 4), torch.zeros(32, dtype=torch.long)
    three = TrainSettings(epochs=3, batch_size=16)
    train(nn.Linear(4, 2), nn.CrossEntropyLoss(), x, y, three, augment=[tag(0), tag(1), tag(2)], progress=None)
    assert seen == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="2 augmentations for 3 epochs"):
        train(nn.Linear(4, 2), nn.CrossEntropyLoss(), x, y, three, augment=[tag(0)] * 2)


def test_train_learns_a_separable_problem_with_data_on_the_device():
    torch.manual_seed(0)
    x = torch.randn(512, 8)
    y = (x[:, 0] > 0).long()
    model = nn.Linear(8, 2)
    log = train(model, nn.CrossEntropyLoss(), x, y, TrainSettings(epochs=20, batch_size=64, lr=0.05), progress=None)
    assert log.losses[-1] < log.losses[0] and log.seconds > 0 and log.examples_per_s > 0
    assert (encode(model, x).argmax(1) == y).float().mean() > 0.95
    assert not model.training


def test_training_is_repeatable_with_a_seed():
    def run():
        torch.manual_seed(0)  # the model's initial weights and the data
        model = Classifier(ConvNet(16, width=4), MRLHead(16, 10, [4, 8, 16]))
        x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
        y = torch.arange(64) % 10
        loss = MatryoshkaLoss(nn.CrossEntropyLoss(), [4, 8, 16])
        train(
            model, loss, x, y, TrainSettings(epochs=1, batch_size=32, seed=3), augment=random_crop_flip, progress=None
        )
        return encode(model.encoder, x[:4])

    assert torch.equal(run(), run())


def test_nan_loss_stops_training_with_a_clear_message():
    x, y = torch.randn(64, 4), torch.zeros(64, dtype=torch.long)

    def nan_loss(out, target):
        return out.sum() * float("nan")

    with pytest.raises(FloatingPointError, match=r"the loss became nan at epoch 1.*Lower the learning rate"):
        train(nn.Linear(4, 2), nan_loss, x, y, TrainSettings(epochs=1, batch_size=16, check_every=2), progress=None)


def test_bad_training_input_is_named():
    with pytest.raises(ValueError, match="64 inputs but 10 targets"):
        train(nn.Linear(4, 2), nn.CrossEntropyLoss(), torch.randn(64, 4), torch.zeros(10), TrainSettings(1, 8))
    with pytest.raises(ValueError, match="batch_size=128 is larger than the 64 examples"):
        train(nn.Linear(4, 2), nn.CrossEntropyLoss(), torch.randn(64, 4), torch.zeros(64), TrainSettings(1, 128))


def test_encode_concatenates_tuple_outputs():
    head = MRLHead(8, 3, [4, 8])
    out = encode(head, torch.randn(10, 8), batch_size=3)
    assert [tuple(o.shape) for o in out] == [(10, 3), (10, 3)]


def test_the_loop_reads_the_loss_only_every_check_every_steps(monkeypatch):
    # On a GPU, each .item() waits for the device; the trainer must not do it every step (once per
    # epoch is fine: that epoch's mean loss is printed).
    # (AdamW's own .item() reads its step counter, which lives on the CPU: no device wait.)
    import sys

    reads = []
    original = torch.Tensor.item

    def counting_item(self):
        if sys._getframe(1).f_code.co_filename.endswith("mrl_lab/training/trainer.py"):
            reads.append(1)
        return original(self)

    monkeypatch.setattr(torch.Tensor, "item", counting_item)
    x, y = torch.randn(400, 4), torch.randint(0, 2, (400,))
    train(
        nn.Linear(4, 2),
        nn.CrossEntropyLoss(),
        x,
        y,
        TrainSettings(epochs=2, batch_size=10, check_every=20),
        progress=None,
    )
    assert len(reads) == 80 // 20 + 2  # 80 steps: one read per 20, and one per epoch for its line


def test_the_dataset_moves_to_the_training_device_once(monkeypatch):
    moved = []
    original = torch.Tensor.to

    def spy(self, *args, **kwargs):
        if self.shape[:1] == (64,):
            moved.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", spy)
    x = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    y = torch.arange(64) % 2
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
    model.forward = lambda images: nn.Sequential.forward(model, images.float() / 255)

    def loss_fn(out, target):
        return nn.functional.cross_entropy(out, target)

    train(
        model,
        loss_fn,
        x,
        y,
        TrainSettings(epochs=3, batch_size=16),
        augment=random_crop_flip,
        device="cpu",
        progress=None,
    )
    assert len(moved) == 2  # inputs and targets, once, not per batch


def test_training_prints_a_line_per_epoch_and_reports_every_step(capsys):
    x, y = torch.randn(40, 4), torch.randint(0, 2, (40,))
    two = TrainSettings(epochs=2, batch_size=10)
    train(nn.Linear(4, 2), nn.CrossEntropyLoss(), x, y, two, progress="tiny")
    lines = [line for line in "".join(capsys.readouterr()).splitlines() if line.startswith("tiny: epoch")]
    assert [line.split(",")[0] for line in lines] == ["tiny: epoch 1/2", "tiny: epoch 2/2"]
    calls = []
    train(nn.Linear(4, 2), nn.CrossEntropyLoss(), x, y, two, progress=lambda *a: calls.append(a))
    assert [c[0] for c in calls if c[2] is None] == list(range(1, 9))  # every step, of 8
    assert [(c[0], c[1]) for c in calls if c[2] is not None] == [(4, 8), (8, 8)]
    assert calls[-1][2].startswith("epoch 2/2, mean loss")  # whoever shows the line names the model
    assert "epoch" not in "".join(capsys.readouterr())  # a report function is shown nothing here


def test_an_experiments_settings_drive_the_trainer_and_a_missing_value_is_named():
    from mrl_lab.experiments import text

    assert TrainSettings.of(text.SETTINGS["cpu"]) == TrainSettings(epochs=20, batch_size=256, lr=3e-3, seed=0)

    class Partial:
        epochs, batch_size = 2, 8

    with pytest.raises(TypeError, match="has no lr, weight_decay, warmup, seed"):
        TrainSettings.of(Partial())
