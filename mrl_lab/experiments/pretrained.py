"""MRL as it is practised on text (notebook 05, ``benchmarks/pretrained_text.py``): start from a
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
- **adapt** the frozen embeddings with a Matryoshka-Adaptor (:mod:`mrl_lab.models.adaptor`), as one must
  when the embeddings come from an API;
- **PCA** of the frozen embeddings, fitted on the corpus being searched, or on other text.

Every setting that decides the weights and the vectors is in :data:`SETTINGS`; models are cached by
that table (plus the encoder's and the data's fingerprints) and embeddings by model and texts, so a
re-run neither retrains nor re-encodes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from tqdm.auto import tqdm

from mrl_lab.core.contrastive import InfoNCE
from mrl_lab.core.loss import MatryoshkaLoss
from mrl_lab.core.nesting import dense_grid, truncate
from mrl_lab.data.locate import MODEL, find_encoder, fingerprint
from mrl_lab.data.text import SentencePairs, TextData
from mrl_lab.evaluation.baselines import pca_rotation
from mrl_lab.evaluation.metrics import retrieval_scores, spearman
from mrl_lab.evaluation.search import hits_by_size, target_ranks
from mrl_lab.experiments import text
from mrl_lab.experiments.text import loss_for
from mrl_lab.models.frozen_bottom import SharedBottom, TopPairModel, transformer
from mrl_lab.models.pairs import PairEncoder, pair_ids
from mrl_lab.models.sentence_encoder import SentenceEncoder, checkpoint_activations, load_encoder, pca_start, token_ids
from mrl_lab.runtime.cache import cache_dir, save_atomic
from mrl_lab.runtime.memory import give_freed_memory_back
from mrl_lab.training.model_cache import checkpoint_path, load_or_train
from mrl_lab.training.trainer import train

# The experiment's settings table: everything that decides the fine-tuned weights, the adaptors and
# what is measured, per budget. Shared values first, then what each budget changes.
SHARED = dict(
    model=MODEL,
    dims=[8, 16, 32, 64, 128, 256, 384],  # nesting sizes of the MRL fine-tune and the adaptors
    epochs=1,  # passes over the training pairs
    lr=1e-4,  # peak learning rate (AdamW, warm-up over the first `warmup` share of the steps, then linear decay)
    weight_decay=0.01,
    warmup=0.25,
    temperature=0.05,  # InfoNCE; = sentence-transformers' MultipleNegativesRankingLoss(scale=20)
    seed=0,
    freeze_token_embeddings=True,  # the 30,522 x 384 token table, half the weights: saves its gradients and
    # AdamW state (~0.2 GB) and ~14 % of each step's time on a CPU
    adaptor=dict(
        hidden=512, k=10, pairwise_weight=1.0, reconstruction_weight=1.0, ranking_weight=1.0, batch_size=256, lr=1e-3
    ),  # fmt: skip
)
SETTINGS = {
    # train_pairs: AG News title -> description pairs used (None: all); batch_size: pairs per step;
    # max_tokens: token limit per text, in training and encoding; per_size: the FF-d fine-tunes
    # (None: every size below 384); test_rows / sts_rows: held-out pairs measured (None: all);
    # other_text_rows: STS-B training sentences the out-of-domain PCA is fitted on;
    # adaptor_steps: training steps of each adaptor; frozen_layers: transformer layers kept frozen from the
    # bottom, with all the embeddings (at cpu 3 of 6: they get no gradients, and they run once per text, without
    # dropout, shared by every fine-tune (mrl_lab.models.frozen_bottom), so a step is cheaper and lighter, and STS-B
    # drifts less); checkpointing: recompute activations in the backward pass
    # instead of keeping them (the same weights; less memory, ~35 % slower steps); start: what every fine-tune
    # starts from, "pretrained" (the model as published) or "pca" (the model with a PCA rotation appended, fitted
    # on the training descriptions: see pca_start).
    "smoke": dict(SHARED, train_pairs=32, batch_size=16, max_tokens=32, per_size=[16], test_rows=100,
                  sts_rows=100, other_text_rows=200, adaptor_steps=20, frozen_layers=3, checkpointing=False,
                  start="pca"),
    "cpu": dict(SHARED, train_pairs=1536, batch_size=32, max_tokens=48, per_size=[16, 64], test_rows=None,
                sts_rows=None, other_text_rows=2000, adaptor_steps=100, frozen_layers=3, checkpointing=False,
                start="pca"),
    "gpu": dict(SHARED, train_pairs=None, batch_size=64, max_tokens=128, per_size=None, test_rows=None,
                sts_rows=None, other_text_rows=2000, adaptor_steps=300, frozen_layers=0, checkpointing=False,
                epochs=3, lr=3e-4, start="pretrained"),
}  # fmt: skip
# gpu trains 3 epochs at lr 3e-4: on one H200 (2026-11-28, 5,320 offline pairs) that put the MRL fine-tune
# 15 and 6 points of recall@10 ahead of PCA fitted on the corpus at 8 and 16 dims (1 epoch at 1e-4: 1-2 behind),
# with the normal fine-tune of the same recipe 0.4 points ahead at 384 dims. At cpu three epochs do not fit the
# time, and a higher lr alone (3e-4 to 1e-3) traded recall at 64-384 dims for recall at 8 dims. So at cpu the
# fine-tunes start from the PCA order instead (2-core CPU, 2026-11-28, MRL recall@10 at 8 / 16 / 64 dims: 0.371 /
# 0.607 / 0.834 from the published model, 0.532 / 0.732 / 0.880 from the PCA start; PCA fitted on the searched
# corpus 0.479 / 0.709 / 0.870). The gpu recipe was measured from the published model and kept so.


# ----------------------------------------------------------------------------- the encoder


def loss_cross_check(model, titles: list[str], descriptions: list[str], dims) -> tuple[float, float]:
    """The lab's ``MatryoshkaLoss(InfoNCE(temperature=0.05, symmetric=False), dims)`` and
    sentence-transformers' ``MatryoshkaLoss(model, MultipleNegativesRankingLoss(model, scale=20), dims)``
    on one batch of pairs, embedded once by ``model`` in eval mode (no dropout). Returns both values.

    Scale 20 is 1 / temperature 0.05; sentence-transformers' default loss scores queries against
    documents only, which is the lab's InfoNCE with ``symmetric=False``.
    """
    try:  # sentence-transformers >= 6 moved the losses; older versions keep them here
        from sentence_transformers.sentence_transformer import losses
    except ImportError:
        from sentence_transformers import losses

    was_training = model.training
    model.eval()
    features = [model.tokenize(titles), model.tokenize(descriptions)]
    with torch.no_grad():
        anchors, positives = (model(dict(f))["sentence_embedding"] for f in features)
        ours = MatryoshkaLoss(InfoNCE(temperature=0.05, symmetric=False), dims)(anchors, positives)
        mnrl = losses.MultipleNegativesRankingLoss(model, scale=20)
        theirs = losses.MatryoshkaLoss(model, mnrl, dims)([dict(f) for f in features], None)
    model.train(was_training)
    return ours.item(), theirs.item()


# ----------------------------------------------------------------------------- data and settings


@dataclass
class Setup:
    """What every part of the experiment shares: settings, the encoder's folder and the data."""

    config: dict
    folder: Path
    train: TextData  # fine-tuning pairs
    test: TextData  # held-out titles (queries) and descriptions (the corpus searched)
    sts: SentencePairs  # STS-B test pairs, never trained on
    other_text: list[str]  # STS-B training sentences: "other text" for the out-of-domain PCA
    note: str


def setup(budget, news, sts_test: SentencePairs, sts_train: SentencePairs, root=None) -> Setup:
    """The settings of ``budget`` and the data they pick: training pairs, held-out pairs, STS-B.

    Args:
        budget: from :func:`~mrl_lab.get_budget`; news: :func:`~mrl_lab.load_ag_news`;
        sts_test, sts_train: :func:`~mrl_lab.load_sts_benchmark` (``"test"``, ``"train"``).
        root: where to look for the encoder (see :func:`find_encoder`).
    """
    s = SETTINGS[budget.name]
    folder = find_encoder(s["model"], root)
    train = news.train
    if s["train_pairs"] is not None and s["train_pairs"] < len(news.train):
        train = news.train.subset(s["train_pairs"], seed=s["seed"])
    test = news.test if s["test_rows"] is None else news.test.subset(s["test_rows"], seed=s["seed"])
    sts = sts_test if s["sts_rows"] is None else _first_pairs(sts_test, s["sts_rows"])
    other = list(dict.fromkeys(sts_train.sentences1 + sts_train.sentences2))[: s["other_text_rows"]]
    config = dict(
        s, encoder=fingerprint(folder), train_rows=len(train), train_source=train.source,
        per_size=list(s["dims"][:-1]) if s["per_size"] is None else s["per_size"],
    )  # fmt: skip
    note = (
        f"{len(train):,} training pairs, {len(test):,} held-out titles searching their {len(test):,} descriptions, "
        f"{len(sts):,} STS-B test pairs; {news.note}"
    )
    return Setup(config, folder, train, test, sts, other, note)


def _first_pairs(sts: SentencePairs, n: int) -> SentencePairs:
    if not 1 <= n <= len(sts):
        raise ValueError(f"setup: sts_rows={n} is outside 1..{len(sts)} (STS-B pairs)")
    return SentencePairs(sts.sentences1[:n], sts.sentences2[:n], sts.scores[:n], sts.source)


def eval_texts(s: Setup) -> dict[str, list[str]]:
    """The texts every model embeds: held-out titles and descriptions, and both STS-B columns."""
    return {"titles": s.test.titles, "descriptions": s.test.descriptions, "sts1": s.sts.sentences1,
            "sts2": s.sts.sentences2}  # fmt: skip


# ----------------------------------------------------------------------------- embeddings, cached


def embed(model, texts: list[str], model_key: str, progress: bool = True, bottom=None) -> torch.Tensor:
    """Full-width embeddings of ``texts`` (float32, CPU), from the cache when this model embedded them before.

    The cache file is named by ``model_key`` (which weights), the token limit and a hash of the
    texts; it is written atomically, and a damaged or mismatched file is detected and rebuilt.
    ``bottom``: a :class:`~mrl_lab.models.frozen_bottom.SharedBottom` of the model's frozen layers, to run
    only the layers above them (the same vectors, faster).
    """
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"embed: need a non-empty list of strings; got {type(texts).__name__} of {len(texts)}")
    key = hashlib.sha1("\n".join(texts).encode()).hexdigest()[:12]
    path = cache_dir() / "embeddings" / f"{model_key}-{model.max_seq_length}-{key}.pt"
    if path.exists():
        try:
            z = torch.load(path, map_location="cpu", weights_only=True)
            if z.shape[0] == len(texts) and torch.isfinite(z).all():
                return z
        except Exception:  # a damaged file: encode again and overwrite it
            pass
    if bottom is not None:
        z = bottom.encode(model, texts, progress=progress)
    else:
        z = model.encode(texts, batch_size=32, convert_to_tensor=True, show_progress_bar=progress)
    z = z.float().cpu().clone()  # encode() runs in inference mode; a clone can be trained on (the adaptor)
    save_atomic(path, lambda f: torch.save(z, f))
    give_freed_memory_back()  # what encoding freed
    return z


def embed_all(model, texts: dict[str, list[str]], model_key: str, progress: bool = True, bottom=None) -> dict:
    """:func:`embed` for each named list of texts."""
    return {name: embed(model, t, model_key, progress, bottom) for name, t in texts.items()}


def base_key(s: Setup) -> str:
    """The cache name of the frozen pretrained encoder's embeddings."""
    return f"{s.config['model']}-{s.config['encoder']}"


# ----------------------------------------------------------------------------- fine-tuning


def start_vectors(s: Setup) -> torch.Tensor | None:
    """What :func:`pca_start` is fitted on when ``s.config["start"] == "pca"``: the frozen encoder's embeddings
    of the training descriptions (from the cache when notebook 05's adaptor section made them); else None."""
    if s.config["start"] == "pretrained":
        return None
    if s.config["start"] != "pca":
        raise ValueError(f"fine_tune: start={s.config['start']!r}; choose 'pretrained' or 'pca'")
    base = load_encoder(s.folder, s.config["max_tokens"])
    z = embed(base, s.train.descriptions, base_key(s), progress=False)
    del base
    give_freed_memory_back()
    return z


def methods(config: dict) -> list[str]:
    """The fine-tunes of ``config``: normal, MRL and one ``FF-d`` per stated size.

    Example:
        >>> methods({"per_size": [16, 64]})
        ['normal', 'MRL', 'FF-16', 'FF-64']
    """
    return ["normal", "MRL"] + [f"FF-{d}" for d in config["per_size"]]


def fine_tune(
    s: Setup, device=None, retrain: bool = False, only=None, keep=("MRL",), progress: bool = True
) -> dict[str, dict]:
    """Fine-tune (or load from the cache) each method, one at a time, and embed the evaluation texts.

    Every method starts from the same weights (the pretrained model, with :func:`pca_start` appended
    when ``config["start"] == "pca"``) and sees the same pairs, batches and learning-rate schedule
    (the lab's :func:`~mrl_lab.train`, seeded); only the loss differs (:func:`mrl_lab.experiments.text.loss_for`:
    InfoNCE at 384 dims, at every nesting size, or at ``d`` alone). Each model trains and embeds on
    ``device`` (default: the CPU). With ``frozen_layers`` above 0 the frozen bottom runs once per
    text for all of them (:class:`~mrl_lab.models.frozen_bottom.SharedBottom`).

    Returns:
        ``{method: {"vectors": {text set: (N, 384) embeddings}, "meta": training time etc., "key": the
        model's cache name (for :func:`embed`), "model": the SentenceTransformer, only for methods in
        keep}}``. The other models are freed once they have embedded the texts, so the fine-tunes
        never sit in memory together.
    """
    config = s.config
    cfg = dict(config, embed_dim=384)
    start = start_vectors(s)  # the PCA start's data (None: the published model)
    n = config["frozen_layers"]
    # with frozen layers, every fine-tune shares them: they run once per text (frozen_bottom); the training
    # pairs' states are kept in float16, half the memory (the rounding, ~1 part in 2,000, is far below dropout's)
    half = torch.float16
    bottom = {"train": SharedBottom(n, half), "eval": SharedBottom(n)} if n else {"train": None, "eval": None}
    give_freed_memory_back()  # what earlier steps freed (encoding, adaptors), before the first model trains

    def build():
        st = load_encoder(s.folder, config["max_tokens"])
        if start is not None:  # the PCA start: a rotation layer and a Normalize after the published model
            for module in pca_start(start):
                st.append(module)
        encoder = SentenceEncoder(st)
        return PairEncoder(encoder) if not n else TopPairModel(encoder, n, states=half)

    def freeze(model):  # cheaper steps, and less forgetting of pretraining
        bert = transformer(model.encoder.model)
        parts = [bert.embeddings.word_embeddings] if config["freeze_token_embeddings"] else []
        for part in parts + ([bert.embeddings, *bert.encoder.layer[:n]] if n else []):
            part.requires_grad_(False)

    def fit(model, loss, name):
        freeze(model)
        if config["checkpointing"]:
            checkpoint_activations(model)
        st, shared = model.encoder.model, bottom["train"]
        if shared is None:  # the pairs' token ids, run through the whole model at every step
            inputs = pair_ids(partial(token_ids, st, max_tokens=config["max_tokens"]), s.train)
        else:  # the pairs' row numbers: the model looks up their bottom states and runs the layers above
            model.use(shared.states(st, s.train.titles), shared.states(st, s.train.descriptions))
            inputs = torch.arange(len(s.train))
        return train(
            model, loss, inputs, None, epochs=config["epochs"], batch_size=config["batch_size"], lr=config["lr"],
            weight_decay=config["weight_decay"], warmup=config["warmup"], device=device, seed=config["seed"],
            desc=f"fine-tune {name}", progress=progress,
        )  # fmt: skip

    def recipe(name):  # what decides a method's weights: the settings and its loss
        loss = loss_for(name, cfg)
        return dict(config, name=f"minilm-{name}", loss=repr(loss)), partial(fit, loss=loss, name=name)

    # 1. train each model not cached yet, one at a time; 2. embed with each, loaded from the cache. Two passes,
    # so that the training pairs' bottom states are freed before the texts to embed get theirs.
    names, metas = list(only or methods(config)), {}
    for name in names:
        model_config, fit_this = recipe(name)
        if retrain or not checkpoint_path(model_config, build()).exists():
            _, metas[name] = load_or_train(model_config, build, fit_this, retrain=retrain)
            give_freed_memory_back()  # the fine-tuned model sits in reference cycles: free it now, not later
    if bottom["train"] is not None:
        bottom["train"].kept.clear()  # (a damaged checkpoint found below is trained again: they come back)
    out = {}
    for name in names:
        model_config, fit_this = recipe(name)
        # the model comes back where it trained (the CPU by default) and embeds the texts there
        model, meta = load_or_train(model_config, build, fit_this, device=device or "cpu")
        st, key = model.encoder.model, checkpoint_path(model_config, model).stem
        out[name] = {"vectors": embed_all(st, eval_texts(s), key, progress, bottom["eval"]),
                     "meta": metas.get(name, meta), "key": key}  # fmt: skip
        if name in keep:
            out[name]["model"] = st
        del model, st
        give_freed_memory_back()
    bottom = None
    give_freed_memory_back()  # the texts' bottom states
    return out


def served_vectors(s: Setup, news, rows: int | None = None, queries: int = 200, device=None) -> tuple[dict, dict]:
    """Vectors to serve from an index: a corpus of AG News descriptions and held-out headlines as queries.

    The MRL and normal fine-tunes of ``s`` (from the cache, or trained now), and, as the post-hoc
    control, the normal vectors centred and rotated by PCA fitted on the corpus. The corpus is every description
    of ``news`` (train, validation and test; ``rows``: the first ``rows`` of them); the queries are
    the first ``queries`` held-out titles, which no model trained on. ``device``: where the models
    train (if not cached) and embed.

    Returns:
        ``(corpus, queries)``: ``{"MRL" | "normal" | "normal + PCA": (N, 384) or (queries, 384)}``.
    """
    corpus = (news.train.descriptions + news.val.descriptions + news.test.descriptions)[:rows]
    tuned = fine_tune(s, device=device, only=["MRL", "normal"], keep=("MRL", "normal"))
    db, q = {}, {}
    for name in ("MRL", "normal"):
        db[name] = embed(tuned[name]["model"], corpus, tuned[name]["key"])
        q[name] = tuned[name]["vectors"]["titles"][:queries]
    del tuned
    give_freed_memory_back()
    return with_pca_control(db, q)


def with_pca_control(corpus: dict, queries: dict) -> tuple[dict, dict]:
    """Add ``"normal + PCA"``: the normal vectors (corpus and queries) centred on the corpus mean and rotated
    onto every component of PCA fitted on the corpus (so at full width a search nearly repeats the normal one's)."""
    rotate = pca_rotation(corpus["normal"])
    corpus["normal + PCA"], queries["normal + PCA"] = rotate(corpus["normal"]), rotate(queries["normal"])
    return corpus, queries


# ----------------------------------------------------------------------------- post-hoc methods


def scratch_reference(budget, news, texts: dict[str, list[str]], device=None) -> dict[str, torch.Tensor]:
    """Notebook 02's MRL model, trained from scratch on AG News (from the cache when 02 ran), embedding ``texts``."""
    train_set, config, tok = text.setup(budget, news)
    encoder = text.train_models(config, train_set, tok, device=device, only=["MRL"])["MRL"][0]
    vectors = {name: text.embed(encoder, tok, t) for name, t in texts.items()}
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
        stem, _, size = name.rpartition("-")
        if stem.endswith("FF") and size.isdigit():
            groups.setdefault(stem, {})[int(size)] = name
    return groups


def by_size(full: dict[str, dict]):
    """The experiments' shared contract (``cifar.evaluate`` and ``text.evaluate`` return it too):
    ``vectors(method, d) -> {text set: (N, d) vectors}``, or None where ``method`` has no ``d``-dim vectors.

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


def scores(v: dict[str, torch.Tensor], sts_scores: torch.Tensor) -> dict:
    """recall@10, MRR and STS-B Spearman of one method's vectors at one size (``by_size``'s dict),
    with the per-item numbers behind them (``ranks`` per query, ``sims`` per STS-B pair) for intervals."""
    ranks = target_ranks(v["titles"], v["descriptions"], torch.arange(len(v["titles"])))
    sims = (v["sts1"] * v["sts2"]).sum(dim=1)  # cut and re-normalised: the cosine
    r = retrieval_scores(ranks)
    return {"recall@10": r["recall@10"], "MRR": r["MRR"], "STS-B Spearman": spearman(sims, sts_scores),
            "ranks": ranks, "sims": sims}  # fmt: skip


def evaluate(full: dict[str, dict], sts_scores: torch.Tensor, sizes) -> dict:
    """Every method at every size it has.

    Args:
        full: ``{method: {"titles", "descriptions", "sts1", "sts2": full-width tensors}}``; per-size
            fine-tunes named ``"... FF-d"`` are measured as one method ``"... FF"`` (see :func:`by_size`).
        sizes: the sizes to measure; a method is skipped at sizes it has no vectors for.

    Returns:
        ``{"metrics": {metric: {method: {d: value}}}, "items": {method: {d: scores}}, "vectors":
        vectors(method, d)}``, ``items`` holding the per-query numbers for :func:`difference`.
    """
    vectors, groups = by_size(full), per_size_models(full)
    methods = [m for m in full if not any(m in models.values() for models in groups.values())] + list(groups)
    metrics, items = {}, {}
    for method in tqdm(methods, desc="measuring every method at every size"):
        for d in sizes:
            v = vectors(method, d)
            if v is None:
                continue
            result = scores(v, sts_scores)
            items.setdefault(method, {})[d] = result
            for metric in ("recall@10", "MRR", "STS-B Spearman"):
                metrics.setdefault(metric, {}).setdefault(method, {})[d] = result[metric]
    return {"metrics": metrics, "items": items, "vectors": vectors}


def dense_recall(vectors: dict, methods, full_dim: int = 384) -> dict:
    """recall@10 at every size from 1 to 64, then every 16th (mostly sizes never trained)."""
    out = {}
    for name in methods:
        q, db = vectors[name]["titles"], vectors[name]["descriptions"]
        hits = hits_by_size(q, db, dense_grid(min(full_dim, q.shape[1])))
        out[name] = {d: h.float().mean().item() for d, h in hits.items()}
    return out


def search_vectors(vectors: dict, methods: dict):
    """Vectors for :func:`~mrl_lab.lab.widgets.search_dashboard`: ``(embed_query, corpus)``.

    Args:
        vectors: as for :func:`evaluate`; the corpus is each method's ``"descriptions"``.
        methods: ``{name: fn(query text) -> (1, D) full-width vector}``, e.g. the base model's
            encoding followed by the PCA rotation or the adaptor.
    """

    def embed_query(query: str):
        full = {name: embed(query) for name, embed in methods.items()}  # once per query, cut per size
        return {name: (lambda d, z=z: truncate(z, d)) for name, z in full.items()}

    corpus = {name: (lambda d, z=vectors[name]["descriptions"]: truncate(z, d)) for name in methods}
    return embed_query, corpus
