"""``python -m mrl_lab check``: end to end at ``smoke`` (exit status, files written, the numbers equal the lab's
own metric functions on the same input), each bad input (a one-line error, exit status 2, nothing written), and
the lab's fine-tune saved as a sentence-transformers model that ``truncate_dim`` cuts as the lab does."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from mrl_lab.cli import main
from mrl_lab.core.nesting import truncate
from mrl_lab.data.text import SentencePairs, TextData
from mrl_lab.evaluation.metrics import recall_at_k, topk_overlap
from mrl_lab.evaluation.search import search
from mrl_lab.experiments import check, pretrained


def clustered(n, d=64, seed=0):
    """Unit vectors around 8 centres, the first dims carrying the most (so cutting loses something, not all)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(8, d, generator=g) * torch.linspace(3, 0.3, d)
    z = centres[torch.randint(0, 8, (n,), generator=g)] + 0.5 * torch.randn(n, d, generator=g)
    return F.normalize(z, dim=1)


@pytest.fixture
def vectors(tmp_path):
    """A .npy corpus of 400 vectors with its texts, 60 query vectors near corpus rows, and their relevant rows."""
    corpus = clustered(400)
    targets = torch.arange(0, 400, 6)[:60]
    queries = F.normalize(corpus[targets] + 0.05 * clustered(60, seed=1), dim=1)
    np.save(tmp_path / "corpus.npy", corpus.numpy())
    np.save(tmp_path / "queries.npy", queries.numpy())
    (tmp_path / "corpus.txt").write_text("".join(f"document {i}\n" for i in range(400)))
    (tmp_path / "pairs.txt").write_text("".join(f"{t}\n" for t in targets.tolist()))
    return tmp_path, corpus, queries, targets


def run(*args):
    return main(["check", *map(str, args)])


def test_check_on_vectors_writes_its_files_and_equals_the_labs_own_metrics(vectors, tmp_cache, capsys):
    folder, corpus, queries, targets = vectors
    out = folder / "out"
    code = run(folder / "corpus.npy", "--corpus", folder / "corpus.txt", "--queries", folder / "queries.npy",
               "--pairs", folder / "pairs.txt", "--sizes", 8, 16, 64, "--out", out)  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert {p.name for p in out.iterdir()} == {"results.csv", "results.json", "report.html"}
    assert "Recommendation" in printed or "No cut or precision" in printed
    table = pd.read_csv(out / "results.csv")
    plain = table[(table["method"] == "prefix") & (table["precision"] == "float32") & ~table["rescore"]]
    truth = search(queries, corpus, 10)
    for d in (8, 16, 64):
        found = search(truncate(queries, d), truncate(corpus, d), 10)
        at = plain[plain["size"] == d].set_index("metric")["value"]
        assert at["overlap@10"] == pytest.approx(topk_overlap(truth, found, 10), abs=1e-6)
        assert at["recall@10"] == pytest.approx(recall_at_k(found, targets, 10), abs=1e-6)
        assert table.loc[table["size"] == d, "bytes"].isin([4 * d, d, d // 8]).all()
    full = plain[(plain["size"] == 64) & (plain["metric"] == "overlap@10")].iloc[0]
    assert full["value"] == 1.0 and full["low"] <= full["value"] <= full["high"]
    report = json.loads((out / "results.json").read_text())
    assert report["summary"]["recommendation"] in printed and report["summary"]["metric"] == "recall@10"
    assert "plotly" in (out / "report.html").read_text()[:5_000_000].lower()
    # the same inputs print the same numbers
    assert run(folder / "corpus.npy", "--corpus", folder / "corpus.txt", "--queries", folder / "queries.npy",
               "--pairs", folder / "pairs.txt", "--sizes", 8, 16, 64) == 0  # fmt: skip
    assert capsys.readouterr().out.split("\nWrote")[0] == printed.split("\nWrote")[0]


def test_rescoring_a_float32_shortlist_at_full_width_finds_the_full_width_top_k(vectors):
    _, corpus, queries, _ = vectors
    shortlist = check.stored_search(truncate(queries, 16), truncate(corpus, 16), "float32", 400)  # every row
    assert torch.equal(check.rescored(shortlist, queries, corpus, 10), search(queries, corpus, 10))
    codes = check.stored_search(truncate(queries, 16), truncate(corpus, 16), "binary", 10)
    assert codes.shape == (60, 10)


def test_the_card_and_the_prefixes_tell_an_mrl_model_from_a_normal_one(tmp_path):
    (tmp_path / "README.md").write_text('#### MatryoshkaLoss\n```json\n{"matryoshka_dims": [384, 128, 32]}\n```\n')
    assert check.read_card(tmp_path) == {"card": str(tmp_path / "README.md"), "matryoshka": True,
                                         "dims": [32, 128, 384]}  # fmt: skip
    assert check.read_card(tmp_path / "nothing")["card"] is None
    assert check.default_sizes(384, [32, 768]) == [8, 16, 32, 48, 64, 128, 256, 384]
    # variance falling along the dims: each prefix is about PCA's, as an MRL model's is; the same vectors
    # rotated at random: no dim is special, as in a normal model, and PCA finds the order again
    g = torch.Generator().manual_seed(3)
    ordered = F.normalize(torch.randn(600, 64, generator=g) * torch.linspace(3, 0.1, 64), dim=1)
    rotated = ordered @ torch.linalg.qr(torch.randn(64, 64, generator=g))[0]
    s, ratios = check.settings("smoke"), {}
    for name, z in (("ordered", ordered), ("rotated", rotated)):
        data = check.Data(z[100:], z[:100], None, name)
        ratios[name] = check.summary(s, data, check.evaluate(s, data, progress=False))["ratio"]
    assert ratios["ordered"] >= check.MRL_LIKE > check.NORMAL_LIKE >= ratios["rotated"], ratios


BAD = {
    "a missing file": (lambda f: [f / "none.npy", "--corpus", f / "corpus.txt"], "no file at"),
    "a .npy that is not 2-D float": (lambda f: [f / "ints.npy", "--corpus", f / "corpus.txt"], "2-D float"),
    "NaN rows": (lambda f: [f / "nan.npy", "--corpus", f / "corpus.txt"], "2 NaN or infinite row(s) of 400 (rows 3, 9"),
    "all-zero rows": (lambda f: [f / "zero.npy", "--corpus", f / "corpus.txt"], "1 all-zero row(s) of 400 (rows 5"),
    "counts that differ": (lambda f: [f / "corpus.npy", "--corpus", f / "short.txt"], "has 400 rows but"),
    "sizes wider than the vectors": (lambda f: [f / "corpus.npy", "--corpus", f / "corpus.txt", "--sizes", 8, 128],
                                     "wider than the embedding"),
    "an empty corpus": (lambda f: [f / "corpus.npy", "--corpus", f / "empty.txt"], "holds no texts"),
    "a corpus smaller than the shortlist": (lambda f: [f / "small.npy", "--corpus", f / "small.txt"],
                                            "fewer than the shortlist"),
    "pairs naming rows outside the corpus": (lambda f: [f / "corpus.npy", "--corpus", f / "corpus.txt", "--queries",
                                                        f / "queries.npy", "--pairs", f / "far.txt"],
                                             "neither a corpus line nor a row number"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD)
def test_bad_input_gets_one_clear_line_exit_status_2_and_writes_nothing(case, vectors, tmp_cache, capsys):
    folder, corpus, _, _ = vectors
    bad = corpus.numpy().copy()
    bad[[3, 9], 1] = np.nan
    np.save(folder / "nan.npy", bad)
    zero = corpus.numpy().copy()
    zero[5] = 0
    np.save(folder / "zero.npy", zero)
    np.save(folder / "ints.npy", np.arange(10))
    np.save(folder / "small.npy", corpus[:30].numpy())  # 15 searched once 15 become queries: under smoke's 20
    (folder / "small.txt").write_text("".join(f"d {i}\n" for i in range(30)))
    (folder / "short.txt").write_text("one\ntwo\n")
    (folder / "empty.txt").write_text("")
    (folder / "far.txt").write_text("".join(f"{400 + i}\n" for i in range(60)))
    args, message = BAD[case]
    out = folder / "out"
    assert run(*args(folder), "--out", out) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m mrl_lab check: error: ") and message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_an_unknown_model_offline_says_how_to_make_it_available(tmp_path, tmp_cache):
    import os
    import subprocess
    import sys

    (tmp_path / "corpus.txt").write_text("one\ntwo\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1")  # read when huggingface_hub is imported: a process of its own
    done = subprocess.run([sys.executable, "-m", "mrl_lab", "check", "no-such-user/no-such-model", "--corpus",
                           str(tmp_path / "corpus.txt"), "--out", str(tmp_path / "out")], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "cannot load the model 'no-such-user/no-such-model'" in done.stderr and "local" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_model_source_encodes_with_a_progress_bar_and_reads_pairs_of_texts(encoder_folder, tmp_path, tmp_cache,
                                                                              capsys):  # fmt: skip
    docs = [f"Report number {i} on {topic} markets and {i % 7} other things" for i, topic in
            enumerate(["oil", "chip", "bank", "sport", "film"] * 24)]  # fmt: skip
    (tmp_path / "docs.tsv").write_text("id\ttext\n" + "".join(f"{i}\t{d}\n" for i, d in enumerate(docs)))
    (tmp_path / "pairs.csv").write_text("query,document\n" + "".join(f"about {d[:20]},{d}\n" for d in docs[:30]))
    code = run(encoder_folder, "--corpus", tmp_path / "docs.tsv", "--column", "text", "--pairs",
               tmp_path / "pairs.csv", "--sizes", 16, 384)  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "30 queries" in captured.out and "does not mention MatryoshkaLoss" in captured.out


def test_the_fine_tune_saves_as_a_sentence_transformer_that_truncate_dim_cuts_as_the_lab_does(
    encoder_folder, tmp_path, tmp_cache
):
    from sentence_transformers import SentenceTransformer

    titles = ["Oil prices climb", "Striker scores twice", "Chip maker profits", "Bank holds rates"]
    descriptions = ["Crude rose on Tuesday.", "A late double won it.", "Earnings beat forecasts.", "Rates unchanged."]
    data = TextData(titles, descriptions, torch.zeros(4, dtype=torch.long))
    sts = SentencePairs(titles[:3], descriptions[:3], torch.tensor([1.0, 2.0, 3.0]), "demo")
    settings = pretrained.settings("smoke", batch_size=2, per_size=(16,))
    s = pretrained.Data(encoder_folder, "test", data, data, sts, [], "demo")
    trained = pretrained.train_all(settings, s, only=["MRL"], keep=("MRL",), progress=False)["MRL"]
    results = pretrained.evaluate(settings, s, {"fine-tuned MRL": trained["vectors"]}, [16, 384])
    folder = pretrained.save_sentence_transformer(trained["model"], tmp_path / "mrl-minilm", settings, results)
    card = check.read_card(folder)
    assert card["matryoshka"] and card["dims"] == list(settings.dims)
    assert "| 16 |" in (folder / "README.md").read_text()
    full = trained["model"].encode(descriptions, convert_to_tensor=True)
    for d in (16, 64):
        cut = SentenceTransformer(str(folder), truncate_dim=d).encode(descriptions, convert_to_tensor=True,
                                                                     normalize_embeddings=True)  # fmt: skip
        torch.testing.assert_close(cut, truncate(full, d), atol=1e-5, rtol=0)


def test_text_a_user_supplies_is_escaped_in_the_report_and_the_dashboards(vectors):
    from mrl_lab.lab.report import html_report
    from mrl_lab.lab.widgets import truncation_dashboard

    folder, corpus, queries, _ = vectors
    s = check.settings("smoke")
    data = check.Data(corpus, queries, None, "<script>alert('source')</script>.npy")
    table = check.evaluate(s, data, [8, 64], progress=False)
    page = html_report(check.summary(s, data, table), table)
    assert "<script>alert('source')" not in page and "&lt;script&gt;alert(&#x27;source&#x27;)" in page
    board = truncation_dashboard(
        {"<img src=x onerror=alert(1)>": {8: 0.5, 64: 0.9}},
        lambda d: {"<img src=x onerror=alert(1)>": 0.5},
        full_dim=64,
        metric="m",
        start=8,
    )
    assert "<img src=x" not in board.readout.value and "&lt;img src=x" in board.readout.value
