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
from dataclasses import dataclass, field

import pandas as pd
import torch
from tqdm.auto import tqdm

from mrl_lab.core.checks import (
    check_choice,
    check_count,
    check_dims,
    check_has,
    check_instance,
    check_keys,
    check_number,
    check_settings,
    check_tensor,
    check_texts,
    check_trained,
)
from mrl_lab.core.contrastive import InfoNCE
from mrl_lab.core.loss import MatryoshkaLoss
from mrl_lab.core.methods import ff_sizes, trained_sizes
from mrl_lab.core.methods import methods as method_names
from mrl_lab.core.nesting import dense_grid, nesting_dims, truncate
from mrl_lab.data.text import SentencePairs, TextData, load_ag_news, load_sts_benchmark
from mrl_lab.data.tokenizer import Tokenizer
from mrl_lab.evaluation.baselines import PCA
from mrl_lab.evaluation.metrics import knn_correct, retrieval_scores, spearman
from mrl_lab.evaluation.results import row, table
from mrl_lab.evaluation.search import hits_by_size, target_ranks
from mrl_lab.models.pairs import PairEncoder, pair_ids
from mrl_lab.models.text_encoder import TextEncoder
from mrl_lab.runtime.budget import settings_for
from mrl_lab.runtime.memory import give_freed_memory_back
from mrl_lab.training import model_cache
from mrl_lab.training.model_cache import settings_key
from mrl_lab.training.trainer import encode, progress_for, seed_everything
from mrl_lab.training.trainer import train as run_trainer


@dataclass(frozen=True)
class Settings:
    """Every value that decides the text models' weights: the experiment's one table (:data:`SETTINGS`).

    A model's cache key is these values (all but ``per_size``), the method's loss, the training
    pairs' fingerprint and the vocabulary size, so changing any of them trains anew.
    """

    max_pairs: int | None = 10_000  # training pairs at most (None: the whole training split)
    epochs: int = 20
    hidden: int = 512  # width of the bag of token embeddings and of the MLP's hidden layer
    embed_dim: int = 256  # the full width: the largest nesting size
    smallest: int = 8  # the smallest nesting size
    batch_size: int = 256  # pairs per step: each title's negatives are the batch's other descriptions
    lr: float = 3e-3  # AdamW's peak learning rate
    weight_decay: float = 5e-4
    warmup: float = 0.25  # share of the steps over which the learning rate rises
    temperature: float = 0.05  # InfoNCE's
    token_dropout: float = 0.3  # chance that a token is dropped from a training text, at every step
    max_words: int = 20_000  # the tokenizer's whole-word vocabulary
    buckets: int = 2**14  # hashed buckets for the words' letter trigrams
    max_tokens: int = 128  # tokens kept per text
    seed: int = 0
    per_size: tuple[int, ...] | None = field(default=(32,), metadata={"key": False})  # sizes with a model of
    # their own (None: every nesting size); which models exist, not how any is trained

    def __post_init__(self):  # every number, as the trainer, InfoNCE and the tokenizer would check it, but at once
        for name in ("max_pairs", "epochs", "hidden", "embed_dim", "smallest", "batch_size", "max_tokens"):
            if getattr(self, name) is not None:  # max_pairs=None: the whole training split
                check_count(getattr(self, name), name, "text.Settings")
        if self.per_size is not None:
            check_dims(self.per_size, where="text.Settings: per_size")
        for name in ("max_words", "buckets", "seed"):  # 0 words or 0 buckets: the tokenizer's other half only
            check_count(getattr(self, name), name, "text.Settings", low=0)
        check_number(self.lr, "lr", "text.Settings", low=0, open_low=True)
        check_number(self.weight_decay, "weight_decay", "text.Settings", low=0)
        check_number(self.warmup, "warmup (a share of the steps)", "text.Settings", 0, 1, open_low=True, open_high=True)
        check_number(self.temperature, "temperature", "text.Settings", low=0, open_low=True)
        check_number(self.token_dropout, "token_dropout", "text.Settings", 0, 1, open_high=True)

    @property
    def dims(self) -> list[int]:
        """The nesting sizes: halving from ``embed_dim`` down to ``smallest``."""
        return nesting_dims(self.embed_dim, smallest=self.smallest)


# fmt: off
SETTINGS = {
    "smoke": Settings(max_pairs=2_000, epochs=2, hidden=256),
    "cpu":   Settings(),
    "gpu":   Settings(max_pairs=None, per_size=None),
}
# fmt: on


def settings(budget, **changes) -> Settings:
    """The text experiment's settings at ``budget`` (its row of :data:`SETTINGS`), with ``changes`` applied.

    Example:
        >>> s = settings("smoke", epochs=3)
        >>> s.epochs, s.dims
        (3, [8, 16, 32, 64, 128, 256])
    """
    return settings_for(SETTINGS, budget, changes, "text.settings")


NEWS = ("train", "val", "test", "note")  # what AG News has (load_ag_news)
STS = ("sentences1", "sentences2", "scores")  # what STS-B pairs have (load_sts_benchmark)
SPLIT = ("titles", "descriptions", "labels")  # what a split of AG News has (a TextData: news.test, data.train)


@dataclass
class Data:
    """The data every part of the experiment shares."""

    train: TextData  # the training pairs: titles and their descriptions
    val: TextData
    test: TextData  # held-out pairs: each title searches the test descriptions for its own
    sts: SentencePairs  # STS-B test pairs, never trained on
    tok: Tokenizer  # fitted on the training titles and descriptions only
    note: str  # how AG News was split


def _check(settings: Settings, data: Data, where: str) -> None:
    check_settings(settings, Settings, where)
    check_instance(data, Data, "data", where, "pass text.load_data(settings)")


def load_data(settings: Settings, news=None, sts=None) -> Data:
    """The experiment's data: at most ``settings.max_pairs`` training pairs of AG News, its held-out
    pairs, the STS-B test pairs and the tokenizer fitted on the training pairs.

    Args:
        news: :func:`~mrl_lab.data.text.load_ag_news` (loaded when not given); sts: STS-B's test split.
    """
    check_settings(settings, Settings, "text.load_data")
    if news is not None:
        check_has(news, NEWS, "news", "text.load_data", "pass load_ag_news(), or None to load it")
    if sts is not None:
        check_has(sts, STS, "sts", "text.load_data", "pass load_sts_benchmark('test'), or None to load it")
    news = news if news is not None else load_ag_news()
    sts = sts if sts is not None else load_sts_benchmark("test")
    train = news.train
    if settings.max_pairs is not None and settings.max_pairs < len(train):
        train = train.subset(settings.max_pairs, seed=0)
    tok = Tokenizer(max_words=settings.max_words, buckets=settings.buckets, max_tokens=settings.max_tokens)
    return Data(train, news.val, news.test, sts, tok.fit(train.titles + train.descriptions), news.note)


def methods(settings: Settings) -> list[str]:
    """The models of the experiment: normal, MRL, then one ``FF-d`` per stated size (no MRL-E: a contrastive
    loss has no classifier heads to tie).

    Example:
        >>> methods(SETTINGS["cpu"])
        ['normal', 'MRL', 'FF-32']
    """
    return method_names(ff_sizes(settings.per_size, settings.dims))


def loss_for(method: str, settings) -> MatryoshkaLoss:
    """The training loss of ``method``: InfoNCE at the full width, at every nesting size, or at size d alone.

    ``settings`` needs ``dims`` and ``temperature`` (the pretrained experiment's settings have them too).

    Example:
        >>> loss_for("FF-32", SETTINGS["cpu"]).dims
        [32]
    """
    missing = [name for name in ("dims", "temperature") if not hasattr(settings, name)]
    if missing:
        raise TypeError(f"text.loss_for: settings={type(settings).__name__}(...) has no {' and '.join(missing)}; "
                        "pass text.settings(budget) or pretrained.settings(budget)")  # fmt: skip
    return MatryoshkaLoss(InfoNCE(temperature=settings.temperature), trained_sizes(method, settings.dims))


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
    check_tensor(ids, "drop_tokens: ids", integers=True)
    check_number(p, "p", "drop_tokens", 0, 1, open_high=True)
    return ids.masked_fill(torch.rand(ids.shape, device=ids.device) < p, 0)


def train(settings: Settings, data: Data, method: str, *, loss=None, device=None, retrain=False, progress=True):
    """The encoder of ``method`` trained on ``data.train``, from the model cache when it is there.

    Args:
        method: ``"normal"``, ``"MRL"`` or ``"FF-<d>"`` (see :func:`methods`), or any name when ``loss``
            is given: another loss to train with, e.g. other nesting sizes or weights (notebook 05);
            its ``repr`` is part of the cache key.
        device: where to train; retrain: train even if the cache has the model; progress: show it
            (or a ``report`` function, see :func:`~mrl_lab.training.trainer.train`).

    Returns:
        ``(encoder, meta)``: the :class:`~mrl_lab.models.text_encoder.TextEncoder` in eval mode, and
        its training record (``seconds``, ``examples_per_s``, ``cached``).
    """
    _check(settings, data, "text.train")
    loss = loss if loss is not None else loss_for(method, settings)
    key = dict(settings_key(settings), name="agnews-" + re.sub(r"\W+", "-", method), dims=settings.dims,
               loss=repr(loss), source=data.train.source, train_rows=len(data.train),
               vocab_size=data.tok.vocab_size)  # fmt: skip
    seed_everything(settings.seed)  # the initial weights depend only on the seed, not on what ran before
    model = PairEncoder(TextEncoder(data.tok.vocab_size, settings.embed_dim, settings.hidden))

    def fit():
        return run_trainer(model, loss, pair_ids(data.tok.encode, data.train), None, settings,
                           augment=lambda ids: drop_tokens(ids, settings.token_dropout), device=device,
                           progress=progress_for(method, progress))  # fmt: skip

    meta = model_cache.load_or_train(key, model, fit, retrain=retrain)
    if device is not None:
        model.to(device)
    return model.encoder.eval(), meta


def train_all(settings: Settings, data: Data, only=None, **options) -> dict:
    """:func:`train` for each method (or just ``only``), one after the other: ``{method: (encoder, meta)}``."""
    check_settings(settings, Settings, "text.train_all")
    only = check_texts(only or methods(settings), "text.train_all: only", "method name")
    _check(settings, data, "text.train_all")
    return {m: train(settings, data, m, **options) for m in only}


def step_seconds(settings: Settings, data: Data, losses: dict, steps: int = 60, device=None) -> dict:
    """Seconds of each training step of the text model under each of ``losses``, timed so that only the loss differs.

    One untrained model (the seed's weights) takes training steps with the trainer's optimiser on the
    same ``settings.batch_size`` training pairs, token dropout included, the losses taking turns step by
    step (after 3 untimed steps each): step ``i`` of one loss and step ``i`` of another ran back to back,
    so a machine that gets busier slows both alike. A step's time depends on the work the loss asks
    for, not on the weights' values, so the losses share the model: one model, its gradients and
    AdamW's state in memory (about 0.3 GB at ``cpu``), not one set per loss.

    Returns:
        ``{name: [seconds of each of the steps]}``: compare two losses step by step (a paired comparison).
    """
    import time

    from mrl_lab.runtime.budget import resolve_device
    from mrl_lab.training.trainer import _autocast

    check_settings(settings, Settings, "step_seconds")
    check_count(steps, "steps", "step_seconds")
    check_instance(losses, dict, "losses", "step_seconds", "pass {name: loss}, e.g. {'MRL': loss_for('MRL', settings)}")
    if not losses:
        raise ValueError("step_seconds: losses is empty; pass {name: loss} of one loss or more")
    _check(settings, data, "step_seconds")
    device = resolve_device(device)
    give_freed_memory_back()  # a model, its gradients and AdamW's state come next: make room
    seed_everything(settings.seed)
    net = PairEncoder(TextEncoder(data.tok.vocab_size, settings.embed_dim, settings.hidden)).to(device).train()
    batch = pair_ids(data.tok.encode, data.train.subset(settings.batch_size)).to(device)
    fused = device.type in ("cpu", "cuda")  # as the trainer's AdamW
    optimizer = torch.optim.AdamW(net.parameters(), lr=settings.lr, fused=fused, weight_decay=settings.weight_decay)
    times = {name: [] for name in losses}
    for step in range(3 + steps):
        for name, loss in losses.items():
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            with _autocast(device):  # bf16 on a GPU, as the trainer
                value = loss(*net(drop_tokens(batch, settings.token_dropout)))
            value.backward()
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if step >= 3:
                times[name].append(time.perf_counter() - start)
    del net, optimizer
    give_freed_memory_back()  # the model, its gradients and the optimizer's state just freed
    return times


def embed(encoder, tok: Tokenizer, texts) -> torch.Tensor:
    """Full-width embeddings of ``texts`` (float32, CPU)."""
    return encode(encoder, tok.encode(check_texts(texts, "text.embed")))


def recall_hits(encoder, tok: Tokenizer, test_set: TextData, sizes) -> dict[int, torch.Tensor]:
    """Which test titles find their own description in the top 10 (bool per title), at each size.

    The search is among the test descriptions, with vectors cut to each size and re-normalised.
    Per-title results, so two models can be compared with a paired interval
    (:func:`~mrl_lab.evaluation.intervals.lead`); their means are recall@10.

    Example:
        >>> texts = [f"word{i} other{i}" for i in range(12)]  # the top 10 needs 10 descriptions or more
        >>> tok = Tokenizer(min_count=1, buckets=8).fit(texts)
        >>> data = TextData(texts, texts, torch.zeros(12, dtype=torch.long))
        >>> hits = recall_hits(TextEncoder(tok.vocab_size, 8, 4), tok, data, [2, 8])
        >>> {d: tuple(h.shape) for d, h in hits.items()}, hits[8].dtype
        ({2: (12,), 8: (12,)}, torch.bool)
    """
    check_has(test_set, SPLIT, "test_set", "recall_hits", "pass a split of AG News, e.g. data.test")
    check_dims(sizes, getattr(encoder, "embed_dim", None), where="recall_hits")
    if len(test_set.titles) < 10:
        raise ValueError(f"recall_hits: test_set has {len(test_set.titles)} pairs; the top 10 needs at least 10")
    return hits_by_size(embed(encoder, tok, test_set.titles), embed(encoder, tok, test_set.descriptions), sizes)


def tfidf_reference(train_set: TextData, test_set: TextData, sts, per_item: bool = False) -> dict:
    """TF-IDF (scikit-learn, words and word pairs) on the same tasks: a reference line with no training.

    Its vectors have one dimension per vocabulary entry (tens of thousands), so it has no size axis.
    With ``per_item``, the result also holds ``"ranks"`` (the rank of each test title's own description,
    1 = first) and ``"STS-B similarities"`` (each STS-B pair's cosine), so that a model can be compared
    with TF-IDF on the same items with a paired interval (:func:`~mrl_lab.evaluation.intervals.lead`,
    e.g. ``lead(hits, reference["ranks"] <= 10)``).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    check_has(train_set, SPLIT, "train_set", "tfidf_reference", "pass a split of AG News, e.g. data.train")
    check_has(test_set, SPLIT, "test_set", "tfidf_reference", "pass a split of AG News, e.g. data.test")
    check_has(sts, STS, "sts", "tfidf_reference", "pass load_sts_benchmark('test'), e.g. data.sts")
    vec = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2)
    vec.fit(train_set.titles + train_set.descriptions)
    q, db = vec.transform(test_set.titles), vec.transform(test_set.descriptions)  # rows have unit length
    scores = torch.from_numpy((q @ db.T).toarray())
    ranks = (scores >= scores.diagonal()[:, None]).sum(dim=1)
    s1, s2 = vec.transform(sts.sentences1), vec.transform(sts.sentences2)
    sts_sims = torch.from_numpy(s1.multiply(s2).sum(axis=1).A1)
    sts_score = spearman(sts_sims, sts.scores)
    train_db, nearest = vec.transform(train_set.descriptions), []
    for start in range(0, len(test_set), 512):  # 1-NN topic, in chunks to bound memory
        nearest.append(torch.from_numpy((db[start : start + 512] @ train_db.T).toarray().argmax(axis=1)).flatten())
    topic = (train_set.labels[torch.cat(nearest)] == test_set.labels).float().mean().item()
    return {
        **retrieval_scores(ranks), "STS-B Spearman": sts_score, "topic 1-NN": topic,
        "width": len(vec.vocabulary_),
        **({"ranks": ranks, "STS-B similarities": sts_sims} if per_item else {}),
    }  # fmt: skip


@dataclass
class Embeddings:
    """Every text set each model embeds, at full width, and the PCA of the normal model's training vectors."""

    by_model: dict  # {model: {"titles", "descriptions", "train", "sts1", "sts2": (N, D) tensors}}
    pca: PCA  # fitted on the normal model's training titles and descriptions (unit vectors)

    def __post_init__(self):
        check_keys(self.by_model, ["normal"], "by_model", "text.Embeddings", "make them with text.embed_all")

    def at(self, method: str, d: int) -> dict | None:
        """``method``'s ``d``-dim vectors of every text set, or None where it has none (no FF-d model).

        ``MRL``, ``normal, cut`` and ``FF`` (the model trained for ``d`` dims; at full width the
        normal model) are cut and re-normalised; ``PCA of normal`` projects the normal model's unit
        vectors on the first ``d`` components.
        """
        check_choice(method, ("MRL", "FF", "normal, cut", "PCA of normal"), "method", "Embeddings.at")
        normal = self.by_model["normal"]
        full = normal["titles"].shape[1]
        if method == "PCA of normal":
            return {k: self.pca.transform(truncate(z, full), d) for k, z in normal.items()}
        model = {"MRL": "MRL", "normal, cut": "normal", "FF": "normal" if d == full else f"FF-{d}"}[method]
        return {k: truncate(z, d) for k, z in self.by_model[model].items()} if model in self.by_model else None


def embed_all(settings: Settings, data: Data, encoders: dict) -> Embeddings:
    """Each encoder's embeddings of the test, training and STS-B texts, and the normal model's PCA."""
    _check(settings, data, "text.embed_all")
    check_trained(encoders, TextEncoder, "encoders", "text.embed_all", "pass what text.train_all returned")
    check_keys(encoders, ["normal"], "encoders", "text.embed_all", "train the normal model too: text.train_all")
    texts = {"titles": data.test.titles, "descriptions": data.test.descriptions, "train": data.train.descriptions,
             "sts1": data.sts.sentences1, "sts2": data.sts.sentences2}  # fmt: skip
    by_model = {}
    for m, (enc, _) in tqdm(encoders.items(), desc="embedding the test, training and STS-B texts"):
        by_model[m] = {k: embed(enc, data.tok, t) for k, t in texts.items()}
    normal_train = torch.cat([by_model["normal"]["train"], embed(encoders["normal"][0], data.tok, data.train.titles)])
    return Embeddings(by_model, PCA().fit(truncate(normal_train, settings.embed_dim)))


def evaluate(settings: Settings, data: Data, encoders: dict, emb: Embeddings | None = None) -> pd.DataFrame:
    """Every method at every size, as one results table (:mod:`mrl_lab.evaluation.results`).

    Metrics at the nesting sizes: title -> description ``recall@1``, ``recall@10`` and ``MRR``
    among the test descriptions, ``STS-B Spearman`` (cosine similarity of each sentence pair vs the
    human score; never trained on) and ``topic 1-NN`` (each test description takes the topic of its
    nearest training description); ``recall@10, every size`` at sizes mostly never trained
    (:func:`~mrl_lab.core.nesting.dense_grid`). Methods: ``MRL``, ``FF`` (the per-size models; FF-D
    is the normal model), ``normal, cut`` and ``PCA of normal`` (see :meth:`Embeddings.at`). Right/wrong
    metrics carry a 95 % interval.

    Args:
        encoders: from :func:`train_all`; emb: their :func:`embed_all`, if already computed.
    """
    _check(settings, data, "text.evaluate")
    if emb is not None:
        check_instance(emb, Embeddings, "emb", "text.evaluate", "pass text.embed_all(settings, data, encoders)")
    emb = emb if emb is not None else embed_all(settings, data, encoders)
    rows = []
    for method in tqdm(("MRL", "FF", "normal, cut", "PCA of normal"), desc="every metric at the nesting sizes"):
        for d in settings.dims:
            v = emb.at(method, d)
            if v is not None:
                rows += _scores(method, d, v, data)
    for method in tqdm(("MRL", "normal, cut", "PCA of normal"), desc="recall@10 at every size"):
        v = emb.at(method, settings.embed_dim)  # PCA's first d components are its full projection cut to d
        for d, hits in hits_by_size(v["titles"], v["descriptions"], dense_grid(settings.embed_dim)).items():
            rows.append(row(method, d, "recall@10, every size", hits, interval=True))
    return table(rows)


def _scores(method: str, d: int, v: dict, data: Data) -> list[dict]:
    """The rows of one method at one size."""
    ranks = target_ranks(v["titles"], v["descriptions"], torch.arange(len(data.test)))
    sims = torch.nn.functional.cosine_similarity(v["sts1"], v["sts2"], dim=1)  # PCA projections are not unit vectors
    topic = knn_correct(v["train"], data.train.labels, v["descriptions"], data.test.labels)
    return [
        row(method, d, "recall@1", ranks <= 1, interval=True),
        row(method, d, "recall@10", ranks <= 10, interval=True),
        row(method, d, "MRR", 1.0 / ranks),
        row(method, d, "STS-B Spearman", sims, value=spearman(sims, data.sts.scores)),
        row(method, d, "topic 1-NN", topic, interval=True),
    ]
