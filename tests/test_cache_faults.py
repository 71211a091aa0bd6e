"""Caches under faults that really happen: a writer killed mid-write (SIGKILL), two processes needing one
model at once, a full disk, a read-only folder, and a training run interrupted by Ctrl-C. Each test says
what survives and what the next run does."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from mrl_lab.runtime import cache
from mrl_lab.runtime.cache import CacheWriteError, load_cached, save_atomic
from mrl_lab.training import model_cache
from mrl_lab.training.trainer import TrainSettings, train

REPO = Path(__file__).resolve().parents[1]


def python(code: str, env: dict, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)  # fmt: skip


def test_a_writer_killed_before_its_rename_leaves_the_old_entry_and_the_next_run_reads_it(tmp_cache):
    entry = tmp_cache / "embeddings" / "entry.txt"
    save_atomic(entry, lambda f: f.write(b"old"))
    env = dict(os.environ, MRL_LAB_TEST_WRITE_PAUSE="30")
    writer = python(f"""
        from pathlib import Path
        from mrl_lab.runtime.cache import save_atomic
        save_atomic(Path({str(entry)!r}), lambda f: f.write(b"new, but never renamed"))
    """, env)  # fmt: skip
    line = writer.stderr.readline()  # the writer says when it has written the temporary file
    assert "pausing before renaming" in line, line + writer.stderr.read()
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    assert entry.read_bytes() == b"old"  # the old entry, whole
    assert load_cached(entry, lambda p: p.read_text(), "demo") == "old"
    left = list(entry.parent.glob("*.tmp"))
    assert len(left) == 1  # the killed writer's temporary file, never read as an entry
    os.utime(left[0], (time.time() - 7200, time.time() - 7200))
    save_atomic(entry, lambda f: f.write(b"next"))  # the next write sweeps temporary files over an hour old
    assert entry.read_bytes() == b"next" and not list(entry.parent.glob("*.tmp"))


def test_a_writer_killed_with_no_old_entry_leaves_none_and_the_model_trains_again(tmp_cache):
    env = dict(os.environ, MRL_LAB_TEST_WRITE_PAUSE="30")
    code = """
        import torch
        from torch import nn
        from mrl_lab.training import model_cache
        from mrl_lab.training.trainer import TrainSettings, train
        torch.manual_seed(0)
        x, y, model = torch.randn(32, 4), torch.randint(0, 2, (32,)), nn.Linear(4, 2)
        fit = lambda: train(model, nn.CrossEntropyLoss(), x, y, TrainSettings(epochs=1, batch_size=8), progress=None)
        print(model_cache.load_or_train({"name": "probe"}, model, fit)["cached"])
    """
    writer = python(code, env)
    assert "pausing before renaming" in writer.stderr.readline()
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    assert model_cache.load({"name": "probe"}, nn.Linear(4, 2)) is None  # no entry: none half-written either
    again = python(code, dict(os.environ))
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0 and out.strip() == "False", err  # trained afresh (the lock was not left held)


def test_two_processes_needing_one_model_train_it_once_and_the_other_waits_then_loads(tmp_cache, tmp_path):
    log = tmp_path / "trained.log"
    code = f"""
        import time
        import torch
        from torch import nn
        from mrl_lab.training import model_cache
        from mrl_lab.training.trainer import TrainSettings, train
        torch.manual_seed(0)
        x, y, model = torch.randn(32, 4), torch.randint(0, 2, (32,)), nn.Linear(4, 2)

        def fit():
            with open({str(log)!r}, "a") as f:
                f.write("trained\\n")
            time.sleep(4)  # long enough for the other process to arrive while this one trains
            return train(model, nn.CrossEntropyLoss(), x, y, TrainSettings(epochs=1, batch_size=8), progress=None)

        meta = model_cache.load_or_train({{"name": "shared"}}, model, fit)
        print("cached" if meta["cached"] else "trained", model.weight.sum().item())
    """
    first = python(code, dict(os.environ))
    time.sleep(1.5)
    second = python(code, dict(os.environ))
    (out1, err1), (out2, err2) = first.communicate(timeout=120), second.communicate(timeout=120)
    assert first.returncode == second.returncode == 0, err1 + err2
    assert log.read_text() == "trained\n"  # the training time was spent once
    (said1, weights1), (said2, weights2) = out1.splitlines()[-1].split(), out2.splitlines()[-1].split()
    assert said1 == "trained" and said2 == "cached" and weights1 == weights2  # the same weights
    assert "another process is building" in out2


@pytest.mark.parametrize("fault", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_full_disk_or_a_read_only_folder_says_what_to_do_and_keeps_the_old_entry(fault, tmp_cache, monkeypatch):
    entry = tmp_cache / "models" / "entry.pt"
    save_atomic(entry, lambda f: f.write(b"old"))

    def no_room(f):
        raise OSError(fault, os.strerror(fault))

    with pytest.raises(CacheWriteError, match="MRL_LAB_CACHE") as raised:
        save_atomic(entry, no_room)
    assert "Files already there are untouched" in str(raised.value) and str(entry) in str(raised.value)
    assert entry.read_bytes() == b"old" and not list(entry.parent.glob("*.tmp"))
    # a folder that refuses new files at all (mkstemp fails): the same clear error
    monkeypatch.setattr(cache.tempfile, "mkstemp", lambda **kw: (_ for _ in ()).throw(OSError(fault, "refused")))
    with pytest.raises(CacheWriteError, match="MRL_LAB_CACHE"):
        save_atomic(entry, lambda f: f.write(b"new"))
    assert entry.read_bytes() == b"old"


def test_a_write_outside_the_cache_names_the_folder_not_mrl_lab_cache(tmp_cache, tmp_path):
    def full(f):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(CacheWriteError, match="choose a writable folder") as raised:
        save_atomic(tmp_path / "report" / "results.csv", full)
    assert "MRL_LAB_CACHE" not in str(raised.value)


def test_a_training_run_interrupted_by_ctrl_c_caches_nothing_and_the_next_run_trains_afresh(tmp_cache):
    torch.manual_seed(0)
    x, y, model = torch.randn(64, 4), torch.randint(0, 2, (64,)), nn.Linear(4, 2)
    steps = []

    def interrupted(step, total, line):  # the trainer's report after each step: Ctrl-C arrives there
        steps.append(step)
        if step == 3:
            raise KeyboardInterrupt

    def fit(report):
        return lambda: train(model, nn.CrossEntropyLoss(), x, y, TrainSettings(epochs=2, batch_size=8), progress=report)

    with pytest.raises(KeyboardInterrupt):
        model_cache.load_or_train({"name": "interrupted"}, model, fit(interrupted))
    assert steps and model_cache.load({"name": "interrupted"}, nn.Linear(4, 2)) is None
    assert not list((tmp_cache / "models").glob("*.pt"))
    meta = model_cache.load_or_train({"name": "interrupted"}, model, fit(None))  # the lock was released
    assert meta["cached"] is False and model_cache.load({"name": "interrupted"}, nn.Linear(4, 2))["cached"]
