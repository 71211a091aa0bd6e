"""MRL as it is practised on text (notebook 03, ``benchmarks/pretrained_text.py``): start from a
pretrained sentence encoder.

Nobody trains a text encoder from scratch to get Matryoshka embeddings. Starting from a pretrained
model (here ``all-MiniLM-L6-v2``, 384 dims, not trained with MRL), there are three ways to get
vectors that can be cut short, and this module builds all of them on the same data:

- **fine-tune** the encoder with the Matryoshka loss (the Hugging Face blog's workflow): the lab's
  ``MatryoshkaLoss(InfoNCE(temperature=0.05), dims)``, which equals sentence-transformers'
  ``MatryoshkaLoss(model, MultipleNegativesRankingLoss(model, scale=20), dims)``
  (``tests/test_pretrained.py`` checks it); against the same fine-tune without MRL (``normal``)
  and fine-tunes for one size only (``FF-d``), same pairs, steps and seed; at ``smoke`` and ``cpu`` all
  of them start from the model with a PCA rotation appended (:func:`pca_start`), so a short run
  begins with its dims already in order;
- **adapt** the frozen embeddings with a Matryoshka-Adaptor (:mod:`mrl_lab.experiments.adaptor`), as one
  must when the embeddings come from an API;
- **PCA** of the frozen embeddings, fitted on the corpus being searched, or on other text.

Every setting that decides the weights and the vectors is in :data:`SETTINGS`; models are cached by
those settings, the method and the encoder's and the data's fingerprints, and embeddings by model
and texts, so a re-run neither retrains nor re-encodes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from mrl_lab.core.checks import (
    check_count,
    check_dims,
    check_embeddings,
    check_has,
    check_instance,
    check_keys,
    check_number,
    check_settings,
    check_table,
    check_texts,
)
from mrl_lab.core.contrastive import InfoNCE
from mrl_lab.core.loss import MatryoshkaLoss
from mrl_lab.core.methods import ff_size, ff_sizes
from mrl_lab.core.methods import methods as method_names
from mrl_lab.core.nesting import dense_grid, truncate
from mrl_lab.data.locate import MODEL, find_encoder, fingerprint
from mrl_lab.data.text import SentencePairs, TextData
from mrl_lab.evaluation.baselines import pca_rotation
from mrl_lab.evaluation.metrics import spearman
from mrl_lab.evaluation.results import row, table
from mrl_lab.evaluation.search import hits_by_size, target_ranks
from mrl_lab.experiments import text
from mrl_lab.experiments.text import loss_for
from mrl_lab.models.frozen_bottom import SharedBottom, TopPairModel, transformer
from mrl_lab.models.pairs import PairEncoder, pair_ids
from mrl_lab.models.sentence_encoder import (
    SentenceEncoder,
    checkpoint_activations,
    load_encoder,
    pca_start,
    preprocess,
    token_ids,
)
from mrl_lab.runtime.budget import settings_for
from mrl_lab.runtime.cache import cache_dir, load_or_build
from mrl_lab.runtime.memory import give_freed_memory_back
from mrl_lab.training import model_cache
from mrl_lab.training.model_cache import settings_key
from mrl_lab.training.trainer import progress_for
from mrl_lab.training.trainer import train as run_trainer


@dataclass(frozen=True)
class Settings:
    """Every value that decides the fine-tuned weights and what is measured: the experiment's one table.

    A fine-tune's cache key is these values (all but those marked ``key: False``), its loss, the
    encoder's weights and the training pairs' fingerprint.
    """

    model: str = MODEL  # the pretrained sentence encoder
    dims: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 384)  # nesting sizes of the MRL fine-tune
    train_pairs: int | None = 1536  # AG News title -> description pairs fine-tuned on (None: all)
    epochs: int = 1  # passes over the training pairs
    batch_size: int = 32  # pairs per step
    lr: float = 1e-4  # AdamW's peak learning rate
    weight_decay: float = 0.01
    warmup: float = 0.25  # share of the steps over which the learning rate rises
    temperature: float = 0.05  # InfoNCE's; = sentence-transformers' MultipleNegativesRankingLoss(scale=20)
    max_tokens: int = 48  # token limit per text, in training and encoding
    freeze_token_embeddings: bool = True  # the 30,522 x 384 token table, half the weights, gets no gradient
    # (compare benchmarks/pretrained_text.py --set freeze_token_embeddings=False)
    frozen_layers: int = 3  # transformer layers kept frozen from the bottom, with all the embeddings: they run
    # once per text, without dropout, shared by every fine-tune (mrl_lab.models.frozen_bottom)
    checkpointing: bool = False  # recompute activations in the backward pass: the same weights, less memory
    start: str = "pca"  # what every fine-tune starts from: "pretrained" (the model as published) or "pca"
    # (the model with a PCA rotation appended, fitted on the training descriptions: see pca_start)
    seed: int = 0
    per_size: tuple[int, ...] | None = field(default=(16, 64), metadata={"key": False})  # the FF-d fine-tunes
    # (None: every size below the full width)
    test_rows: int | None = field(default=None, metadata={"key": False})  # held-out pairs measured (None: all)
    sts_rows: int | None = field(default=None, metadata={"key": False})  # STS-B test pairs measured (None: all)
    other_text_rows: int = field(default=2000, metadata={"key": False})  # STS-B training sentences the
    # out-of-domain PCA is fitted on

    def __post_init__(self):
        if self.start not in ("pretrained", "pca"):
            raise ValueError(f"pretrained.Settings: start={self.start!r}; choose 'pretrained' or 'pca'")
        check_dims(self.dims, where="pretrained.Settings")
        if self.per_size is not None:
            check_dims(self.per_size, where="pretrained.Settings: per_size")
        for name in ("epochs", "batch_size", "max_tokens", "other_text_rows", "train_pairs", "test_rows", "sts_rows"):
            if getattr(self, name) is not None:  # None: all the rows
                check_count(getattr(self, name), name, "pretrained.Settings")
        check_count(self.frozen_layers, "frozen_layers", "pretrained.Settings", low=0)
        check_count(self.seed, "seed", "pretrained.Settings", low=0)
        check_number(self.lr, "lr", "pretrained.Settings", low=0, open_low=True)
        check_number(self.weight_decay, "weight_decay", "pretrained.Settings", low=0)
        check_number(self.warmup, "warmup (a share of the steps)", "pretrained.Settings", 0, 1, open_low=True,
                     open_high=True)  # fmt: skip
        check_number(self.temperature, "temperature", "pretrained.Settings", low=0, open_low=True)


# fmt: off
SETTINGS = {
    "smoke": Settings(train_pairs=32, batch_size=16, max_tokens=32, per_size=(16,), test_rows=100, sts_rows=100,
                      other_text_rows=200),
    "cpu":   Settings(),
    "gpu":   Settings(train_pairs=None, batch_size=64, max_tokens=128, per_size=None, frozen_layers=0, epochs=3,
                      lr=3e-4, start="pretrained"),
}
# fmt: on
# gpu trains longer and at a higher lr, which puts the MRL fine-tune ahead of PCA fitted on the corpus at the
# smallest sizes. At cpu that many epochs do not fit the time, and a higher lr alone trades recall at large
# sizes for recall at small ones, so the cpu fine-tunes start from the PCA order instead; gpu starts from the
# published model, the start its recipe was chosen with. benchmarks/pretrained_text.py prints the recall
# (--set start=... or --set lr=... to compare); past runs are in benchmarks/RESULTS.md.


def settings(budget, **changes) -> Settings:
    """The experiment's settings at ``budget`` (its row of :data:`SETTINGS`), with ``changes`` applied.

    Example:
        >>> settings("smoke").train_pairs, settings("cpu", lr=2e-4).lr
        (32, 0.0002)
    """
    return settings_for(SETTINGS, budget, changes, "pretrained.settings")


# ----------------------------------------------------------------------------- data


@dataclass
class Data:
    """What every part of the experiment shares: the encoder's folder and the data."""

    folder: Path  # the pretrained encoder's sentence-transformers folder
    encoder: str  # a fingerprint of its weights
    train: TextData  # fine-tuning pairs
    test: TextData  # held-out titles (queries) and descriptions (the corpus searched)
    sts: SentencePairs  # STS-B test pairs, never trained on
    other_text: list[str]  # STS-B training sentences: "other text" for the out-of-domain PCA
    note: str
    _start: torch.Tensor | None = field(default=None, repr=False)  # the PCA start's data, made once


def load_data(settings: Settings, news, sts_test: SentencePairs, sts_train: SentencePairs, root=None) -> Data:
    """The encoder and the data the settings pick: training pairs, held-out pairs, STS-B.

    Args:
        news: :func:`~mrl_lab.data.text.load_ag_news`; sts_test, sts_train:
            :func:`~mrl_lab.data.text.load_sts_benchmark` (``"test"``, ``"train"``).
        root: where to look for the encoder (see :func:`~mrl_lab.data.locate.find_encoder`).
    """
    s = check_settings(settings, Settings, "pretrained.load_data")
    check_sources(news, sts_test, sts_train, "pretrained.load_data")
    for name, rows, there in (("test_rows", s.test_rows, news.test), ("sts_rows", s.sts_rows, sts_test)):
        if rows is not None:  # None: all of them
            check_count(rows, name, "pretrained.load_data", high=len(there))
    folder = find_encoder(s.model, root)
    train = news.train
    if s.train_pairs is not None and s.train_pairs < len(news.train):
        train = news.train.subset(s.train_pairs, seed=s.seed)
    test = news.test if s.test_rows is None else news.test.subset(s.test_rows, seed=s.seed)
    sts = sts_test if s.sts_rows is None else _first_pairs(sts_test, s.sts_rows)
    other = list(dict.fromkeys(sts_train.sentences1 + sts_train.sentences2))[: s.other_text_rows]
    note = (
        f"{len(train):,} training pairs, {len(test):,} held-out titles searching their {len(test):,} descriptions, "
        f"{len(sts):,} STS-B test pairs; {news.note}"
    )
    return Data(folder, fingerprint(folder), train, test, sts, other, note)


def check_sources(news, sts_test, sts_train, where: str) -> None:
    """What :func:`load_data` reads: AG News and both STS-B splits, else an error naming ``where`` and the fix."""
    check_has(news, text.NEWS, "news", where, "pass load_ag_news()")
    check_has(sts_test, text.STS, "sts_test", where, "pass load_sts_benchmark('test')")
    check_has(sts_train, text.STS, "sts_train", where, "pass load_sts_benchmark('train')")


def check_data(data: Data, where: str) -> Data:
    """``data`` if it is this experiment's :class:`Data`, else an error naming ``where`` and how to load it."""
    return check_instance(data, Data, "data", where, "pass pretrained.load_data(settings, news, sts_test, sts_train)")


def _first_pairs(sts: SentencePairs, n: int) -> SentencePairs:
    if not 1 <= n <= len(sts):
        raise ValueError(f"load_data: sts_rows={n} is outside 1..{len(sts)} (STS-B pairs)")
    return SentencePairs(sts.sentences1[:n], sts.sentences2[:n], sts.scores[:n], sts.source)


PARTS = ("titles", "descriptions", "sts1", "sts2")  # the text sets every model embeds (eval_texts)


def eval_texts(data: Data) -> dict[str, list[str]]:
    """The texts every model embeds: held-out titles and descriptions, and both STS-B columns."""
    check_data(data, "eval_texts")
    return {"titles": data.test.titles, "descriptions": data.test.descriptions, "sts1": data.sts.sentences1,
            "sts2": data.sts.sentences2}  # fmt: skip


# ----------------------------------------------------------------------------- embeddings, cached


def embed(model, texts: list[str], model_key: str, progress: bool = True, bottom=None, desc: str | None = None
          ) -> torch.Tensor:  # fmt: skip
    """Full-width embeddings of ``texts`` (float32, CPU), from the cache when this model embedded them before.

    The cache file is named by ``model_key`` (which weights), the token limit and a hash of the
    texts; it is written atomically, and a damaged or mismatched file is reported and rebuilt
    (:func:`~mrl_lab.runtime.cache.load_or_build`). ``bottom``: a
    :class:`~mrl_lab.models.frozen_bottom.SharedBottom` of the model's frozen layers, to run only
    the layers above them (the same vectors, faster). ``desc`` names the progress bar (default:
    "embedding N texts"), which shows only when the vectors are not cached.
    """
    texts = check_texts(texts, "embed")
    key = hashlib.sha1("\n".join(texts).encode()).hexdigest()[:12]
    path = cache_dir() / "embeddings" / f"{model_key}-{model.max_seq_length}-{key}.pt"

    def read(p):  # the cached vectors, if they are one finite row per text
        z = torch.load(p, map_location="cpu", weights_only=True)
        return z if z.shape[0] == len(texts) and torch.isfinite(z).all() else None

    def encode():
        name = desc or f"embedding {len(texts):,} texts"
        if bottom is not None:
            z = bottom.encode(model, texts, progress=progress, desc=name)
        else:  # in chunks under one labelled bar (sentence-transformers' own bar says only "Batches")
            chunks = tqdm(range(0, len(texts), 512), desc=name, disable=not progress, leave=False)
            z = torch.cat([model.encode(texts[i : i + 512], batch_size=32, convert_to_tensor=True,
                                        show_progress_bar=False) for i in chunks])  # fmt: skip
        z = z.float().cpu().clone()  # encode() runs in inference mode; a clone can be trained on (the adaptor)
        give_freed_memory_back()  # what encoding freed
        return z

    return load_or_build(path, read, encode, torch.save, "embed")


def embed_all(model, texts: dict[str, list[str]], model_key: str, progress: bool = True, bottom=None) -> dict:
    """:func:`embed` for each named list of texts (each bar named by its list: "embedding titles")."""
    check_instance(texts, dict, "texts", "embed_all", "pass {name: list of texts}, e.g. pretrained.eval_texts(data)")
    return {name: embed(model, t, model_key, progress, bottom, desc=f"embedding {name}") for name, t in texts.items()}


def base_key(settings: Settings, data: Data) -> str:
    """The cache name of the frozen pretrained encoder's embeddings."""
    check_settings(settings, Settings, "base_key")
    check_data(data, "base_key")
    return f"{settings.model}-{data.encoder}"


def loss_cross_check(model, titles: list[str], descriptions: list[str], dims) -> tuple[float, float]:
    """The lab's ``MatryoshkaLoss(InfoNCE(temperature=0.05, symmetric=False), dims)`` and
    sentence-transformers' ``MatryoshkaLoss(model, MultipleNegativesRankingLoss(model, scale=20), dims)``
    on one batch of pairs, embedded once by ``model`` in eval mode (no dropout). Returns both values.

    Scale 20 is 1 / temperature 0.05; sentence-transformers' default loss scores queries against
    documents only, which is the lab's InfoNCE with ``symmetric=False``.
    """
    titles = check_texts(titles, "loss_cross_check: titles")
    descriptions = check_texts(descriptions, "loss_cross_check: descriptions")
    if len(titles) != len(descriptions):
        raise ValueError(f"loss_cross_check: {len(titles)} titles but {len(descriptions)} descriptions; pass pairs")
    try:  # sentence-transformers >= 6 moved the losses; older versions keep them here
        from sentence_transformers.sentence_transformer import losses
    except ImportError:
        from sentence_transformers import losses
    was_training = model.training
    model.eval()
    features = [preprocess(model, titles), preprocess(model, descriptions)]
    with torch.no_grad():
        anchors, positives = (model(dict(f))["sentence_embedding"] for f in features)
        ours = MatryoshkaLoss(InfoNCE(temperature=0.05, symmetric=False), dims)(anchors, positives)
        mnrl = losses.MultipleNegativesRankingLoss(model, scale=20)
        theirs = losses.MatryoshkaLoss(model, mnrl, dims)([dict(f) for f in features], None)
    model.train(was_training)
    return ours.item(), theirs.item()


# ----------------------------------------------------------------------------- fine-tuning


def methods(settings: Settings) -> list[str]:
    """The fine-tunes: normal, MRL and one ``FF-d`` per stated size.

    Example:
        >>> methods(SETTINGS["cpu"])
        ['normal', 'MRL', 'FF-16', 'FF-64']
    """
    return method_names(ff_sizes(settings.per_size, settings.dims))


def start_vectors(settings: Settings, data: Data) -> torch.Tensor | None:
    """What :func:`~mrl_lab.models.sentence_encoder.pca_start` is fitted on when ``settings.start == "pca"``:
    the frozen encoder's embeddings of the training descriptions (made once, and cached); else None."""
    check_settings(settings, Settings, "start_vectors")
    check_data(data, "start_vectors")
    if settings.start == "pretrained":
        return None
    if data._start is None:
        base = load_encoder(data.folder, settings.max_tokens)
        data._start = embed(base, data.train.descriptions, base_key(settings, data), progress=False)
        del base
        give_freed_memory_back()
    return data._start


def build(settings: Settings, data: Data) -> PairEncoder | TopPairModel:
    """The untrained model every fine-tune starts from: the published encoder, with the PCA start appended when
    ``settings.start == "pca"``, run whole (a :class:`~mrl_lab.models.pairs.PairEncoder`) or, with frozen
    layers, only above them (a :class:`~mrl_lab.models.frozen_bottom.TopPairModel`)."""
    check_settings(settings, Settings, "pretrained.build")
    check_data(data, "pretrained.build")
    st = load_encoder(data.folder, settings.max_tokens)
    start = start_vectors(settings, data)
    if start is not None:  # the PCA start: a rotation layer and a Normalize after the published model
        for module in pca_start(start):
            st.append(module)
    encoder, n = SentenceEncoder(st), settings.frozen_layers
    # the training pairs' bottom states are kept in float16, half the memory (the rounding, about 1 part in
    # 2,000, is far below dropout's)
    return PairEncoder(encoder) if not n else TopPairModel(encoder, n, states=torch.float16)


def cache_key(settings: Settings, data: Data, method: str) -> dict:
    """What decides a fine-tune's weights: the settings, the method's loss, the encoder and the training pairs."""
    check_settings(settings, Settings, "pretrained.cache_key")
    check_data(data, "pretrained.cache_key")
    return dict(settings_key(settings), name=f"minilm-{method}", loss=repr(loss_for(method, settings)),
                encoder=data.encoder, train_rows=len(data.train), train_source=data.train.source)  # fmt: skip


def train(settings: Settings, data: Data, method: str, *, device=None, retrain=False, progress=True, bottom=None):
    """The fine-tune of ``method``, from the model cache when it is there: ``(model, meta)``.

    Every method starts from the same weights (:func:`build`) and sees the same pairs, batches and
    learning-rate schedule (the lab's trainer, seeded); only the loss differs
    (:func:`~mrl_lab.experiments.text.loss_for`: InfoNCE at full width, at every nesting size, or
    at ``d`` alone). ``bottom``: a :class:`~mrl_lab.models.frozen_bottom.SharedBottom` holding the
    training pairs' bottom states, shared by every fine-tune (:func:`train_all` makes one).
    """
    check_settings(settings, Settings, "pretrained.train")
    check_data(data, "pretrained.train")
    key, model = cache_key(settings, data, method), build(settings, data)

    def fit():
        log = _fit(settings, data, model, method, device, progress, bottom)
        give_freed_memory_back()  # the fine-tuned model sits in reference cycles: free it now, not later
        return log

    meta = model_cache.load_or_train(key, model, fit, retrain=retrain)
    if device is not None:
        model.to(device)
    return model.eval(), meta


def _fit(settings: Settings, data: Data, model, method: str, device, progress, bottom):
    """Train ``model`` in place: freeze what stays frozen, then the trainer over the training pairs."""
    bert = transformer(model.encoder.model)  # cheaper steps, and less forgetting of pretraining
    n = settings.frozen_layers
    parts = [bert.embeddings.word_embeddings] if settings.freeze_token_embeddings else []
    for part in parts + ([bert.embeddings, *bert.encoder.layer[:n]] if n else []):
        part.requires_grad_(False)
    if settings.checkpointing:
        checkpoint_activations(model)
    st = model.encoder.model
    if not n:  # the pairs' token ids, run through the whole model at every step
        inputs = pair_ids(partial(token_ids, st, max_tokens=settings.max_tokens), data.train)
    else:  # the pairs' row numbers: the model looks up their bottom states and runs the layers above
        bottom = bottom if bottom is not None else SharedBottom(n, torch.float16)
        model.use(bottom.states(st, data.train.titles), bottom.states(st, data.train.descriptions))
        inputs = torch.arange(len(data.train))
    shown = progress_for(f"fine-tune {method}", progress)
    return run_trainer(model, loss_for(method, settings), inputs, None, settings, device=device, progress=shown)


def train_all(settings: Settings, data: Data, *, only=None, keep=(), device=None, retrain=False, progress=True):
    """Fine-tune (or load from the cache) each method, one at a time, and embed the evaluation texts.

    Two passes: 1. train each model not cached yet; 2. load each and embed with it. So the training
    pairs' bottom states (shared by every fine-tune, see :func:`train`) are freed before the texts
    to embed get theirs. Each model trains and embeds on ``device`` (default: the CPU).

    Returns:
        ``{method: {"vectors": {text set: (N, 384) embeddings}, "meta": training time etc., "key": the
        model's cache name (for :func:`embed`), "model": the SentenceTransformer, only for methods in
        keep}}``. The other models are freed once they have embedded the texts, so the fine-tunes
        never sit in memory together.
    """
    n = check_settings(settings, Settings, "pretrained.train_all").frozen_layers
    check_data(data, "pretrained.train_all")
    bottom = {"train": SharedBottom(n, torch.float16), "eval": SharedBottom(n)} if n else {"train": None, "eval": None}
    give_freed_memory_back()  # what earlier steps freed (encoding, adaptors), before the first model trains
    names = check_texts(only or methods(settings), "pretrained.train_all: only", "method name")
    keys, metas = {name: cache_key(settings, data, name) for name in names}, {}  # a method's name is checked here
    untrained = build(settings, data)  # every method starts from it: one architecture for every cache path
    for name in names:
        if retrain or not model_cache.checkpoint_path(keys[name], untrained).exists():
            _, metas[name] = train(settings, data, name, device=device, retrain=retrain, progress=progress,
                                   bottom=bottom["train"])  # fmt: skip
    del untrained
    if bottom["train"] is not None:
        bottom["train"].kept.clear()  # (a damaged checkpoint found below is trained again: they come back)
    out = {}
    for name in names:
        # the model comes back where it trained (the CPU by default) and embeds the texts there
        model, meta = train(settings, data, name, device=device or "cpu", progress=progress, bottom=bottom["train"])
        st, key = model.encoder.model, model_cache.checkpoint_path(keys[name], model).stem
        out[name] = {"vectors": embed_all(st, eval_texts(data), key, progress, bottom["eval"]),
                     "meta": metas.get(name, meta), "key": key}  # fmt: skip
        if name in keep:
            out[name]["model"] = st
        del model, st
        give_freed_memory_back()
    bottom = None
    give_freed_memory_back()  # the texts' bottom states
    return out


def served_vectors(settings: Settings, data: Data, news, rows=None, queries: int = 200, device=None,
                   published: bool = False):  # fmt: skip
    """Vectors to serve from an index: a corpus of AG News descriptions and held-out headlines as queries.

    The MRL and normal fine-tunes (from the cache, or trained now), and, as the post-hoc control,
    the normal vectors centred and rotated by PCA fitted on the corpus. The corpus is every
    description of ``news`` (train, validation and test; ``rows``: the first ``rows`` of them); the
    queries are the first ``queries`` held-out titles, which no model trained on. ``device``: where
    the models train (if not cached) and embed. ``published``: also ``"published"``, the published
    model's own vectors, cut as they are: the plain control (where ``settings.start`` is ``"pca"``, both
    fine-tunes start from PCA's order, so the normal fine-tune's prefix is not a plain normal model's).

    Returns:
        ``(corpus, queries)``: ``{"MRL" | "normal" | "normal + PCA" [| "published"]: (N, 384) or (queries, 384)}``.
    """
    check_settings(settings, Settings, "served_vectors")
    check_count(queries, "queries", "served_vectors")
    if rows is not None:
        check_count(rows, "rows", "served_vectors")
    check_data(data, "served_vectors")
    check_has(news, ("train", "val", "test"), "news", "served_vectors", "pass load_ag_news()")
    corpus = (news.train.descriptions + news.val.descriptions + news.test.descriptions)[:rows]
    tuned = train_all(settings, data, device=device, only=["MRL", "normal"], keep=("MRL", "normal"))
    db, q = {}, {}
    for name in ("MRL", "normal"):
        db[name] = embed(tuned[name]["model"], corpus, tuned[name]["key"], desc=f"{name}: embedding the corpus")
        q[name] = tuned[name]["vectors"]["titles"][:queries]
    del tuned
    give_freed_memory_back()
    db, q = with_pca_control(db, q)
    if published:
        z = _published(settings, data, {"corpus": corpus, "titles": data.test.titles})
        db["published"], q["published"] = z["corpus"], z["titles"][:queries]
    return db, q


def _published(settings: Settings, data: Data, texts: dict[str, list[str]]) -> dict[str, torch.Tensor]:
    """The published model's own vectors of each list of ``texts`` (cached under the keys notebook 03 uses)."""
    model = load_encoder(data.folder, settings.max_tokens)
    vectors = embed_all(model, texts, base_key(settings, data))
    del model
    give_freed_memory_back()
    return vectors


def with_pca_control(corpus: dict, queries: dict, fit_on: torch.Tensor | None = None) -> tuple[dict, dict]:
    """Add ``"normal + PCA"``: the normal vectors (corpus and queries) centred on the corpus mean and rotated
    onto every component of PCA fitted on the corpus (so at full width a search nearly repeats the normal one's).
    ``fit_on``: other vectors to fit PCA on instead (another corpus: PCA fitted once and reused)."""
    for name, vectors in (("corpus", corpus), ("queries", queries)):
        check_keys(vectors, ["normal"], name, "with_pca_control", "pass {'normal': the normal model's vectors, ...}")
    rotate = pca_rotation(corpus["normal"] if fit_on is None else fit_on)
    corpus["normal + PCA"], queries["normal + PCA"] = rotate(corpus["normal"]), rotate(queries["normal"])
    return corpus, queries


def served_sts(settings: Settings, data: Data, fit_on: torch.Tensor, queries: int = 600, device=None,
               published: bool = False):  # fmt: skip
    """Out-of-domain vectors to serve: STS-B test sentences, which no fine-tune trained on.

    The first ``queries`` first sentences of the pairs are the queries (at most half of them); the
    other first sentences and every second sentence are the corpus. The MRL and normal fine-tunes embed
    them (from the cache when notebook 03 ran), and ``"normal + PCA"`` rotates the normal vectors by PCA
    fitted on ``fit_on`` (e.g. the AG News corpus's normal vectors: PCA fitted once, on another corpus);
    MRL's prefix has nothing fitted. ``published``: also the published model's own vectors, as in
    :func:`served_vectors`.

    Returns:
        ``(corpus, queries)`` as :func:`served_vectors` gives them.
    """
    check_settings(settings, Settings, "served_sts")
    check_count(queries, "queries", "served_sts")
    check_data(data, "served_sts")
    check_embeddings(fit_on, "served_sts: fit_on")
    tuned = train_all(settings, data, device=device, only=["MRL", "normal"])
    n = min(queries, len(data.sts) // 2)
    db, q = {}, {}
    for name in ("MRL", "normal"):
        v = tuned[name]["vectors"]
        db[name], q[name] = torch.cat([v["sts1"][n:], v["sts2"]]), v["sts1"][:n]
    del tuned
    give_freed_memory_back()
    db, q = with_pca_control(db, q, fit_on=fit_on)
    if published:
        z = _published(settings, data, {"sts1": data.sts.sentences1, "sts2": data.sts.sentences2})
        db["published"], q["published"] = torch.cat([z["sts1"][n:], z["sts2"]]), z["sts1"][:n]
    return db, q


def scratch_reference(budget, news, texts: dict[str, list[str]], device=None) -> dict[str, torch.Tensor]:
    """Notebook 02's MRL model, trained from scratch on AG News (from the cache when 02 ran), embedding ``texts``."""
    check_has(news, text.NEWS, "news", "scratch_reference", "pass load_ag_news()")
    check_instance(texts, dict, "texts", "scratch_reference", "pass {name: list of texts}, e.g. eval_texts(data)")
    settings = text.settings(budget)
    data = text.load_data(settings, news)
    encoder, _ = text.train(settings, data, "MRL", device=device)
    vectors = {name: text.embed(encoder, data.tok, t) for name, t in texts.items()}
    del encoder
    give_freed_memory_back()
    return vectors


# ----------------------------------------------------------------------------- evaluation


def per_size_models(names) -> dict[str, dict[int, str]]:
    """The per-size fine-tunes among ``names``, grouped: ``{"fine-tuned FF": {16: "fine-tuned FF-16", ...}}``.

    >>> per_size_models(["fine-tuned normal", "fine-tuned FF-16", "fine-tuned FF-64", "base, cut"])
    {'fine-tuned FF': {16: 'fine-tuned FF-16', 64: 'fine-tuned FF-64'}}
    """
    groups = {}
    for name in names:
        if ff_size(name) is not None:
            groups.setdefault(name.rpartition("-")[0], {})[ff_size(name)] = name
    return groups


def by_size(full: dict[str, dict]):
    """``vectors(method, d) -> {text set: (N, d) vectors}``, or None where ``method`` has no ``d``-dim vectors.

    ``full`` holds each method's full-width vectors, ``{method: {"titles", "descriptions", "sts1",
    "sts2": tensors}}``; a method's vectors at ``d`` are its first ``d`` numbers, re-normalised. The
    per-size fine-tunes ``"... FF-16"``, ``"... FF-64"`` answer together as one method, ``"... FF"``:
    the model trained for ``d`` dims, and at full width the normal fine-tune (FF-384 *is* that model).

        >>> full = {"fine-tuned normal": {"titles": torch.ones(2, 8)}, "fine-tuned FF-4": {"titles": torch.ones(2, 8)}}
        >>> vectors = by_size(full)
        >>> vectors("fine-tuned FF", 4)["titles"].shape, vectors("fine-tuned FF", 2)
        (torch.Size([2, 4]), None)
        >>> vectors("fine-tuned FF", 8)["titles"] is not None  # the normal fine-tune
        True
    """
    groups = per_size_models(full)
    for stem, models in groups.items():
        normal = stem.removesuffix("FF") + "normal"
        if normal in full:
            models[full[normal]["titles"].shape[1]] = normal

    def vectors(method: str, d: int):
        name = groups[method].get(d) if method in groups else method
        if name not in full or d > full[name]["titles"].shape[1]:
            return None
        return {part: truncate(z, d) for part, z in full[name].items()}

    return vectors


def measured_sizes(settings: Settings) -> list[int]:
    """The sizes every method is measured at: the nesting sizes, and 1/8 of the full width (48 of 384).

    Example:
        >>> measured_sizes(SETTINGS["cpu"])
        [8, 16, 32, 48, 64, 128, 256, 384]
    """
    return sorted(set(settings.dims) | {settings.dims[-1] // 8})


def evaluate(settings: Settings, data: Data, full: dict[str, dict], sizes=None) -> pd.DataFrame:
    """Every method at every size it has, as one results table (:mod:`mrl_lab.evaluation.results`).

    Metrics: title -> description ``recall@10`` (with its 95 % interval) and ``MRR`` among the
    held-out descriptions, and ``STS-B Spearman`` (the cosine of each STS-B pair against the human
    score). The ``items`` behind them: which titles find their description, each title's
    reciprocal rank, each STS-B pair's cosine (compare two methods with
    :func:`~mrl_lab.evaluation.results.leads`, ``gold=data.sts.scores`` for STS-B).

    Args:
        full: ``{method: {"titles", "descriptions", "sts1", "sts2": full-width tensors}}``; per-size
            fine-tunes named ``"... FF-d"`` are measured as one method ``"... FF"`` (see :func:`by_size`).
        sizes: the sizes to measure (default :func:`measured_sizes`); a method is skipped at sizes
            it has no vectors for.
    """
    check_settings(settings, Settings, "pretrained.evaluate")
    if not full:
        raise ValueError("pretrained.evaluate: full is empty; pass {method: {text set: vectors}} (eval_texts' sets)")
    for method, parts in full.items():
        check_keys(parts, PARTS, f"full[{method!r}]", "pretrained.evaluate", "embed each set of eval_texts(data)")
    check_data(data, "pretrained.evaluate")
    vectors, groups = by_size(full), per_size_models(full)
    methods_shown = [m for m in full if not any(m in models.values() for models in groups.values())] + list(groups)
    rows = []
    for method in tqdm(methods_shown, desc="measuring every method at every size"):
        for d in sizes or measured_sizes(settings):
            v = vectors(method, d)
            if v is not None:
                ranks = target_ranks(v["titles"], v["descriptions"], torch.arange(len(v["titles"])))
                sims = (v["sts1"] * v["sts2"]).sum(dim=1)  # cut and re-normalised: the cosine
                rows += [row(method, d, "recall@10", ranks <= 10, interval=True),
                         row(method, d, "MRR", 1.0 / ranks),
                         row(method, d, "STS-B Spearman", sims, value=spearman(sims, data.sts.scores))]  # fmt: skip
    return table(rows)


def every_size(full: dict[str, dict], methods_shown) -> pd.DataFrame:
    """recall@10 (``"recall@10, every size"``) at every size from 1 to 64, then every 16th: mostly sizes
    never trained, as a results table."""
    rows = []
    for name in check_texts(methods_shown, "every_size: methods_shown", "method name"):
        check_keys(full, [name], "full", "every_size", "name only methods in full")
        q, db = full[name]["titles"], full[name]["descriptions"]
        for d, hits in hits_by_size(q, db, dense_grid(q.shape[1])).items():
            rows.append(row(name, d, "recall@10, every size", hits, interval=True))
    return table(rows)


# ----------------------------------------------------------------------------- the fine-tune as a model to ship


def save_sentence_transformer(model, folder, settings: Settings, results: pd.DataFrame | None = None,
                              method: str = "fine-tuned MRL") -> Path:  # fmt: skip
    """Save a fine-tune (the SentenceTransformer that :func:`train_all` keeps, or the model :func:`train` returns)
    as a standard sentence-transformers folder, whose model card
    states the loss, the trained sizes and, from ``results`` (:func:`evaluate`'s table), ``method``'s measured
    quality per size. ``SentenceTransformer(folder, truncate_dim=d)`` then loads it; with
    ``normalize_embeddings=True`` its vectors equal the lab's ``truncate(z, d)`` (``tests/test_check.py``).

    The card's loss block is written as sentence-transformers writes it, so ``python -m mrl_lab check``
    reads the trained sizes back from it.
    """
    import json

    folder = Path(folder)
    st = model.encoder.model if hasattr(model, "encoder") else model
    if not hasattr(st, "save"):
        raise TypeError(f"save_sentence_transformer: model has type {type(model).__name__}; pass the "
                        "SentenceTransformer train_all keeps, or the model train returns")  # fmt: skip
    if results is not None:
        check_table(results, ["method", "size", "metric", "value"], "save_sentence_transformer",
                    "pass pretrained.evaluate's table, or None")  # fmt: skip
    st.save(str(folder), create_model_card=False)
    dims = list(settings.dims)
    config = {"loss": "MultipleNegativesRankingLoss", "matryoshka_dims": dims[::-1],
              "matryoshka_weights": [1] * len(dims), "n_dims_per_step": -1}  # fmt: skip
    lines = [
        "---", "library_name: sentence-transformers", "pipeline_tag: sentence-similarity",
        f"base_model: sentence-transformers/{settings.model}", "tags: [sentence-transformers, matryoshka, mrl-lab]",
        "---", "", f"# {settings.model}, fine-tuned with MatryoshkaLoss by mrl-lab", "",
        f"Fine-tuned on {settings.train_pairs or 'all'} AG News headline -> description pairs for {settings.epochs} "
        f"epoch(s) (notebook 03 of mrl-lab; every setting: `mrl_lab.experiments.pretrained.SETTINGS`). Cut the "
        "vectors to any trained size and re-normalise: `SentenceTransformer(folder, truncate_dim=64)` with "
        "`encode(..., normalize_embeddings=True)`.", "", "## Training loss", "", "#### MatryoshkaLoss", "",
        "The lab's `MatryoshkaLoss(InfoNCE(temperature=0.05, symmetric=False), dims)`, which equals this:", "",
        "```json", json.dumps(config, indent=4), "```",
    ]  # fmt: skip
    if results is not None:
        chosen = results[results["method"] == method]
        if chosen.empty:
            raise ValueError(f"save_sentence_transformer: no rows for method {method!r} in results; it has "
                             f"{sorted(results['method'].unique())}")  # fmt: skip
        wide = chosen.pivot(index="size", columns="metric", values="value")
        lines += [
            "",
            "## Measured quality per size (held-out AG News and STS-B test, from the run that trained it)",
            "",
            "| size | " + " | ".join(wide.columns) + " |",
            "|---" * (len(wide.columns) + 1) + "|",
        ]
        lines += [f"| {d} | " + " | ".join(f"{v:.3f}" for v in r) + " |" for d, r in wide.iterrows()]  # fmt: skip
    (folder / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
