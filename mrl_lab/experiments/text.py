"""The text experiment (notebook 02, ``benchmarks/text.py``): a Matryoshka text encoder trained from scratch.

Each AG News row gives a pair: a headline and its description. One :class:`TextEncoder` maps both
into the same space, trained with in-batch contrastive loss (:class:`InfoNCE`): a title must pick
out its own description among the batch. The models, all with the same tokenizer, data, optimiser,
epochs and seed:

- ``normal``: InfoNCE on the full ``D``-dim embedding;
- ``MRL``: InfoNCE at every nested prefix, summed (``MatryoshkaLoss``);
- ``FF-d``: InfoNCE on the first ``d`` dims only: the model trained for size ``d`` alone.

There is no MRL-E here: MRL-E ties the weights of the classifier heads, and a contrastive loss
compares embeddings directly, with no head to tie.
"""

from __future__ import annotations

import re

import torch
from tqdm.auto import tqdm

from mrl_lab.core.contrastive import InfoNCE
from mrl_lab.core.loss import MatryoshkaLoss
from mrl_lab.core.nesting import dense_grid, nesting_dims, truncate
from mrl_lab.data.text import TextData
from mrl_lab.data.tokenizer import Tokenizer
from mrl_lab.evaluation.baselines import PCA
from mrl_lab.evaluation.metrics import knn_accuracy, retrieval_scores, spearman
from mrl_lab.evaluation.search import hits_by_size, target_ranks
from mrl_lab.models.pairs import PairEncoder, pair_ids
from mrl_lab.models.text_encoder import TextEncoder
from mrl_lab.runtime.budget import Budget, settings_at
from mrl_lab.training.model_cache import load_or_train
from mrl_lab.training.trainer import encode, seed_everything, train

# Every setting that decides the text models' weights, one row per budget: the experiment's one
# table. A model's cache key is its row with the nesting sizes, the rows actually trained on, the
# data's fingerprint, the vocabulary size, the loss and the architecture.
# fmt: off
SETTINGS = {
    "smoke": dict(max_pairs=2_000,  epochs=2,  hidden=256, per_size=[32], embed_dim=256, smallest=8, batch_size=256,
                  lr=3e-3, weight_decay=5e-4, warmup=0.25, temperature=0.05, token_dropout=0.3, max_words=20_000,
                  buckets=2**14, max_tokens=128, seed=0),
    "cpu":   dict(max_pairs=10_000, epochs=20, hidden=512, per_size=[32], embed_dim=256, smallest=8, batch_size=256,
                  lr=3e-3, weight_decay=5e-4, warmup=0.25, temperature=0.05, token_dropout=0.3, max_words=20_000,
                  buckets=2**14, max_tokens=128, seed=0),
    "gpu":   dict(max_pairs=None,   epochs=20, hidden=512, per_size=None, embed_dim=256, smallest=8, batch_size=256,
                  lr=3e-3, weight_decay=5e-4, warmup=0.25, temperature=0.05, token_dropout=0.3, max_words=20_000,
                  buckets=2**14, max_tokens=128, seed=0),
}  # max_pairs: training pairs at most (None: all); per_size: sizes with a model of their own (None: every one)
# fmt: on


def training_pairs(news, budget: Budget) -> TextData:
    """The training pairs a budget uses: all of ``news.train``, or at most ``max_pairs`` of them.

    Offline the training split has 5,320 rows, so the ``cpu`` budget (at most 10,000) uses all of them.
    """
    most = SETTINGS[budget.name]["max_pairs"]
    if most is None or most >= len(news.train):
        return news.train
    return news.train.subset(most, seed=0)


def experiment_config(budget: Budget, train_rows: int, **changes) -> dict:
    """The text models' settings at this budget: the row of :data:`SETTINGS`, with the nesting sizes.

    Args:
        budget: from :func:`~mrl_lab.get_budget`.
        train_rows: training pairs actually used (see :func:`training_pairs`).
        changes: settings to change, e.g. ``epochs=5`` (the models then train and cache anew).

    Example:
        >>> from mrl_lab.runtime import get_budget
        >>> cfg = experiment_config(get_budget("smoke"), train_rows=2000)
        >>> cfg["dims"], cfg["per_size"]
        ([8, 16, 32, 64, 128, 256], [32])
    """
    config = settings_at(SETTINGS, budget, changes, "experiment_config")
    dims = nesting_dims(config["embed_dim"], smallest=config["smallest"])
    per_size = dims[:-1] if config["per_size"] is None else config["per_size"]
    return dict(config, train_rows=train_rows, dims=dims, per_size=per_size)


def methods(config: dict) -> list[str]:
    """The models trained for ``config``: normal, MRL, then one ``FF-d`` per stated size.

    Example:
        >>> methods({"per_size": [32]})
        ['normal', 'MRL', 'FF-32']
    """
    return ["normal", "MRL"] + [f"FF-{d}" for d in config["per_size"]]


def tokenizer(config: dict, train_set: TextData) -> Tokenizer:
    """The tokenizer of ``config``, built from the training titles and descriptions only."""
    tok = Tokenizer(max_words=config["max_words"], buckets=config["buckets"], max_tokens=config["max_tokens"])
    return tok.fit(train_set.titles + train_set.descriptions)


def setup(budget: Budget, news) -> tuple[TextData, dict, Tokenizer]:
    """The text experiment at ``budget``: its training pairs (from ``news``, see
    :func:`~mrl_lab.load_ag_news`), its settings and its tokenizer. Notebook 02 takes these steps one
    by one, to show them."""
    train_set = training_pairs(news, budget)
    config = experiment_config(budget, train_rows=len(train_set))
    return train_set, config, tokenizer(config, train_set)


def drop_tokens(ids: torch.Tensor, p: float) -> torch.Tensor:
    """Augment a batch of token ids on its device: each token becomes padding with probability ``p``.

    Two views of a text then rarely share all their words, so the encoder cannot memorise exact
    token sets; with a few thousand training pairs this is the difference between learning topics
    and memorising rows.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> drop_tokens(torch.tensor([[5, 6, 7, 8, 0]]), p=0.5)
        tensor([[0, 6, 0, 0, 0]])
    """
    if not 0 <= p < 1:
        raise ValueError(f"drop_tokens: p={p} must be in [0, 1)")
    return ids.masked_fill(torch.rand(ids.shape, device=ids.device) < p, 0)


def loss_for(method: str, config: dict) -> MatryoshkaLoss:
    """The training loss of ``method``: InfoNCE at the full size, at every size, or at size d alone.

    Example:
        >>> loss_for("FF-32", {"embed_dim": 256, "dims": [8, 256], "temperature": 0.05}).dims
        [32]
    """
    if method.startswith("FF-") and method[3:].isdigit():
        dims = [int(method[3:])]
    elif method in ("normal", "MRL"):
        dims = {"normal": [config["embed_dim"]], "MRL": config["dims"]}[method]
    else:
        raise ValueError(f"loss_for: unknown method {method!r}; use 'normal', 'MRL' or 'FF-<size>', e.g. 'FF-32'")
    return MatryoshkaLoss(InfoNCE(temperature=config["temperature"]), dims)


def train_models(
    config: dict,
    train_set: TextData,
    tok: Tokenizer,
    device=None,
    retrain: bool = False,
    only: list[str] | None = None,
    losses: dict | None = None,
    progress: bool = True,
) -> dict:
    """Train (or load from the cache) the encoders of ``config``; returns ``{name: (encoder, meta)}``.

    Args:
        config: from :func:`experiment_config`; train_set: its ``train_rows`` pairs.
        tok: from :func:`tokenizer` (``config`` and ``train_set`` decide it, so it is not saved).
        device: where to train; retrain: ignore cached models; only: train just these methods.
        losses: ``{name: loss}`` to train instead of the standard methods, e.g. another nesting
            list or other weights (the design-choices notebook). Each loss's ``repr`` (its sizes,
            weights and sampling) is part of the model's cache key.
    """

    if len(train_set) != config["train_rows"]:
        raise ValueError(
            f"train_models: the config expects {config['train_rows']} training pairs, got {len(train_set)}; "
            "build the config with train_rows=len(train_set)"
        )
    ids = pair_ids(tok.encode, train_set)

    def augment(batch):
        return drop_tokens(batch, config["token_dropout"])

    def build():  # seeded: the initial weights depend only on the seed, not on what ran before
        seed_everything(config["seed"])
        return PairEncoder(TextEncoder(tok.vocab_size, config["embed_dim"], config["hidden"]))

    shared = {k: v for k, v in config.items() if k != "per_size"}
    losses = losses or {m: loss_for(m, config) for m in only or methods(config)}
    out = {}
    for name, loss in losses.items():
        model_config = dict(
            shared, name="agnews-" + re.sub(r"\W+", "-", name), loss=repr(loss), source=train_set.source,
            vocab_size=tok.vocab_size,
        )  # fmt: skip

        def fit(model, loss=loss, name=name):
            return train(
                model, loss, ids, None, epochs=config["epochs"], batch_size=config["batch_size"],
                lr=config["lr"], weight_decay=config["weight_decay"], warmup=config["warmup"], augment=augment,
                device=device, seed=config["seed"], desc=name, progress=progress,
            )  # fmt: skip

        model, meta = load_or_train(model_config, build, fit, retrain=retrain, device=device)
        out[name] = (model.encoder, meta)
    return out


def recall_hits(encoder, tok: Tokenizer, test_set: TextData, sizes) -> dict[int, torch.Tensor]:
    """Which test titles find their own description in the top 10 (bool per title), at each size.

    The search is among the test descriptions, with vectors cut to each size and re-normalised.
    Per-title results, so two models can be compared with a paired interval
    (:func:`~mrl_lab.evaluation.intervals.accuracy_interval`); their means are recall@10 (:func:`recall_curve`).
    """
    return hits_by_size(embed(encoder, tok, test_set.titles), embed(encoder, tok, test_set.descriptions), sizes)


def recall_curve(encoder, tok: Tokenizer, test_set: TextData, sizes) -> dict[int, float]:
    """Title -> description recall@10 among the test descriptions at each size (see :func:`recall_hits`).

    Example:
        >>> from mrl_lab.models import TextEncoder
        >>> tok = Tokenizer(min_count=1, buckets=8).fit(["a b", "c d"])
        >>> data = TextData(["a b", "c d"], ["a b", "c d"], torch.tensor([0, 1]))
        >>> recall_curve(TextEncoder(tok.vocab_size, 8, 4), tok, data, [2, 8])
        {2: 1.0, 8: 1.0}
    """
    return {d: hits.float().mean().item() for d, hits in recall_hits(encoder, tok, test_set, sizes).items()}


def embed(encoder, tok: Tokenizer, texts) -> torch.Tensor:
    """Full-width embeddings of ``texts`` (float32, CPU)."""
    return encode(encoder, tok.encode(list(texts)))


def tfidf_reference(train_set: TextData, test_set: TextData, sts) -> dict:
    """TF-IDF (scikit-learn, words and word pairs) on the same tasks: a reference line with no training.

    Its vectors have one dimension per vocabulary entry (tens of thousands), so it has no size axis.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2)
    vec.fit(train_set.titles + train_set.descriptions)
    q, db = vec.transform(test_set.titles), vec.transform(test_set.descriptions)  # rows have unit length
    scores = torch.from_numpy((q @ db.T).toarray())
    ranks = (scores >= scores.diagonal()[:, None]).sum(dim=1)
    s1, s2 = vec.transform(sts.sentences1), vec.transform(sts.sentences2)
    sts_score = spearman(torch.from_numpy(s1.multiply(s2).sum(axis=1).A1), sts.scores)
    train_db, nearest = vec.transform(train_set.descriptions), []
    for start in range(0, len(test_set), 512):  # 1-NN topic, in chunks to bound memory
        nearest.append(torch.from_numpy((db[start : start + 512] @ train_db.T).toarray().argmax(axis=1)).flatten())
    topic = (train_set.labels[torch.cat(nearest)] == test_set.labels).float().mean().item()
    return {
        **retrieval_scores(ranks), "STS-B Spearman": sts_score, "topic 1-NN": topic,
        "width": len(vec.vocabulary_),
    }  # fmt: skip


def evaluate(encoders: dict, tok: Tokenizer, train_set: TextData, test_set: TextData, sts, config: dict) -> dict:
    """Measure every method at every size.

    Returns ``{"metrics": {metric: {method: {size: score}}}, "dense": {method: {size: recall@10}},
    "vectors": vectors(method, d) -> {text set: (N, d) vectors} or None, "pca": the fitted PCA}``.
    The metrics: title -> description ``recall@1``,
    ``recall@10`` and ``MRR`` among the test descriptions, ``STS-B Spearman`` (cosine similarity of
    each sentence pair vs the human score; never trained on) and ``topic 1-NN`` (each test
    description takes the topic of its nearest training description). Methods: ``MRL``, ``FF``
    (the per-size models; FF-D is the normal model), ``normal, cut`` (truncated and re-normalised)
    and ``PCA of normal`` (fitted on the normal model's training embeddings). ``dense`` has recall@10
    at sizes never trained (see :func:`~mrl_lab.core.nesting.dense_grid`).
    """
    texts = {
        "titles": test_set.titles, "descriptions": test_set.descriptions, "train": train_set.descriptions,
        "sts1": sts.sentences1, "sts2": sts.sentences2,
    }  # fmt: skip
    emb = {}
    for m, (enc, _) in tqdm(encoders.items(), desc="embedding the test, training and STS-B texts"):
        emb[m] = {k: embed(enc, tok, t) for k, t in texts.items()}
    normal_train = torch.cat([emb["normal"]["train"], embed(encoders["normal"][0], tok, train_set.titles)])
    full = config["embed_dim"]
    pca = PCA().fit(truncate(normal_train, full))

    def vectors(method, d):
        """``method``'s ``d``-dim vectors of every text set, or None where it has none (no FF-d model)."""
        if method == "PCA of normal":
            return {k: pca.transform(truncate(z, full), d) for k, z in emb["normal"].items()}
        model = {"MRL": "MRL", "normal, cut": "normal", "FF": "normal" if d == full else f"FF-{d}"}[method]
        return {k: truncate(z, d) for k, z in emb[model].items()} if model in emb else None

    targets = torch.arange(len(test_set))

    def scores(v):
        ranks = target_ranks(v["titles"], v["descriptions"], targets)
        # cosine for every method: PCA projections are not unit vectors, the cut prefixes are
        sims = torch.nn.functional.cosine_similarity(v["sts1"], v["sts2"], dim=1)
        return {
            **retrieval_scores(ranks), "STS-B Spearman": spearman(sims, sts.scores),
            "topic 1-NN": knn_accuracy(v["train"], train_set.labels, v["descriptions"], test_set.labels),
        }  # fmt: skip

    metrics, dense = {}, {}
    for method in tqdm(("MRL", "FF", "normal, cut", "PCA of normal"), desc="every metric at the nesting sizes"):
        for d in config["dims"]:
            v = vectors(method, d)
            if v is not None:
                for metric, value in scores(v).items():
                    metrics.setdefault(metric, {}).setdefault(method, {})[d] = value
    for method in tqdm(("MRL", "normal, cut", "PCA of normal"), desc="recall@10 at every size"):
        dense[method] = {}
        for d in dense_grid(full):  # (one full-width set cut by hits_by_size: same figures, but 02's kernel
            v = vectors(method, d)  # then peaked at 1.52 GB instead of 0.79 GB at cpu; not understood)
            dense[method][d] = retrieval_scores(target_ranks(v["titles"], v["descriptions"], targets))["recall@10"]
    return {"metrics": metrics, "dense": dense, "vectors": vectors, "pca": pca}


def search_vectors(encoders: dict, tok: Tokenizer, pca, corpus_texts, full_dim: int):
    """Vectors for :func:`~mrl_lab.lab.widgets.search_dashboard`: MRL, the normal model cut, and its PCA.

    Returns ``(embed_query, corpus)``: ``embed_query(text) -> {method: fn(d) -> (1, d)}`` and
    ``corpus = {method: fn(d) -> (N, d)}``, where ``corpus_texts`` are embedded once, at full width.
    """
    mrl, normal = encoders["MRL"][0], encoders["normal"][0]
    corpus_mrl, corpus_normal = embed(mrl, tok, corpus_texts), embed(normal, tok, corpus_texts)
    unit = truncate(corpus_normal, full_dim)

    def methods_for(mrl_z, normal_z, unit_z):
        return {
            "MRL": lambda d: truncate(mrl_z, d), "normal, cut": lambda d: truncate(normal_z, d),
            "PCA of normal": lambda d: pca.transform(unit_z, d),
        }  # fmt: skip

    def embed_query(query: str):
        q_mrl, q_normal = embed(mrl, tok, [query]), embed(normal, tok, [query])
        return methods_for(q_mrl, q_normal, truncate(q_normal, full_dim))

    return embed_query, methods_for(corpus_mrl, corpus_normal, unit)
