"""CSR, MRL's sparse rival: sentence-transformers' SparseAutoEncoder trained with CSRLoss on frozen embeddings,
cached by its settings and training vectors, measured at several k in the lab's results table, with the bytes
a stored code costs."""

import pytest
import torch
import torch.nn.functional as F

from mrl_lab.experiments import csr


def pairs(n=400, width=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, width, generator=g) * torch.linspace(2, 0.2, width)
    noisy = lambda: F.normalize(x + 0.5 * torch.randn(n, width, generator=g), dim=1)  # noqa: E731
    return noisy(), noisy()


TINY = csr.Settings(k=8, ks=(2, 8), k_aux=32, steps=5, batch_size=64)


def test_csr_trains_once_caches_and_keeps_exactly_k_entries_at_every_measured_k(tmp_cache):
    queries, documents = pairs()
    model, record = csr.train(TINY, csr.Data(queries, documents), progress=False)
    assert not record["cached"] and record["seconds"] > 0
    again, cached = csr.train(TINY, csr.Data(queries, documents), progress=False)
    assert cached["cached"] and all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                                       again.state_dict().values()))  # fmt: skip
    other, fresh = csr.train(TINY, csr.Data(documents, queries), progress=False)  # other vectors: trained anew
    assert not fresh["cached"]
    for k in (2, 8):
        codes = csr.encode(model, queries, k)
        assert codes.shape == (400, 4 * 32) and ((codes != 0).sum(dim=1) <= k).all() and (codes >= 0).all()


def test_evaluate_gives_the_labs_results_table_with_k_as_size_and_the_bytes_of_a_code(tmp_cache):
    queries, documents = pairs()
    model, _ = csr.train(TINY, csr.Data(queries, documents), progress=False)
    full = {"titles": queries[:100], "descriptions": documents[:100], "sts1": queries[100:150],
            "sts2": documents[100:150]}  # fmt: skip
    results = csr.evaluate(TINY, model, full, torch.rand(50))
    assert set(results["metric"]) == {"recall@10", "MRR", "STS-B Spearman"} and set(results["size"]) == {2, 8}
    assert dict(zip(results["size"], results["bytes"])) == {2: 12, 8: 48}  # k float32 values + k int16 indices
    recall = results[(results["metric"] == "recall@10") & (results["size"] == 8)]["value"].item()
    assert recall > 0.5  # near-duplicate pairs: the codes find most partners among 100


def test_bad_settings_and_inputs_name_the_function_and_the_fix():
    with pytest.raises(ValueError, match=r"csr.build: 4 \* k=256 is more than the code's 128 entries"):
        csr.build(csr.Settings(k=64, k_aux=32), 32)
    with pytest.raises(ValueError, match="csr.Data: queries"):
        csr.Data(torch.randn(4, 8), torch.randn(5, 8))
    with pytest.raises(ValueError, match="csr.Settings: each of ks=0"):
        csr.Settings(ks=(0, 8))
    model = csr.build(TINY, 32)
    with pytest.raises(ValueError, match="csr.encode: the model takes 32-dim embeddings; got 16"):
        csr.encode(model, F.normalize(torch.randn(3, 16), dim=1), 4)
    with pytest.raises(ValueError, match="csr.encode: k=500"):
        csr.encode(model, F.normalize(torch.randn(3, 32), dim=1), 500)
    with pytest.raises(ValueError, match=r"csr.evaluate: full lacks \['sts1', 'sts2'\]"):
        csr.evaluate(TINY, model, {"titles": torch.randn(2, 32), "descriptions": torch.randn(2, 32)}, torch.rand(2))


def test_quantized_prefixes_are_stored_in_the_bytes_they_say_and_rescored_they_find_pairs():
    from mrl_lab.experiments import rivals

    queries, documents = pairs(n=300, width=64)
    out = rivals.quantized({"titles": queries, "descriptions": documents}, "m", budgets=[8, 16], shortlist=50)
    got = {(m, d): b for m, d, b in zip(out["method"], out["size"], out["bytes"])}
    # int8: one byte per dim; binary: 8 dims per byte, and only up to the 64-dim width
    assert got == {("m, int8 + re-score", 8): 8, ("m, binary + re-score", 64): 8, ("m, int8 + re-score", 16): 16}
    assert (out["value"] > 0.5).all()  # near-duplicate pairs: re-scored shortlists find most partners


def test_the_rivals_benchmark_runs_both_parts_at_smoke(shared_data, tmp_cache, tmp_path):
    import json
    import subprocess
    import sys

    from tests.conftest import REPO

    out = tmp_path / "rivals.json"
    command = [sys.executable, str(REPO / "benchmarks" / "rivals.py"), "--budget", "smoke", "--json", str(out),
               "--html", str(tmp_path / "rivals.html")]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    found = json.loads(out.read_text())
    assert {r["method"] for r in found["bytes"]["results"]} >= {"CSR", "fine-tuned MRL", "base, cut"}
    assert {r["method"] for r in found["layers"]["results"]} == {"published", "MRL", "2D MRL"}
    assert "2D MRL minus MRL" in run.stdout and "CSR minus each method" in run.stdout
    assert (tmp_path / "rivals.html").stat().st_size > 100_000  # plotly.js inline: it opens offline
