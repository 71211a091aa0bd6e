"""Vectors made on one machine (a GPU's fine-tunes) and served on another: what
``benchmarks/adaptive_retrieval.py --save-vectors`` writes, ``--vectors`` reads back unchanged."""

import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "adaptive_retrieval.py"


def benchmark():
    spec = importlib.util.spec_from_file_location("adaptive_retrieval", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_saved_vectors_come_back_unchanged_with_the_pca_control_fitted_again(tmp_path):
    bench, g = benchmark(), torch.Generator().manual_seed(0)
    titles = {m: F.normalize(torch.randn(50, 32, generator=g), dim=1) for m in ("MRL", "normal")}
    db = {m: F.normalize(torch.randn(300, 32, generator=g), dim=1) for m in ("MRL", "normal")}
    queries = {m: titles[m][:20] for m in titles}  # a view of a wider tensor, as served_vectors gives
    bench.save_vectors(str(tmp_path), db, queries, "made on a test machine")
    loaded_db, loaded_queries, note = bench.load_vectors(str(tmp_path))
    for m in ("MRL", "normal"):
        assert torch.equal(loaded_db[m], db[m]) and torch.equal(loaded_queries[m], queries[m])
    assert loaded_db["normal + PCA"].shape == db["normal"].shape and loaded_queries["normal + PCA"].shape == (20, 32)
    # PCA fitted on the corpus: the normal vectors centred on the corpus mean, then rotated onto every
    # component, so inner products are those of the centred vectors
    mean = db["normal"].mean(dim=0)
    scores = loaded_queries["normal + PCA"] @ loaded_db["normal + PCA"].T
    assert torch.allclose(scores, (queries["normal"] - mean) @ (db["normal"] - mean).T, atol=1e-4)
    assert "made on a test machine" in note and str(tmp_path) in note
    # only the 20 query rows are stored, not the 50-row tensor they were cut from
    assert (tmp_path / "MRL.pt").stat().st_size < (300 + 50) * 32 * 4  # all 50 rows and the 300 would not fit


def test_missing_saved_vectors_say_which_file_and_how_to_make_it(tmp_path):
    with pytest.raises(SystemExit, match=r"MRL\.pt not found; write it first with --save-vectors"):
        benchmark().load_vectors(str(tmp_path))
