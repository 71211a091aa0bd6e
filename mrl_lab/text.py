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

import torch

from .budget import Budget
from .checkpoints import load_or_train
from .contrastive import InfoNCE
from .data import TextData
from .loss import MatryoshkaLoss
from .models import PairEncoder, TextEncoder
from .nesting import nesting_dims
from .tokenizer import Tokenizer
from .train import train

EMBED_DIM = 256
# Which fixed-feature sizes get their own model at each budget (None: every nesting size below D).
PER_SIZE = {"smoke": [32], "cpu": [32], "gpu": None}
HIDDEN = {"smoke": 256, "cpu": 512, "gpu": 512}


def training_pairs(news, budget: Budget) -> TextData:
    """The training pairs a budget uses: all of ``news.train``, or at most ``budget.text_train`` of them.

    Offline the training split has 5,320 rows, so the ``cpu`` budget (at most 10,000) uses all of them.
    """
    if budget.text_train is None or budget.text_train >= len(news.train):
        return news.train
    return news.train.subset(budget.text_train, seed=0)


def experiment_config(budget: Budget, train_rows: int, embed_dim: int = EMBED_DIM) -> dict:
    """Everything that decides the text models' weights at this budget.

    Args:
        budget: from :func:`~mrl_lab.get_budget`.
        train_rows: training pairs actually used (see :func:`training_pairs`).

    Example:
        >>> from mrl_lab import get_budget
        >>> cfg = experiment_config(get_budget("smoke"), train_rows=2000)
        >>> cfg["dims"], cfg["per_size"]
        ([8, 16, 32, 64, 128, 256], [32])
    """
    dims = nesting_dims(embed_dim, smallest=8)
    per_size = PER_SIZE[budget.name]
    return dict(
        embed_dim=embed_dim, dims=dims, per_size=dims[:-1] if per_size is None else per_size,
        hidden=HIDDEN[budget.name], train_rows=train_rows, epochs=budget.text_epochs, batch_size=256,
        lr=3e-3, temperature=0.05, token_dropout=0.3, max_words=20000, buckets=2**14, max_tokens=128, seed=0,
    )  # fmt: skip


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


def pair_ids(tok: Tokenizer, data: TextData) -> torch.Tensor:
    """``(rows, 2, L)`` token ids: each row's title and description, padded to one length."""
    ids = tok.encode(data.titles + data.descriptions)
    return torch.stack([ids[: len(data)], ids[len(data) :]], dim=1)


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
    import re

    if len(train_set) != config["train_rows"]:
        raise ValueError(
            f"train_models: the config expects {config['train_rows']} training pairs, got {len(train_set)}; "
            "build the config with train_rows=len(train_set)"
        )
    ids = pair_ids(tok, train_set)

    def augment(batch):
        return drop_tokens(batch, config["token_dropout"])

    def build():
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
                lr=config["lr"], augment=augment, device=device, seed=config["seed"], desc=name, progress=progress,
            )  # fmt: skip

        model, meta = load_or_train(model_config, build, fit, retrain=retrain, device=device)
        out[name] = (model.encoder, meta)
    return out


def recall_hits(encoder, tok: Tokenizer, test_set: TextData, sizes) -> dict[int, torch.Tensor]:
    """Which test titles find their own description in the top 10 (bool per title), at each size.

    The search is among the test descriptions, with vectors cut to each size and re-normalised.
    Per-title results, so two models can be compared with a paired interval
    (:func:`~mrl_lab.metrics.accuracy_interval`); their means are recall@10 (:func:`recall_curve`).
    """
    from .metrics import target_ranks
    from .nesting import truncate

    q, db = embed(encoder, tok, test_set.titles), embed(encoder, tok, test_set.descriptions)
    targets = torch.arange(len(test_set))
    return {d: target_ranks(truncate(q, d), truncate(db, d), targets) <= 10 for d in sizes}


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
    from .train import encode

    return encode(encoder, tok.encode(list(texts)))


def retrieval_scores(ranks: torch.Tensor) -> dict[str, float]:
    """recall@1, recall@10 and the mean reciprocal rank from each query's target rank (1 = best).

    Example:
        >>> retrieval_scores(torch.tensor([1, 2, 20]))
        {'recall@1': 0.3333333432674408, 'recall@10': 0.6666666865348816, 'MRR': 0.5166666507720947}
    """
    return {
        "recall@1": (ranks <= 1).float().mean().item(),
        "recall@10": (ranks <= 10).float().mean().item(),
        "MRR": (1.0 / ranks).mean().item(),
    }


def tfidf_reference(train_set: TextData, test_set: TextData, sts) -> dict:
    """TF-IDF (scikit-learn, words and word pairs) on the same tasks: a reference line with no training.

    Its vectors have one dimension per vocabulary entry (tens of thousands), so it has no size axis.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    from .metrics import spearman

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
    "vectors": {method: fn(d, key) -> tensor}}``. The metrics: title -> description ``recall@1``,
    ``recall@10`` and ``MRR`` among the test descriptions, ``STS-B Spearman`` (cosine similarity of
    each sentence pair vs the human score; never trained on) and ``topic 1-NN`` (each test
    description takes the topic of its nearest training description). Methods: ``MRL``, ``FF``
    (the per-size models; FF-D is the normal model), ``normal, cut`` (truncated and re-normalised)
    and ``PCA of normal`` (fitted on the normal model's training embeddings). ``dense`` has recall@10
    at sizes never trained (see :func:`~mrl_lab.cifar.dense_grid`).
    """
    from .baselines import PCA
    from .cifar import dense_grid
    from .metrics import knn_accuracy, spearman, target_ranks
    from .nesting import truncate

    texts = {
        "titles": test_set.titles, "descriptions": test_set.descriptions, "train": train_set.descriptions,
        "sts1": sts.sentences1, "sts2": sts.sentences2,
    }  # fmt: skip
    emb = {m: {k: embed(enc, tok, t) for k, t in texts.items()} for m, (enc, _) in encoders.items()}
    normal_train = torch.cat([emb["normal"]["train"], embed(encoders["normal"][0], tok, train_set.titles)])
    pca = PCA().fit(truncate(normal_train, config["embed_dim"]))
    full = config["embed_dim"]

    def cut(name):
        return lambda d, key: truncate(emb[name][key], d)

    def ff(d, key):
        name = "normal" if d == full else f"FF-{d}"
        return truncate(emb[name][key], d) if name in emb else None

    vectors = {
        "MRL": cut("MRL"), "FF": ff, "normal, cut": cut("normal"),
        "PCA of normal": lambda d, key: pca.transform(truncate(emb["normal"][key], full), d),
    }  # fmt: skip
    targets = torch.arange(len(test_set))

    def scores(fn, d):
        ranks = target_ranks(fn(d, "titles"), fn(d, "descriptions"), targets)
        # cosine for every method: PCA projections are not unit vectors, the cut prefixes are
        sims = torch.nn.functional.cosine_similarity(fn(d, "sts1"), fn(d, "sts2"), dim=1)
        return {
            **retrieval_scores(ranks), "STS-B Spearman": spearman(sims, sts.scores),
            "topic 1-NN": knn_accuracy(fn(d, "train"), train_set.labels, fn(d, "descriptions"), test_set.labels),
        }  # fmt: skip

    metrics: dict = {}
    for name, fn in vectors.items():
        for d in config["dims"]:
            if fn(d, "titles") is None:
                continue
            for metric, value in scores(fn, d).items():
                metrics.setdefault(metric, {}).setdefault(name, {})[d] = value
    dense = {
        name: {
            d: (target_ranks(vectors[name](d, "titles"), vectors[name](d, "descriptions"), targets) <= 10)
            .float()
            .mean()
            .item()
            for d in dense_grid(full)
        }
        for name in ("MRL", "normal, cut", "PCA of normal")
    }
    return {"metrics": metrics, "dense": dense, "vectors": vectors, "pca": pca}


def search_vectors(encoders: dict, tok: Tokenizer, pca, corpus_texts, full_dim: int):
    """Vectors for :func:`~mrl_lab.widgets.search_dashboard`: MRL, the normal model cut, and its PCA.

    Returns ``(embed_query, corpus)``: ``embed_query(text) -> {method: fn(d) -> (1, d)}`` and
    ``corpus = {method: fn(d) -> (N, d)}``, where ``corpus_texts`` are embedded once, at full width.
    """
    from .nesting import truncate

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
