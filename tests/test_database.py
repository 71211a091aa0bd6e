"""Serving a Matryoshka prefix from a vector database (Milvus Lite, in-process, on a temporary file): the same
neighbours as exact search where it looks everywhere, a collection reused only while its vectors are unchanged,
a build cut short found and rebuilt, and bad input or an unreachable server named with its fix."""

import pytest
import torch

pytest.importorskip("milvus_lite", reason='Milvus Lite is not installed: pip install "pymilvus[milvus-lite]"')

from mrl_lab.evaluation.metrics import topk_overlap  # noqa: E402
from mrl_lab.evaluation.search import search  # noqa: E402
from mrl_lab.serving import database  # noqa: E402
from mrl_lab.serving.database import PrefixCollection, connect, engine_verdicts, engines_table  # noqa: E402


def matryoshka_like(n: int, dim: int = 64, seed: int = 0) -> torch.Tensor:
    """Unit vectors whose early dims carry the most variance, as an MRL model's do."""
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, dim, generator=g) * torch.linspace(3, 0.3, dim), dim=1)


DB = matryoshka_like(600)
QUERIES = torch.nn.functional.normalize(DB[:20] + 0.2 * matryoshka_like(20, seed=1), dim=1)
EXACT = search(QUERIES, DB, 10)


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("MRL_LAB_CACHE", str(tmp_path))
    monkeypatch.delenv(database.URI_SETTING, raising=False)
    return connect()


def test_the_database_lives_in_the_cache_folder_unless_a_uri_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("MRL_LAB_CACHE", str(tmp_path))
    monkeypatch.delenv(database.URI_SETTING, raising=False)
    assert database.database_uri() == str(tmp_path / "milvus" / "lab.db")
    monkeypatch.setenv(database.URI_SETTING, "http://milvus.example:19530")
    assert database.database_uri() == "http://milvus.example:19530"


@pytest.mark.parametrize("rerank", ["engine", "client"])
def test_a_shortlist_of_every_row_re_ranked_at_full_width_is_exact_search(client, rerank):
    collection = PrefixCollection(DB, 16, "t", client=client, rerank=rerank)
    found = collection.search(QUERIES, 10, shortlist=len(DB), effort=len(DB))
    assert topk_overlap(EXACT, found, 10) == 1.0
    assert found.dtype == torch.int64 and found.shape == (20, 10)
    index = client.describe_index(collection.collection, "prefix")  # the engine's own index, built on every row
    assert index["index_type"] == "HNSW" and index["indexed_rows"] == len(DB) and index["state"] == "Finished"


def test_the_re_rank_finds_more_than_the_prefix_alone_and_both_engines_agree(client):
    table = engines_table(DB, QUERIES, d=8, shortlist=100, name="t")
    assert list(table["engine"]) == ["FAISS", "Milvus", "Milvus", "FAISS", "Milvus"]
    assert list(table["rerank"]) == ["engine", "engine", "client", "none", "none"]
    prefix = table[table["search"].str.startswith("HNSW on 8 dims")]
    assert (prefix["recall"] - prefix["recall"].iloc[0]).abs().max() <= 0.05  # the same HNSW settings
    assert prefix["recall"].min() > topk_overlap(EXACT, search(QUERIES[:, :8], DB[:, :8], 10), 10)
    assert (table["low_ms"] <= table["median_ms"]).all() and (table["median_ms"] <= table["high_ms"]).all()
    assert (table.loc[table["engine"] == "Milvus", "counted"] == "disk").all()
    assert (table["mb_per_million"] > 0).all()
    lines = engine_verdicts(table)
    assert len(lines) == 6 and all("Milvus recall" in line and "FAISS" in line for line in lines[:3])
    assert [line.split(":")[0] for line in lines[3:]] == ["within FAISS", "within Milvus", "within Milvus"]


def test_a_collection_is_reused_while_its_vectors_are_unchanged_and_rebuilt_when_they_change(client, capsys):
    first = PrefixCollection(DB, 16, "t", client=client)
    again = PrefixCollection(DB, 16, "t", client=client)
    assert not first.reused and again.reused and again.build_seconds == 0.0
    assert again.collection == first.collection and len(again) == len(DB)
    changed = PrefixCollection(DB.flip(0), 16, "t", client=client)
    assert not changed.reused and changed.collection != first.collection
    assert first.collection not in client.list_collections()  # the stale one is dropped, said in one line
    assert f"dropping {first.collection} (built from other vectors)" in capsys.readouterr().out
    other = PrefixCollection(DB, 32, "t", client=client)  # another prefix size is another collection: both kept
    assert {changed.collection, other.collection} <= set(client.list_collections())


def test_a_measured_collection_leaves_memory_and_loads_again_when_reused(client):
    engines_table(DB, QUERIES, d=8, shortlist=100, name="t")
    measured = [c for c in client.list_collections() if c.startswith("mrl_lab_t_")]
    assert len(measured) == 2  # the prefix and the full-width collections, both kept on disk
    assert all(str(client.get_load_state(c)["state"]).endswith("NotLoad") for c in measured)
    again = PrefixCollection(DB, 8, "t", client=client)
    assert again.reused and str(client.get_load_state(again.collection)["state"]).endswith("Loaded")
    assert topk_overlap(EXACT, again.search(QUERIES, 10, shortlist=len(DB), effort=len(DB)), 10) == 1.0


def test_a_build_cut_short_is_found_reported_and_rebuilt(client, capsys):
    def interrupt(done, total):
        if done >= 200:
            raise KeyboardInterrupt  # Ctrl-C half way through the inserts

    database_insert_block = database.INSERT_BLOCK
    database.INSERT_BLOCK = 100
    try:
        with pytest.raises(KeyboardInterrupt):
            PrefixCollection(DB, 16, "t", client=client, report=interrupt)
    finally:
        database.INSERT_BLOCK = database_insert_block
    left = [name for name in client.list_collections() if name.endswith("_building")]
    assert len(left) == 1  # only a complete build gets the real name
    rebuilt = PrefixCollection(DB, 16, "t", client=client)
    assert not rebuilt.reused and len(rebuilt) == len(DB)
    assert left[0] not in client.list_collections()
    assert "(an interrupted build)" in capsys.readouterr().out


def test_the_lab_never_drops_a_collection_it_did_not_name(client):
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="IP")
    client.create_collection("someone_elses", schema=schema, index_params=index)
    PrefixCollection(DB, 16, "t", client=client)
    assert "someone_elses" in client.list_collections()


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda c: PrefixCollection(DB, 65, "t", client=c), ValueError, ["PrefixCollection", "d=65", "1..64"]),
        (lambda c: PrefixCollection(DB[:0], 16, "t", client=c), ValueError, ["PrefixCollection: vectors"]),
        (lambda c: PrefixCollection(DB, 16, "my news", client=c), ValueError, ["name='my news'", "letters"]),
        (lambda c: PrefixCollection(DB, 16, "t", client=c, rerank="gpu"), ValueError, ["rerank='gpu'", "engine"]),
        (
            lambda c: PrefixCollection(DB, 16, "t", client=c).search(QUERIES[:, :32], 10),
            ValueError,
            ["queries have 32 dims", "64-dim", "same model"],
        ),  # fmt: skip
        (
            lambda c: PrefixCollection(DB, 16, "t", client=c).search(QUERIES, 10, shortlist=601),
            ValueError,
            ["shortlist=601", "1..600"],
        ),  # fmt: skip
        (lambda c: PrefixCollection(DB, 16, "t", client=c).search(QUERIES, 0), ValueError, ["k=0"]),
        (lambda c: engines_table(DB, QUERIES, d=64, shortlist=100), ValueError, ["engines_table", "d=64"]),
        (lambda c: engine_verdicts([1, 2]), TypeError, ["engine_verdicts", "engines_table"]),
    ],
)
def test_bad_input_names_the_function_the_value_and_the_fix(client, call, error, words):
    with pytest.raises(error) as caught:
        call(client)
    for word in words:
        assert word in str(caught.value)


def test_an_unreachable_server_names_the_setting_and_what_to_do(monkeypatch):
    monkeypatch.setenv(database.URI_SETTING, "http://127.0.0.1:9")  # the discard port: nothing listens
    with pytest.raises(ConnectionError) as caught:
        connect()
    for word in ("http://127.0.0.1:9", database.URI_SETTING, "Start the server", "unset"):
        assert word in str(caught.value)


def test_a_second_process_on_the_same_milvus_lite_file_is_told_what_holds_it(tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.setenv("MRL_LAB_CACHE", str(tmp_path))
    monkeypatch.delenv(database.URI_SETTING, raising=False)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from mrl_lab.serving.database import connect; connect(); "
            "print('open', flush=True); sys.stdin.read()",
        ],  # fmt: skip
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"  # the other process has the file
        with pytest.raises(ConnectionError) as caught:
            connect()
        for word in ("one process at a time", "shut down the other kernel", database.URI_SETTING):
            assert word in str(caught.value)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert connect().list_collections() == []  # once it has let go, the file opens


def test_a_folder_that_cannot_hold_the_file_names_the_cache_setting(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("MRL_LAB_CACHE", str(blocker))  # its milvus/ folder would sit inside a file
    monkeypatch.delenv(database.URI_SETTING, raising=False)
    with pytest.raises(OSError) as caught:
        connect()
    assert "MRL_LAB_CACHE" in str(caught.value) and database.URI_SETTING in str(caught.value)


def test_without_the_client_the_lab_says_how_to_install_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_milvus(name, *args, **kwargs):
        if name in ("pymilvus", "milvus_lite"):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_milvus)
    problem = database.missing("/tmp/lab.db")
    assert "pymilvus" in problem and "pip install" in problem and database.URI_SETTING in problem
    with pytest.raises(ModuleNotFoundError, match="pip install"):
        connect("/tmp/lab.db")
