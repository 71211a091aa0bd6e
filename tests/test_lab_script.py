"""``./lab``'s choice of PyTorch build: the CPU-only build on Linux without an NVIDIA GPU, as PyTorch's install
selector chooses it, the default build otherwise, and ``MRL_LAB_TORCH`` to force either."""

import os
import platform
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def choice(tmp_path, with_gpu: bool, forced: str | None = None):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "nvidia-smi"
    if with_gpu:
        fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI (test double)'\n")
        fake.chmod(0o755)
    elif fake.exists():
        fake.unlink()
    env = {k: v for k, v in os.environ.items() if k != "MRL_LAB_TORCH"}
    env["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    if forced is not None:
        env["MRL_LAB_TORCH"] = forced
    return subprocess.run([str(REPO / "lab"), "torch-build"], env=env, capture_output=True, text=True)


@pytest.mark.skipif(platform.system() != "Linux", reason="the CPU-only choice is made on Linux only")
def test_linux_without_an_nvidia_gpu_gets_the_cpu_build_and_with_one_the_default(tmp_path):
    assert choice(tmp_path, with_gpu=False).stdout.strip() == "cpu"
    assert choice(tmp_path, with_gpu=True).stdout.strip() == "default"


def test_mrl_lab_torch_forces_a_build_and_a_wrong_value_is_refused(tmp_path):
    assert choice(tmp_path, with_gpu=False, forced="default").stdout.strip() == "default"
    assert choice(tmp_path, with_gpu=True, forced="cpu").stdout.strip() == "cpu"
    wrong = choice(tmp_path, with_gpu=False, forced="gpu")
    assert wrong.returncode == 2 and "MRL_LAB_TORCH=gpu: use cpu, default" in wrong.stderr


def test_torch_check_passes_on_the_labs_own_venv_and_names_both_versions_when_the_pair_is_broken(tmp_path):
    """pip's own settings can pair a CPU-only torch with a torchvision built for another torch: setup checks the
    pair loads, and if not, says so in one line and installs the default build of both instead."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    good = subprocess.run([str(REPO / "lab"), "torch-check"], env=env, capture_output=True, text=True)
    assert good.returncode == 0 and good.stdout == "" and good.stderr == ""
    broken = tmp_path / "torchvision"  # imports first on PYTHONPATH, and fails as a mismatched build does
    broken.mkdir()
    (broken / "__init__.py").write_text("raise RuntimeError('operator torchvision::nms does not exist')\n")
    bad = subprocess.run([str(REPO / "lab"), "torch-check"], env=dict(env, PYTHONPATH=str(tmp_path)),
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 1
    line = bad.stderr.strip()
    assert line.startswith("torch ") and "and torchvision " in line and "do not load together" in line
    assert "(RuntimeError: operator torchvision::nms does not exist)" in line and "\n" not in line
