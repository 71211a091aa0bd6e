import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def shared_data():
    """The offline copies of the datasets ($MRL_LAB_DATA, as CI sets it, or ../shared/data)."""
    path = Path(os.environ.get("MRL_LAB_DATA") or REPO.parent / "shared" / "data")
    if not (path / "cifar10").is_dir():
        pytest.skip(f"no offline dataset copies at {path}; set MRL_LAB_DATA to run the data tests on them")
    return path


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """A private cache directory, so tests neither read nor write the user's cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MRL_LAB_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def encoder_folder():
    """The offline copy of the pretrained sentence encoder (all-MiniLM-L6-v2)."""
    from mrl_lab.data.locate import MODEL

    path = Path(os.environ.get("MRL_LAB_DATA") or REPO.parent / "shared" / "data")
    folder = path / "models" / MODEL
    if not (folder / "modules.json").is_file():
        pytest.skip(f"no offline copy of {MODEL} at {folder}; set MRL_LAB_DATA to run these tests")
    return folder
