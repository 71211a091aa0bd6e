"""Serving a Matryoshka prefix from a vector database (Milvus), the way retrieval is served past one process.

:mod:`mrl_lab.serving.ann` serves the funnel from FAISS inside the notebook's process: right for
measuring. Deployed retrieval keeps its vectors in a database. There the lab's pattern is the same:
store a short prefix and the full vector, search the prefix, re-rank the shortlist with the full vector.

A :class:`PrefixCollection` is a Milvus collection with two vector fields per row: ``prefix`` (the
first ``d`` dims, re-normalised, under the engine's HNSW index) and ``full`` (the whole vector, under a
``FLAT`` index: exact scores). A search is two requests per query: the prefix index's shortlist, then a
search of ``full`` restricted to the shortlist's ids (``filter="id in [...]"``), which the engine scores
exactly, so **the re-rank runs in the engine**. ``rerank="client"`` fetches the shortlist's full vectors
instead and ranks them here. With ``d = D`` the collection holds the full vector alone, under HNSW: the
rigid baseline.

Where the database lives is one setting, :func:`database_uri`: a local file by default (Milvus Lite,
in this process: ``pip install "pymilvus[milvus-lite]"``, Linux and macOS), or any Milvus server or
cluster named by ``MRL_LAB_MILVUS_URI`` (e.g. ``http://localhost:19530``). Nothing else changes.

A collection is named after a fingerprint of its vectors and settings, like the model cache: a rerun
with the same vectors reuses it; changed vectors get a new one, and the lab's stale one is dropped.
It is built under a temporary name and renamed when complete, so a build killed half way is found,
reported in one line and rebuilt. The lab only ever drops collections whose names it made
(``mrl_lab_...``).

References:
    Milvus documentation: "Run Milvus Lite locally", "Multi-Vector Search", "Filtered Search";
    Rege et al., "AdANNS: A Framework for Adaptive Semantic Search", NeurIPS 2023.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from mrl_lab.core.checks import check_count, check_embeddings, check_table
from mrl_lab.evaluation.metrics import topk_overlap
from mrl_lab.evaluation.timing import SAME, speed_words
from mrl_lab.runtime.cache import cache_dir
from mrl_lab.runtime.memory import give_freed_memory_back
from mrl_lab.serving.ann import PrefixIndex, latency
from mrl_lab.serving.funnel import unit_rows

URI_SETTING = "MRL_LAB_MILVUS_URI"
INSTALL = 'pip install "pymilvus[milvus-lite]"'
MAX_TOP_K = 16_384  # Milvus's limit on results per request (topk)
INSERT_BLOCK = 1_000  # rows per insert request: the client turns each block into a message in memory
RERANKS = ("engine", "client")
HNSW = {"M": 32, "efConstruction": 40}  # links per row and build-time width: PrefixIndex's defaults, like for like
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def database_uri() -> str:
    """Where the lab's vector database is: ``$MRL_LAB_MILVUS_URI`` if set, else a Milvus Lite file in the
    lab's cache folder (``$MRL_LAB_CACHE/milvus/lab.db``).

    Example:
        >>> database_uri().endswith(".db") or bool(os.environ.get("MRL_LAB_MILVUS_URI"))
        True
    """
    return os.environ.get(URI_SETTING) or str(cache_dir() / "milvus" / "lab.db")


def missing(uri: str | None = None) -> str | None:
    """None when the client (and, for a local file, Milvus Lite) can be imported, else what to install."""
    uri = uri or database_uri()
    try:
        import pymilvus  # noqa: F401

        if uri.endswith(".db"):
            import milvus_lite  # noqa: F401
    except ImportError as e:
        return (f"the vector database client is not installed ({e.name}): {INSTALL} (Milvus Lite runs on "
                f"Linux and macOS; elsewhere set {URI_SETTING} to a Milvus server)")  # fmt: skip
    return None


def connect(uri: str | None = None):
    """A ``pymilvus.MilvusClient`` on ``uri`` (default :func:`database_uri`); a clear error naming the
    setting when the client is missing, the local folder cannot be written or the server cannot be reached."""
    uri = uri or database_uri()
    if problem := missing(uri):
        raise ModuleNotFoundError(f"connect: {problem}")
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    if uri.endswith(".db"):  # Milvus Lite: a folder on this machine
        folder = Path(uri).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            fix = f"set MRL_LAB_CACHE to a writable folder, or {URI_SETTING} to a Milvus server"
            raise OSError(f"connect: cannot create {folder} for the Milvus Lite file ({e.strerror}); {fix}") from e
        if not os.access(folder, os.W_OK):
            raise OSError(f"connect: {folder} is read-only, so Milvus Lite cannot keep {Path(uri).name} there; set "
                          f"MRL_LAB_CACHE to a writable folder, or {URI_SETTING} to a Milvus server")  # fmt: skip
    try:
        return MilvusClient(uri=uri)
    except MilvusException as e:
        if uri.endswith(".db"):  # the file is there and writable: another process holds Milvus Lite's lock on it
            raise ConnectionError(f"connect: Milvus Lite could not open {uri} ({e.message}). It serves one process "
                                  f"at a time: shut down the other kernel or script using it, or set {URI_SETTING} "
                                  f"to another .db file or a Milvus server") from e  # fmt: skip
        raise ConnectionError(f"connect: cannot reach the Milvus database at {uri!r} ({URI_SETTING}): "
                              f"{e.message}. Start the server or fix the URI; unset {URI_SETTING} to use a "
                              f"local Milvus Lite file") from e  # fmt: skip


def fingerprint(vectors: np.ndarray, *settings) -> str:
    """12 hex digits that change when the vectors or any of ``settings`` change."""
    digest = hashlib.sha1(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    digest.update(repr(settings).encode())
    return digest.hexdigest()[:12]


class PrefixCollection:
    """MRL vectors in a Milvus collection: an HNSW index on the prefix, the full vectors beside it.

    Args:
        vectors: ``(N, D)`` database embeddings (an MRL model's, to cut them well); rows are made unit length.
        d: the prefix the index is built on; ``D`` gives one full-width HNSW field (no re-ranking).
        name: the collection's base name (letters, digits, ``_``); the lab adds ``mrl_lab_``, ``d``
            and the fingerprint.
        uri: the database (default :func:`database_uri`); client: an open ``MilvusClient`` to use instead.
        rerank: ``"engine"`` (a filtered search of the ``full`` field) or ``"client"`` (fetch and rank here).
        report: optional ``report(rows_added, N)`` after each insert block (for a progress bar).

    Attributes:
        collection: the collection's name; reused: whether it was found complete and reused;
        build_seconds: time to insert, index and load (0 when reused); disk_bytes: the collection's
        files for a local Milvus Lite file (None for a server: the lab cannot see its disks).
    """

    def __init__(self, vectors: torch.Tensor, d: int, name: str = "lab", *, uri: str | None = None, client=None,
                 rerank: str = "engine", report=None):  # fmt: skip
        check_embeddings(vectors, "PrefixCollection: vectors")
        n, width = vectors.shape
        self.d, self.width = check_count(d, "d", "PrefixCollection", high=width), width
        if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > 100:
            raise ValueError(f"PrefixCollection: name={name!r}; use letters, digits and _ (up to 100), e.g. 'news'")
        if rerank not in RERANKS:
            raise ValueError(f"PrefixCollection: rerank={rerank!r}; choose one of {RERANKS}")
        self.rerank, self.uri = rerank, uri or database_uri()
        self.client = client if client is not None else connect(self.uri)
        full = unit_rows(vectors).numpy()
        base = f"mrl_lab_{name}_{self.d}d_"
        self.collection = base + fingerprint(full, self.d, HNSW)
        self.build_seconds, self.reused = 0.0, self.client.has_collection(self.collection)
        for old in self.client.list_collections():  # the lab's own: stale vectors, or a build killed half way
            if old.startswith(base) and old != self.collection:
                state = "an interrupted build" if old.endswith("_building") else "built from other vectors"
                print(f"PrefixCollection: dropping {old} ({state}); building {self.collection}")
                self.client.drop_collection(old)
        if not self.reused:
            start = time.perf_counter()
            self._build(full, report)
            self.build_seconds = time.perf_counter() - start
        self.client.load_collection(self.collection)
        self.rows = self.client.get_collection_stats(self.collection)["row_count"]
        if self.rows != n:
            raise RuntimeError(f"PrefixCollection: {self.collection} holds {self.rows:,} rows, not {n:,}; drop it "
                               f"(client.drop_collection) and run again")  # fmt: skip
        self.disk_bytes = _folder_bytes(self.uri, self.collection)

    def _build(self, full: np.ndarray, report) -> None:
        """Insert, index and flush under a temporary name, then rename: only a complete build gets the real name."""
        from pymilvus import DataType

        building = self.collection + "_building"
        schema = self.client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        index = self.client.prepare_index_params()
        if self.d < self.width:
            schema.add_field("prefix", DataType.FLOAT_VECTOR, dim=self.d)
            index.add_index("prefix", index_type="HNSW", metric_type="IP", params=HNSW)
            index.add_index("full", index_type="FLAT", metric_type="IP")  # exact scores for the re-rank
        else:
            index.add_index("full", index_type="HNSW", metric_type="IP", params=HNSW)
        schema.add_field("full", DataType.FLOAT_VECTOR, dim=self.width)
        # The indexes are declared without waiting on them: a waiting client asks the server for a timestamp,
        # which Milvus Lite does not serve (its server logs an error); load_collection below waits instead.
        self.client.create_collection(building, schema=schema)
        self.client.create_index(building, index, sync=False)
        prefix = _unit(full[:, : self.d])
        for start in range(0, len(full), INSERT_BLOCK):
            rows = range(start, min(start + INSERT_BLOCK, len(full)))
            cut = [{"prefix": prefix[i]} if self.d < self.width else {} for i in rows]
            self.client.insert(building, [{"id": i, "full": full[i], **c} for i, c in zip(rows, cut)])
            if report is not None:
                report(rows.stop, len(full))
        self.client.flush(building)  # written, and the indexes built, before the name says it is complete
        self.client.rename_collection(building, self.collection)

    def __len__(self) -> int:
        return self.rows

    def release(self) -> None:
        """Unload the collection from the database's memory (its rows and index stay stored; a new
        ``PrefixCollection`` on the same vectors loads it again). Milvus Lite serves from this process,
        so a loaded collection holds this kernel's memory until it is released."""
        self.client.release_collection(self.collection)

    def search(self, queries: torch.Tensor, k: int, shortlist: int | None = None, effort: int | None = None,
               rerank: str | None = None):  # fmt: skip
        """The ``k`` best rows per query: a ``shortlist`` from the prefix index, re-ranked on the full vectors.

        Args:
            queries: ``(M, D)`` full-width query embeddings.
            k: results per query; shortlist: candidates the prefix index returns (default ``k``).
            effort: HNSW's ``ef`` at search time (at least ``shortlist``).
            rerank: ``"engine"`` or ``"client"``, for this search only (default: the collection's).

        Returns:
            ``(M, k)`` int64 row ids, best first (-1 where fewer than ``k`` were found).
        """
        check_embeddings(queries, "PrefixCollection.search: queries")
        if queries.shape[1] != self.width:
            raise ValueError(f"PrefixCollection.search: queries have {queries.shape[1]} dims; {self.collection} "
                             f"holds {self.width}-dim vectors. Embed the queries with the same model")  # fmt: skip
        top = min(len(self), MAX_TOP_K)
        check_count(k, "k", "PrefixCollection.search", high=top)
        shortlist = check_count(shortlist or k, "shortlist", "PrefixCollection.search", high=top)
        k = check_count(k, "k", "PrefixCollection.search", high=shortlist)
        ef = max(shortlist, check_count(effort or 1, "effort", "PrefixCollection.search"))
        rerank = rerank or self.rerank
        if rerank not in RERANKS:
            raise ValueError(f"PrefixCollection.search: rerank={rerank!r}; choose one of {RERANKS}")
        q = queries.detach().cpu().float().numpy()
        field, first = ("prefix", _unit(q[:, : self.d])) if self.d < self.width else ("full", q)
        hits = self.client.search(self.collection, data=first, anns_field=field, limit=shortlist,
                                  search_params={"metric_type": "IP", "params": {"ef": ef}})  # fmt: skip
        out = torch.full((len(q), k), -1, dtype=torch.int64)
        for i, found in enumerate(hits):
            ids = [h["id"] for h in found]
            if self.d == self.width:  # full width: the index's order is the answer
                best = ids[:k]
            elif rerank == "engine":  # the engine scores the shortlist's full vectors exactly
                again = self.client.search(self.collection, data=q[i : i + 1], anns_field="full", limit=k,
                                           filter=f"id in {ids}", search_params={"metric_type": "IP"})  # fmt: skip
                best = [h["id"] for h in again[0]]
            else:  # fetch the shortlist's full vectors and rank them here
                rows = self.client.get(self.collection, ids=ids, output_fields=["full"])
                stored = np.asarray([r["full"] for r in rows], dtype=np.float32)
                order = np.argsort(-(stored @ q[i]), kind="stable")[:k]
                best = [rows[j]["id"] for j in order]
            out[i, : len(best)] = torch.as_tensor(best, dtype=torch.int64)
        return out


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows of unit length (a cut prefix is shorter than 1)."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _folder_bytes(uri: str, collection: str) -> int | None:
    """Bytes of a collection's files in a local Milvus Lite folder; None for a server."""
    if not uri.endswith(".db"):
        return None
    folder = Path(uri).expanduser() / "collections" / collection
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else None


def engines_table(data: torch.Tensor, queries: torch.Tensor, d: int, shortlist: int, k: int = 10, repeats: int = 3,
                  name: str = "served", desc: str | None = None):  # fmt: skip
    """The same queries through FAISS and through the database, prefix + re-rank and full width: a DataFrame.

    Both engines get the same HNSW settings (:data:`HNSW`, and ``ef = shortlist`` at search time) on the same
    unit rows, Milvus in the database :func:`database_uri` names. Relative recall@k is against exact
    full-width search (FAISS's flat index); latency is one query at a time, ``repeats`` rounds
    (:func:`~mrl_lab.serving.ann.latency`).
    ``mb_per_million`` is what the rows cost, scaled to a million: for FAISS its index and the full vectors
    kept for the re-rank, in memory; for Milvus Lite the collection's files on disk (``None`` for a server).
    ``desc`` names a progress bar over the five ways of searching (None: no bar).
    """
    check_embeddings(data, "engines_table: data")
    check_embeddings(queries, "engines_table: queries", dim=data.shape[1])
    n, width = data.shape
    d = check_count(d, "d", "engines_table", high=width - 1)
    shortlist = check_count(shortlist, "shortlist", "engines_table", high=min(n, MAX_TOP_K))
    k = check_count(k, "k", "engines_table", high=shortlist)
    effort = shortlist  # HNSW's ef: the candidates it keeps while walking, at least the shortlist
    give_freed_memory_back()  # what the caller freed before (a grown database, its index) leaves room for Milvus
    data = unit_rows(data)
    truth = PrefixIndex(data, width, kind="flat").search(queries, k)
    client = connect()  # closed at the end: an idle client's keep-alive pings make Milvus Lite's server log errors
    rows = []
    bar = tqdm(total=5, desc=desc, unit="search", disable=desc is None)

    def measure(fn, **about):
        bar.set_postfix_str(f"timing {about['engine']}, {about['search']}, re-rank: {about['rerank']}")
        rows.append(dict(about, recall=topk_overlap(truth, fn(queries), k), **latency(fn, queries, repeats)))
        bar.update(1)

    for cut in (d, width):
        cut_short = cut < width
        short = shortlist if cut_short else k  # at full width the index's own top k is the answer
        pattern = f"HNSW on {cut} dims, re-rank {shortlist}" if cut_short else "HNSW at full width"
        index = PrefixIndex(data, cut, kind="hnsw")
        kept = index.index_bytes + (n * width * 4 if cut_short else 0)  # the re-rank's full vectors, in memory
        measure(partial(index.search, k=k, shortlist=short, effort=effort), engine="FAISS", search=pattern,
                rerank="engine" if cut_short else "none", build_s=index.build_seconds,
                mb_per_million=kept / n * 1e6 / 2**20, counted="memory")  # fmt: skip
        del index
        bar.set_postfix_str(f"Milvus: loading {n:,} rows, indexing {cut} dims")
        collection = PrefixCollection(data, cut, name, client=client)
        size = None if collection.disk_bytes is None else collection.disk_bytes / n * 1e6 / 2**20
        for where in RERANKS if cut_short else ("engine",):  # full width: nothing to re-rank
            measure(partial(collection.search, k=k, shortlist=short, effort=effort, rerank=where), engine="Milvus",
                    search=pattern, rerank=where if cut_short else "none", build_s=collection.build_seconds,
                    mb_per_million=size, counted="disk" if size is not None else "not seen (a server)")  # fmt: skip
        collection.release()  # measured: its segments and index leave memory before the next one loads
        del collection
        give_freed_memory_back()
    bar.close()
    client.close()
    return pd.DataFrame(rows)


def engine_verdicts(table) -> list[str]:
    """Milvus against FAISS for each search pattern, then each engine's prefix + re-rank against its own
    full-width search: relative recall and speed, the speed verdict only where the repeats' spreads do not
    overlap (:func:`~mrl_lab.evaluation.timing.speed_words`)."""
    check_table(table, ("engine", "search", "rerank", "recall", "median_ms", "low_ms", "high_ms"), "engine_verdicts",
                "pass engines_table(...)'s table")  # fmt: skip

    def versus(a, b) -> str:  # "3.1x slower" or "no measurable difference"
        words = speed_words(*[dict(median=x.median_ms, low=x.low_ms, high=x.high_ms) for x in (a, b)])
        ratio = a.median_ms / b.median_ms
        return SAME if words == SAME else f"{ratio if words == 'slower' else 1 / ratio:.1f}x {words}"

    def where(r) -> str:
        return "" if r.rerank == "none" else f", re-rank in the {r.rerank}"

    lines, rows = [], list(table.itertuples())
    for r in rows:
        if r.engine == "Milvus":
            faiss = next(f for f in rows if f.engine == "FAISS" and f.search == r.search)
            lines.append(f"{r.search}{where(r)}: Milvus recall {r.recall:.3f} vs FAISS {faiss.recall:.3f} "
                         f"({100 * (r.recall - faiss.recall):+.1f} pt); {r.median_ms:.2f} vs {faiss.median_ms:.2f} "
                         f"ms a query: {versus(r, faiss)}")  # fmt: skip
    for r in rows:
        full = next(f for f in rows if f.engine == r.engine and f.rerank == "none")
        if r.rerank != "none":
            lines.append(f"within {r.engine}: {r.search}{where(r)} vs full width: recall {r.recall:.3f} vs "
                         f"{full.recall:.3f}, {r.median_ms:.2f} vs {full.median_ms:.2f} ms: "
                         f"{versus(r, full)}")  # fmt: skip
    return lines
