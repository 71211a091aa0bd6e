"""The trainer under torchrun: two CPU processes (gloo) take the same steps as one process."""

import os
import subprocess
import sys

import torch

SCRIPT = """
import sys

import torch
from torch import nn

import mrl_lab
from mrl_lab.core.loss import MatryoshkaLoss
from mrl_lab.core.heads import MRLHead
from mrl_lab.training import model_cache
from mrl_lab.training.trainer import TrainSettings
from mrl_lab.training.distributed import rank_and_world, start_from_env

device = start_from_env()
folder, out = sys.argv[1], sys.argv[2]
g = torch.Generator().manual_seed(0)
x = torch.randn(256, 8, generator=g)
y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()


def build():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), MRLHead(16, 4, [4, 8, 16]))


model, key = build(), {"name": "ddp-test"}
if model_cache.load(key, model, folder) is None:
    loss = MatryoshkaLoss(nn.CrossEntropyLoss(), [4, 8, 16])
    log = mrl_lab.train(model, loss, x, y, TrainSettings(epochs=2, batch_size=32), device=device, progress="ddp")
    model_cache.save(key, model, log, folder)
rank, world = rank_and_world()
torch.save(model.state_dict(), f"{out}-rank{rank}.pt")
print(f"rank {rank} of {world} finished")
"""


def run(tmp_path, name, launcher):
    script = tmp_path / "train_tiny.py"
    script.write_text(SCRIPT)
    folder, out = tmp_path / f"cache-{name}", tmp_path / name
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([*launcher, str(script), str(folder), str(out)], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return folder, out, done.stdout + done.stderr


def test_two_processes_train_the_same_model_as_one(tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    folder, out, shown = run(tmp_path, "two", torchrun)
    _, single_out, _ = run(tmp_path, "one", [sys.executable])
    one = torch.load(f"{single_out}-rank0.pt", weights_only=True)
    for rank in (0, 1):  # each rank's copy: the one-process weights, up to the order of float additions
        two = torch.load(f"{out}-rank{rank}.pt", weights_only=True)
        for key in one:
            torch.testing.assert_close(two[key], one[key], atol=1e-5, rtol=1e-4, msg=f"rank {rank}, {key}")
    assert "rank 1 of 2 finished" in shown and "rank 0 of 2 finished" in shown
    assert len(list(folder.glob("*.pt"))) == 1, "only rank 0 writes the cache"
    assert shown.count("ddp: epoch 1/2") == 1, "only rank 0 prints progress"
