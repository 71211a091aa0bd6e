"""Check your own embeddings (``python -m mrl_lab check``, notebook 06): how short can they be cut, and at
what precision, on your corpus?

Given a sentence-transformers model (or embeddings saved as ``.npy``) and a corpus, it measures, at
every size:

- the **recall check**: the share of each query's full-width top-``k`` that the cut vectors still
  find (``overlap@k``), and, when each query's relevant document is known, ``recall@k`` and
  ``MRR@k``, each with a 95 % bootstrap interval over the queries;
- the same after two fixes fitted on the corpus: **PCA** (rotated so the directions of largest
  variance come first) and a quick unsupervised **Matryoshka-Adaptor**;
- each at three precisions (float32, int8 and binary, by sentence-transformers'
  ``quantize_embeddings``), with and without re-scoring a shortlist with the full-width float32
  vectors;

then the **knee** (the smallest size keeping ``keep`` of full width), whether the model card says
it was trained with ``MatryoshkaLoss``, whether its prefixes *behave* like an MRL model's, and one
recommendation computed from the table.

Every setting that decides the figures is in :data:`SETTINGS`; the same inputs give the same numbers.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mrl_lab.core.checks import (
    check_choice,
    check_count,
    check_dims,
    check_embeddings,
    check_indices,
    check_instance,
    check_labels,
    check_number,
    check_settings,
    check_table,
    check_tensor,
    check_texts,
    rows_where,
)
from mrl_lab.core.nesting import truncate
from mrl_lab.data.files import read_texts, read_vectors
from mrl_lab.data.locate import fingerprint
from mrl_lab.evaluation.baselines import pca_rotation
from mrl_lab.evaluation.intervals import RESAMPLES
from mrl_lab.evaluation.quantize import storage_bytes
from mrl_lab.evaluation.search import search
from mrl_lab.experiments import adaptor
from mrl_lab.experiments.pretrained import embed
from mrl_lab.models.sentence_encoder import quiet_loading
from mrl_lab.runtime.budget import settings_for
from mrl_lab.runtime.cache import save_atomic


@dataclass(frozen=True)
class Settings:
    """Every value that decides the check's figures: the experiment's one table (:data:`SETTINGS`)."""

    k: int = 10  # neighbours compared per query: overlap@k, recall@k and MRR@k
    keep: float = 0.95  # the share of full width that the knee and the recommendation must keep
    queries: int = 1000  # with no queries given, this many corpus rows become queries (and leave the corpus)
    shortlist: int = 100  # candidates found at low precision, then re-scored with the full float32 vectors
    adaptor_steps: int = 100  # steps of the quick unsupervised Matryoshka-Adaptor fitted on the corpus
    max_tokens: int = 128  # token limit per text when a model encodes
    seed: int = 0  # drawing queries and the bootstrap's redraws

    def __post_init__(self):
        for name in ("k", "queries", "shortlist", "adaptor_steps", "max_tokens"):
            check_count(getattr(self, name), name, "check.Settings")
        check_count(self.seed, "seed", "check.Settings", low=0)
        check_number(self.keep, "keep (e.g. 0.95: 95 % of full width)", "check.Settings", 0, 1, open_low=True)
        if self.shortlist < self.k:
            raise ValueError(f"check.Settings: shortlist={self.shortlist} is below k={self.k}; re-score at least k")


# fmt: off
SETTINGS = {
    "smoke": Settings(queries=100, shortlist=20, adaptor_steps=10, max_tokens=64),
    "cpu":   Settings(),
    "gpu":   Settings(queries=2000, adaptor_steps=300),
}
# fmt: on
PRECISIONS = ("float32", "int8", "binary")
METHODS = ("prefix", "PCA", "adaptor")  # the vectors as they are, cut; then the two fixes fitted on the corpus
EVALUATE_TABLE = "pass the table check.evaluate returns"  # the fix when a table lacks its columns
MRL_LIKE, NORMAL_LIKE = 0.9, 0.75  # the prefix's overlap at 1/8 width over in-domain PCA's: the two verdict lines


def settings(budget, **changes) -> Settings:
    """The check's settings at ``budget`` (its row of :data:`SETTINGS`), with ``changes`` applied.

    Example:
        >>> settings("smoke").queries, settings("cpu", keep=0.9).keep
        (100, 0.9)
    """
    return settings_for(SETTINGS, budget, changes, "check.settings")


# ----------------------------------------------------------------------------- data


@dataclass
class Data:
    """What is checked: full-width corpus and query vectors, each query's relevant corpus row (or None),
    what the vectors came from, what its model card says, and notes on how the queries were chosen."""

    corpus: torch.Tensor
    queries: torch.Tensor
    targets: torch.Tensor | None
    source: str
    card: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return self.corpus.shape[1]


def read_card(source) -> dict:
    """What a sentence-transformers model card says about Matryoshka training: ``{"card": where it was
    read or None, "matryoshka": bool, "dims": the trained sizes or None}``.

    sentence-transformers writes the training loss into the card, and for ``MatryoshkaLoss`` its
    settings as JSON, including ``"matryoshka_dims": [...]``.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "README.md").write_text('#### MatryoshkaLoss\\n{"matryoshka_dims": [384, 64, 8]}')
        >>> read_card(folder)["dims"]
        [8, 64, 384]
    """
    readme = _source(source, "read_card") / "README.md"
    if not readme.is_file():
        readme = _hub_card(str(source))
    if readme is None:
        return {"card": None, "matryoshka": False, "dims": None}
    text = readme.read_text(encoding="utf-8", errors="replace")
    found = re.search(r'"matryoshka_dims"\s*:\s*\[([^\]]*)\]', text)
    dims = sorted({int(d) for d in re.findall(r"\d+", found.group(1))}) if found else None
    return {"card": str(readme), "matryoshka": "MatryoshkaLoss" in text or dims is not None, "dims": dims}


def _source(source, where: str) -> Path:
    """``source`` as a path, if it is a str or a path (a model folder or a Hub name); else an error naming ``where``."""
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"{where}: source={source!r}; pass a model folder or a Hub name (a str or a pathlib.Path)")
    return Path(source)


def _hub_card(name: str) -> Path | None:
    """The model card of a Hub model from the local Hugging Face cache (no download), or None."""
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", name) or Path(name).exists():  # a path, not a Hub name
        return None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(name, "README.md")
    return Path(found) if isinstance(found, str) else None


def load_model(source: str, max_tokens: int):
    """The sentence-transformers model ``source`` (a folder, or a Hub name), with a clear error when it cannot
    be had (offline, misspelt)."""
    _source(source, "load_model")
    check_count(max_tokens, "max_tokens", "load_model")
    from sentence_transformers import SentenceTransformer

    try:
        with quiet_loading():
            model = SentenceTransformer(source, device="cpu")
    except (OSError, ValueError) as e:
        raise ValueError(
            f"check: cannot load the model {source!r} ({type(e).__name__}: {str(e).splitlines()[0]}). Pass a local "
            "sentence-transformers folder, or, while online, a Hub name (it is then cached): e.g. "
            "python -c \"from sentence_transformers import SentenceTransformer; SentenceTransformer('NAME')\""
        ) from None
    model.max_seq_length = min(max_tokens, model.max_seq_length or max_tokens)
    return model


def _model_key(source: str) -> str:
    """The embedding cache's name for a model: its weights' hash for a folder, else its Hub name."""
    folder = Path(source)
    if folder.is_dir():
        try:
            return f"check-{folder.name}-{fingerprint(folder)}"
        except FileNotFoundError:
            pass  # a folder without the usual weights file: its name and path stand in (below)
    return "check-" + re.sub(r"[^A-Za-z0-9_.-]", "_", str(folder.resolve() if folder.exists() else source))[-80:]


def read_pairs(path, corpus_texts: list[str]) -> tuple[torch.Tensor, list[str] | None]:
    """Each query's relevant corpus row from ``path``, and the queries' texts when it has them.

    ``path`` is a CSV/TSV with a ``document`` column (and optionally a ``query`` column), or a file
    with one document a line, in the queries' order. A document is its corpus row number (from 0)
    or its text, word for word as in the corpus.
    """
    corpus_texts, path = check_texts(corpus_texts, "read_pairs: corpus_texts"), Path(path)
    columns = ("document", "query") if path.suffix.lower() in (".csv", ".tsv") else (None,)
    documents = read_texts(path, columns[0], what="check --pairs")
    queries = None
    if len(columns) == 2 and columns[1] in _header(path):
        queries = read_texts(path, "query", what="check --pairs")
    row_of = {t: i for i, t in reversed(list(enumerate(corpus_texts)))}
    rows = [int(d) if d.strip().isdigit() else row_of.get(d, -1) for d in documents]
    bad = [i for i, r in enumerate(rows) if not 0 <= r < len(corpus_texts)]
    if bad:
        raise ValueError(f"check --pairs: {len(bad)} of the {len(rows)} documents in {path} are neither a corpus "
                         f"line nor a row number 0..{len(corpus_texts) - 1} (the first is pair {bad[0]}, from 0: "
                         f"{documents[bad[0]][:60]!r}); copy documents from the corpus word for word")  # fmt: skip
    return torch.tensor(rows), queries


def _header(path: Path) -> list[str]:
    import csv

    with path.open(newline="", encoding="utf-8") as f:
        return next(csv.reader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ","), [])


def load_data(settings: Settings, source, corpus, queries=None, pairs=None, column=None, progress=True) -> Data:
    """The vectors to check: ``source`` (a model folder or Hub name, or a ``.npy`` of the corpus's embeddings)
    on the texts in ``corpus``; ``queries``: a file of query texts (with a ``.npy`` source, a ``.npy`` of query
    vectors); ``pairs``: each query's relevant document (:func:`read_pairs`); ``column``: the texts' column
    in a CSV/TSV corpus or queries file.

    With no queries, ``settings.queries`` corpus rows drawn at random become the queries, and leave
    the corpus searched so that no query finds itself.
    """
    s, source = check_settings(settings, Settings, "check.load_data"), str(source)
    texts, from_vectors = read_texts(corpus, column, what="check --corpus"), source.endswith(".npy")
    if queries is not None and from_vectors != str(queries).endswith(".npy"):
        raise ValueError(f"check --queries {queries}: with a .npy SOURCE give a .npy of query vectors; with a model, "
                         "a text file of queries")  # fmt: skip
    targets, query_texts, notes = None, None, []
    if pairs is not None:
        targets, query_texts = read_pairs(pairs, texts)
        if queries is None and (from_vectors or query_texts is None):
            raise ValueError(f"check --pairs {pairs}: it names relevant documents but no queries; add --queries, or "
                             "(with a model) a 'query' column beside the 'document' column")  # fmt: skip
    if from_vectors:
        model, card = None, {"card": None, "matryoshka": False, "dims": None}
        vectors = read_vectors(source, what="check SOURCE")
        if len(vectors) != len(texts):
            raise ValueError(f"check: {source} has {len(vectors)} rows but {corpus} has {len(texts)} texts; give "
                             "the corpus the vectors were made from, one text per row")  # fmt: skip
        query_vectors = None if queries is None else read_vectors(queries, what="check --queries")
    else:
        model, card = load_model(source, s.max_tokens), read_card(source)
        if queries is not None:
            query_texts = read_texts(queries, column, what="check --queries")
        vectors = embed(model, texts, _model_key(source), progress=progress)
        query_vectors = None if query_texts is None else embed(model, query_texts, _model_key(source), progress)
    if query_vectors is None:  # queries drawn from the corpus leave it
        n = min(s.queries, len(vectors) // 2)
        order = torch.randperm(len(vectors), generator=torch.Generator().manual_seed(s.seed))
        query_vectors, vectors = vectors[order[:n]], vectors[order[n:].sort().values]
        notes.append(f"{n:,} queries drawn from the corpus (seed {s.seed}) and left out of the corpus searched")
    elif query_texts is not None and queries is None:
        notes.append(f"the {len(query_texts):,} queries of {pairs}")
    if query_vectors.shape[1] != vectors.shape[1]:
        raise ValueError(f"check: queries have {query_vectors.shape[1]} dims but the corpus {vectors.shape[1]}; "
                         "embed both with the same model")  # fmt: skip
    if targets is not None and len(targets) != len(query_vectors):
        raise ValueError(f"check --pairs {pairs}: {len(targets)} relevant documents for {len(query_vectors)} "
                         "queries; give one per query, in the queries' order")  # fmt: skip
    if len(vectors) < s.shortlist:
        raise ValueError(
            f"check: the corpus searched has {len(vectors)} rows, fewer than the shortlist of "
            f"{s.shortlist} (and k={s.k}); give a corpus of at least {s.shortlist} rows"
            + (" besides the queries drawn from it" if queries is None and pairs is None else "")
        )
    return Data(vectors, query_vectors, targets, source, card, notes)


# ----------------------------------------------------------------------------- measuring


def default_sizes(width: int, trained=None) -> list[int]:
    """Powers of two from 8 below ``width``, 1/8 of the width, the sizes the model card names, and the width.

    Example:
        >>> default_sizes(384, trained=[64, 768])
        [8, 16, 32, 48, 64, 128, 256, 384]
    """
    check_count(width, "width", "default_sizes")
    sizes = {d for d in (2**i for i in range(3, 20)) if d < width} | {width, max(1, width // 8)}
    return sorted(sizes | {d for d in trained or () if d <= width})


def stored_search(queries, corpus, precision: str, n: int, calibration=None) -> torch.Tensor:
    """The top ``n`` corpus rows for each query with both stored at ``precision`` (sentence-transformers'
    ``quantize_embeddings``): float32 by cosine, int8 by the inner product of the codes (queries coded with
    the corpus's ranges, as a vector database stores them), binary by Hamming distance.

    Example:
        >>> db = torch.tensor([[1.0, 0.1], [0.1, 1.0], [0.9, -0.2]])
        >>> stored_search(torch.tensor([[1.0, -0.3]]), db, "binary", 1)
        tensor([[2]])
    """
    check_choice(precision, PRECISIONS, "precision", "stored_search")
    check_embeddings(queries, "stored_search: queries")
    check_embeddings(corpus, "stored_search: corpus", dim=queries.shape[1])
    check_count(n, "n (the candidates per query)", "stored_search", high=len(corpus))
    from sentence_transformers.util.quantization import quantize_embeddings

    if precision == "float32":
        return search(queries, corpus, n, device="cpu")
    q, c = queries.numpy(), corpus.numpy()
    if precision == "int8":
        calibration = c if calibration is None else calibration.numpy()
        ranges = np.stack([calibration.min(axis=0), calibration.max(axis=0)])
        q, c = (torch.from_numpy(quantize_embeddings(x, "int8", ranges=ranges).astype(np.float32)) for x in (q, c))
        return search(q, c, n, normalize=False, device="cpu")
    # binary: packed bits, unpacked to 0/1: matching bits score 1, so the most matches win
    width = q.shape[1]
    q, c = (np.unpackbits(quantize_embeddings(x, "ubinary"), axis=1)[:, :width].astype(np.float32) * 2 - 1
            for x in (q, c))  # fmt: skip
    return search(torch.from_numpy(q), torch.from_numpy(c), n, normalize=False, device="cpu")


def rescored(shortlist: torch.Tensor, queries: torch.Tensor, corpus: torch.Tensor, k: int) -> torch.Tensor:
    """The best ``k`` of each query's ``shortlist`` rows by cosine with the full float32 vectors."""
    check_embeddings(corpus, "rescored: corpus")
    check_tensor(queries, "rescored: queries", ("queries", corpus.shape[1]))
    check_tensor(shortlist, "rescored: shortlist", (len(queries), "candidates"), integers=True)
    check_indices(shortlist, len(corpus), "rescored: shortlist", "corpus rows")
    check_count(k, "k", "rescored", high=shortlist.shape[1])
    q, c = torch.nn.functional.normalize(queries, dim=1), torch.nn.functional.normalize(corpus, dim=1)
    scores = torch.einsum("md,mnd->mn", q, c[shortlist])
    return shortlist.gather(1, scores.topk(k, dim=1).indices)


def per_query(found: torch.Tensor, truth: torch.Tensor, targets, k: int) -> dict[str, np.ndarray]:
    """Per query: ``overlap@k`` (share of ``truth``'s top-k found), and with ``targets`` ``recall@k`` (1 if the
    relevant row is in the top k) and ``MRR@k`` (1/rank if it is, else 0)."""
    check_tensor(found, "per_query: found", ("queries", "k"))
    check_tensor(truth, "per_query: truth", (len(found), "k"))
    check_count(k, "k", "per_query", high=min(found.shape[1], truth.shape[1]))
    if targets is not None:
        check_labels(targets, len(found), "targets", "per_query")
    found, truth = found[:, :k], truth[:, :k]
    out = {f"overlap@{k}": (found[:, :, None] == truth[:, None, :]).any(dim=2).float().mean(dim=1).numpy()}
    if targets is not None:
        hit = found == targets[:, None]
        rank = torch.where(hit.any(dim=1), hit.float().argmax(dim=1) + 1, 0)
        out[f"recall@{k}"] = (rank > 0).float().numpy()
        out[f"MRR@{k}"] = torch.where(rank > 0, 1.0 / rank.clamp(min=1), 0.0).numpy()
    return out


def _interval(redraws: np.ndarray) -> tuple[float, float]:
    low, high = np.quantile(redraws, [0.025, 0.975])
    return float(low), float(high)


def method_vectors(settings: Settings, data: Data, progress=True) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{method: (queries, corpus)}`` at full width: the vectors as they are, rotated by PCA fitted on the
    corpus, and through an unsupervised Matryoshka-Adaptor fitted on the corpus."""
    check_instance(data, Data, "data", "method_vectors", "pass check.load_data(settings, source, corpus)")
    rotate = pca_rotation(data.corpus)
    fixed = adaptor.settings("cpu", dims=tuple(default_sizes(data.width)), steps=settings.adaptor_steps,
                             k=min(10, len(data.corpus) - 1), seed=settings.seed)  # fmt: skip
    fitted = adaptor.fit(fixed, data.corpus, progress=progress)
    return {
        "prefix": (data.queries, data.corpus),
        "PCA": (rotate(data.queries), rotate(data.corpus)),
        "adaptor": (adaptor.adapt(fitted, data.queries), adaptor.adapt(fitted, data.corpus)),
    }


def evaluate(settings: Settings, data: Data, sizes=None, progress=True) -> pd.DataFrame:
    """The check's table: one row per method, size, precision, re-scoring and metric, with ``value`` and its
    95 % interval (``low``, ``high``), and ``kept``: its share of the vectors' own full-width float32 value,
    with an interval (``kept_low``, ``kept_high``), from the same redrawn queries; ``bytes`` per stored vector.

    Every figure is measured against the vectors as given at full width and float32: overlap@k with their
    top k, recall@k and MRR@k against the same figure of theirs.
    """
    from tqdm.auto import tqdm

    s = check_settings(settings, Settings, "check.evaluate")
    check_instance(data, Data, "data", "check.evaluate", "pass check.load_data(settings, source, corpus)")
    sizes = check_dims(sizes or default_sizes(data.width, data.card.get("dims")), data.width, where="check")
    truth = search(data.queries, data.corpus, s.k, device="cpu")
    vectors = method_vectors(s, data, progress)
    redraw = np.random.default_rng(s.seed).integers(0, len(data.queries), (RESAMPLES, len(data.queries)))
    reference = per_query(truth, truth, data.targets, s.k)
    rows = []
    plan = [(m, d, p) for m in METHODS for d in sizes for p in PRECISIONS]
    for method, d, precision in tqdm(plan, desc="measuring every size and precision", disable=not progress):
        queries, corpus = vectors[method]
        if d > corpus.shape[1]:
            continue  # PCA fitted on fewer rows than dims has only that many components
        q, c = truncate(queries, d), truncate(corpus, d)
        shortlist = stored_search(q, c, precision, s.shortlist)
        for rescore in (False, True):
            found = rescored(shortlist, queries, corpus, s.k) if rescore else shortlist[:, : s.k]
            for metric, items in per_query(found, truth, data.targets, s.k).items():
                whole = reference[metric]
                means, base = items[redraw].mean(axis=1), whole[redraw].mean(axis=1)
                rows.append({
                    "method": method, "size": d, "precision": precision, "rescore": rescore, "metric": metric,
                    "value": float(items.mean()), **dict(zip(("low", "high"), _interval(means))),
                    "kept": float(items.mean() / whole.mean()),
                    **dict(zip(("kept_low", "kept_high"), _interval(means / np.maximum(base, 1e-12)))),
                    "bytes": storage_bytes(1, d, precision), "items": items,
                })  # fmt: skip
    return pd.DataFrame(rows)


def main_metric(data: Data, k: int) -> str:
    """The figure the knee and the recommendation read: recall@k with relevance labels, else overlap@k."""
    check_instance(data, Data, "data", "main_metric", "pass check.load_data(settings, source, corpus)")
    return f"recall@{k}" if data.targets is not None else f"overlap@{k}"


def knees(settings: Settings, table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per method, precision and re-scoring: the smallest size keeping ``settings.keep`` of full width on
    ``metric`` (NA where no size does)."""
    check_table(table, ["method", "size", "precision", "rescore", "metric", "kept"], "knees", EVALUATE_TABLE)
    chosen = rows_where(table, "metric", metric, "knees")
    out = []
    for (method, precision, rescore), group in chosen.groupby(["method", "precision", "rescore"], sort=False):
        ok = group[group["kept"] >= settings.keep].sort_values("size")
        out.append({"method": method, "precision": precision, "rescore": rescore,
                    "knee": int(ok["size"].iloc[0]) if len(ok) else pd.NA})  # fmt: skip
    return pd.DataFrame(out)


def cheapest(settings: Settings, table: pd.DataFrame, metric: str, method: str) -> pd.Series | None:
    """The row of ``method`` with the fewest bytes per vector that keeps ``settings.keep`` on ``metric``
    (among equal bytes: no re-scoring first, then the higher share kept)."""
    check_table(table, ["method", "metric", "kept", "bytes", "rescore"], "cheapest", EVALUATE_TABLE)
    rows_where(rows_where(table, "metric", metric, "cheapest"), "method", method, "cheapest")
    ok = table[(table["metric"] == metric) & (table["method"] == method) & (table["kept"] >= settings.keep)]
    if ok.empty:
        return None
    return ok.sort_values(["bytes", "rescore", "kept"], ascending=[True, True, False]).iloc[0]


def describe(r: pd.Series, width: int, settings: Settings, metric: str) -> str:
    """One row as a phrase: "64 dims, int8, re-score the top 100: 98 % of full-width recall@10 [97, 99] at 1/24
    of the bytes"."""
    check_instance(r, pd.Series, "r", "describe", "pass a row of check.evaluate's table, e.g. what cheapest returns")
    full = storage_bytes(1, width, "float32")
    how = f"{int(r['size'])} dims, {r['precision']}" + (f", re-score the top {settings.shortlist}" if r["rescore"]
                                                         else "")  # fmt: skip
    return (f"{how}: {r['kept']:.0%} of full-width {metric} [{r['kept_low']:.0%}, {r['kept_high']:.0%}] at "
            f"1/{full / r['bytes']:.0f} of the bytes ({int(r['bytes'])} B per vector, "
            f"{storage_bytes(10**6, int(r['size']), r['precision']) / 1e6:,.0f} MB per million)")  # fmt: skip


def summary(settings: Settings, data: Data, table: pd.DataFrame) -> dict:
    """What the table says, in a few computed lines: the card, how the prefixes behave, the knees and the
    recommendation."""
    check_settings(settings, Settings, "summary")
    check_instance(data, Data, "data", "summary", "pass check.load_data(settings, source, corpus)")
    s, k, width = settings, settings.k, data.width
    check_table(table, ["method", "size", "precision", "rescore", "metric", "value", "kept", "bytes"], "summary",
                EVALUATE_TABLE)  # fmt: skip
    rows_where(table, "metric", f"overlap@{k}", "summary")
    metric = main_metric(data, k)
    plain = table[(table["precision"] == "float32") & ~table["rescore"] & (table["metric"] == f"overlap@{k}")]
    eighth = min(plain["size"].unique(), key=lambda d: abs(d - width / 8))
    at = plain[plain["size"] == eighth].set_index("method")["value"]
    ratio = float(at["prefix"] / max(at["PCA"], 1e-12))
    behaves = ("like an MRL model's: close to PCA fitted on this corpus" if ratio >= MRL_LIKE else
               "like a normal model's: far below PCA fitted on this corpus" if ratio <= NORMAL_LIKE else
               "in between an MRL model's and a normal model's")  # fmt: skip
    card = data.card
    said = ("none: the vectors came as a .npy" if data.source.endswith(".npy") else
            "no model card found" if not card.get("card") else
            f"the model card says MatryoshkaLoss at {card['dims']}" if card["matryoshka"] and card["dims"] else
            "the model card mentions MatryoshkaLoss" if card["matryoshka"] else
            "the model card does not mention MatryoshkaLoss")  # fmt: skip
    lines = [
        f"{data.source}: {len(data.corpus):,} corpus vectors of {width} dims, {len(data.queries):,} queries"
        + (f" ({'; '.join(data.notes)})" if data.notes else ""),
        f"Card: {said}.",
        f"Measured: at {eighth} dims (1/8 of the width) the prefix finds {at['prefix']:.0%} of the full-width top "
        f"{k} (overlap@{k}), PCA fitted on this corpus {at['PCA']:.0%}: ratio {ratio:.2f}, so it behaves {behaves}.",
    ]
    components = int(table.loc[table["method"] == "PCA", "size"].max())
    if components < width:
        lines.append(f"PCA has {components} components at most: it was fitted on {len(data.corpus):,} rows, fewer "
                     f"than the {width} dims, so its larger sizes are missing.")  # fmt: skip
    share = s.shortlist / len(data.corpus)
    usable = table if share <= 0.1 else table[~table["rescore"]]  # re-scoring most of the corpus proves nothing
    best, fix = cheapest(s, usable, metric, "prefix"), {m: cheapest(s, usable, metric, m) for m in ("PCA", "adaptor")}
    if best is None:
        recommendation = f"No cut or precision keeps {s.keep:.0%} of full-width {metric}: store the full vectors."
    else:
        recommendation = "Recommendation: " + describe(best, width, s, metric) + "."
        if best["kept_low"] < s.keep:
            recommendation += f" Borderline: its interval reaches below {s.keep:.0%}; more queries would settle it."
    lines.append(recommendation)
    if share > 0.1:
        lines.append(f"Re-scoring is left out of the recommendation: the shortlist of {s.shortlist} is {share:.0%} of "
                     f"the corpus searched, so re-scoring it is nearly a full search. Check a corpus of at least "
                     f"{10 * s.shortlist:,} rows, or pass a smaller --shortlist.")  # fmt: skip
    elif best is not None and best["rescore"]:
        lines.append(f"Re-scoring reads the {s.shortlist} candidates' full float32 vectors (kept on disk, "
                     f"{4 * width} B each) for every query.")  # fmt: skip
    names = {"PCA": "PCA", "adaptor": "A Matryoshka-Adaptor"}
    for name, r in fix.items():
        if r is not None and best is not None and r["bytes"] < best["bytes"]:
            lines.append(f"{names[name]} fitted on this corpus needs fewer bytes: {describe(r, width, s, metric)}; "
                         "refit it when the corpus changes.")  # fmt: skip
        elif r is not None and best is not None:
            lines.append(f"{names[name]} fitted on this corpus does no better than cutting ({int(r['bytes'])} B per "
                         "vector at best).")  # fmt: skip
    return {"metric": metric, "card": card, "eighth": int(eighth), "ratio": ratio, "behaves": behaves,
            "recommendation": recommendation, "lines": lines,
            "knees": knees(s, table, metric).to_dict(orient="records")}  # fmt: skip


def write(out, settings: Settings, data: Data, table: pd.DataFrame, summary_: dict, html: str | None = None) -> Path:
    """Write ``results.csv``, ``results.json`` (the table without per-query items, and the summary) and, if
    given, ``report.html`` into the folder ``out``, each file whole or not at all (written beside, then renamed).
    Called only once everything is measured, so a failed check writes nothing."""
    check_settings(settings, Settings, "write")
    check_instance(data, Data, "data", "write", "pass check.load_data(settings, source, corpus)")
    out = Path(out)
    flat = check_table(table, ["items"], "write", EVALUATE_TABLE).drop(columns="items")
    payload = {"settings": settings.__dict__, "source": data.source, "summary": summary_,
               "rows": json.loads(flat.to_json(orient="records"))}  # fmt: skip
    files = {"results.csv": flat.to_csv(index=False), "results.json": json.dumps(payload, indent=1, default=str) + "\n"}
    if html is not None:
        files["report.html"] = html
    for name, text in files.items():
        save_atomic(out / name, lambda f, text=text: f.write(text.encode("utf-8")))
    return out
