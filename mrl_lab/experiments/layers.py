"""2D Matryoshka: cut the encoder's depth as well as its vectors' width.

MRL makes a vector's first ``d`` numbers usable, which saves storage and search; the text must still go
through every layer of the encoder. 2D Matryoshka (Li et al., "2D Matryoshka Sentence Embeddings", 2024)
also trains the encoder's lower layers to give usable vectors, so a query can stop after ``L`` of its
layers: that saves *encoding* time. sentence-transformers' ``Matryoshka2dLoss`` is ``AdaptiveLayerLoss``
around ``MatryoshkaLoss``: the Matryoshka loss at the last layer, the same loss on the mean-pooled output
of earlier layers, and a KL term pulling those layers' similarities toward the last layer's.

Like for like: two fine-tunes of all-MiniLM-L6-v2 that differ only in that layer term, ``"MRL"``
(``MatryoshkaLoss`` over ``MultipleNegativesRankingLoss``) and ``"2D MRL"`` (``Matryoshka2dLoss`` over the
same loss, at every nesting size), with the same pairs, batches, steps and seed; beside them the
published model, cut the same way with nothing trained. :func:`evaluate` measures every model at every
layer count x size on notebook 03's held-out titles and descriptions and STS-B, and
:func:`encoding_ms` times one text's encoding at each layer count on this machine.

References:
    Li et al., "2D Matryoshka Sentence Embeddings" (arXiv 2402.14776); the reproduction study "Starbucks"
    and arXiv 2411.17299; sentence-transformers' ``Matryoshka2dLoss`` and ``AdaptiveLayerLoss``.
"""

from __future__ import annotations

import copy
import hashlib
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from mrl_lab.core.checks import (
    check_choice,
    check_count,
    check_counts,
    check_dims,
    check_instance,
    check_keys,
    check_number,
    check_settings,
    check_table,
    check_texts,
)
from mrl_lab.core.nesting import truncate
from mrl_lab.data.locate import MODEL
from mrl_lab.evaluation.intervals import lead
from mrl_lab.evaluation.metrics import spearman
from mrl_lab.evaluation.results import items, row, table, verdict
from mrl_lab.evaluation.search import target_ranks
from mrl_lab.evaluation.timing import repeated
from mrl_lab.experiments import pretrained
from mrl_lab.models.frozen_bottom import transformer
from mrl_lab.models.sentence_encoder import checkpoint_activations, load_encoder, preprocess
from mrl_lab.runtime.budget import settings_for
from mrl_lab.runtime.cache import cache_dir, load_or_build
from mrl_lab.runtime.memory import give_freed_memory_back
from mrl_lab.training import model_cache
from mrl_lab.training.model_cache import settings_key
from mrl_lab.training.trainer import seed_everything

METHODS = ("MRL", "2D MRL")  # the two fine-tunes; "published" is the model as it ships, not trained here


@dataclass(frozen=True)
class Settings:
    """Every value that decides the two fine-tunes' weights and what is measured: the one table (:data:`SETTINGS`)."""

    model: str = MODEL  # the pretrained sentence encoder (6 layers, 384 dims)
    dims: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 384)  # nesting sizes of both losses
    train_pairs: int | None = 1536  # AG News title -> description pairs (notebook 03's)
    batch_size: int = 32
    lr: float = 1e-4  # AdamW, after a linear warm-up over the first quarter of the steps
    scale: float = 20.0  # MultipleNegativesRankingLoss' scale (= InfoNCE at temperature 0.05)
    max_tokens: int = 48
    layers_per_step: int = -1  # prior layers trained at each step (-1: all; the 2DMSE paper samples 1)
    kl_temperature: float = 0.3  # AdaptiveLayerLoss' KL term (0: none)
    freeze_token_embeddings: bool = True  # as notebook 03: the 30,522 x 384 token table gets no gradient
    seed: int = 0
    checkpointing: bool = field(default=True, metadata={"key": False})  # keep only each layer's input in the
    # forward pass and recompute the rest in the backward pass: the same weights (tests/test_layers.py checks),
    # a fraction of the activations' memory, slower steps
    layers: tuple[int, ...] = field(default=(1, 2, 3, 4, 6), metadata={"key": False})  # layer counts measured
    test_rows: int | None = field(default=1000, metadata={"key": False})  # held-out pairs measured (None: all)
    sts_rows: int | None = field(default=None, metadata={"key": False})  # STS-B test pairs measured (None: all)
    timing_texts: int = field(default=256, metadata={"key": False})  # texts encoded to time each layer count

    def __post_init__(self):
        check_dims(self.dims, where="layers.Settings")
        for name in ("batch_size", "max_tokens", "timing_texts"):
            check_count(getattr(self, name), name, "layers.Settings")
        check_counts(self.layers, "layers", "layers.Settings")
        check_count(self.seed, "seed", "layers.Settings", low=0)
        if self.train_pairs is not None:  # None: all the rows
            check_count(self.train_pairs, "train_pairs", "layers.Settings")
        for name in ("test_rows", "sts_rows"):
            if getattr(self, name) is not None:
                check_count(getattr(self, name), name, "layers.Settings")
        check_number(self.lr, "lr", "layers.Settings", low=0, open_low=True)
        check_number(self.scale, "scale", "layers.Settings", low=0, open_low=True)
        check_number(self.kl_temperature, "kl_temperature (0: no KL term)", "layers.Settings", low=0)
        if self.layers_per_step != -1:
            check_count(self.layers_per_step, "layers_per_step (or -1: all)", "layers.Settings")


# fmt: off
SETTINGS = {
    "smoke": Settings(train_pairs=32, batch_size=16, max_tokens=32, layers=(1, 6), test_rows=100, sts_rows=100,
                      timing_texts=32),
    "cpu":   Settings(),
    "gpu":   Settings(train_pairs=None, batch_size=64, max_tokens=128, test_rows=None, checkpointing=False),
}
# fmt: on
# A fine-tune here trains all 6 layers (notebook 03 at cpu freezes the bottom 3), so its stored activations are
# the largest memory in notebook 07; on a CPU checkpointing trades some speed for them, on a GPU speed counts.


def settings(budget, **changes) -> Settings:
    """The experiment's settings at ``budget`` (its row of :data:`SETTINGS`), with ``changes`` applied.

    Example:
        >>> settings("smoke").layers, settings("cpu", layers=(2, 6)).layers
        ((1, 6), (2, 6))
    """
    return settings_for(SETTINGS, budget, changes, "layers.settings")


def load_data(settings: Settings, news, sts_test, sts_train, root=None) -> pretrained.Data:
    """Notebook 03's data (:func:`mrl_lab.experiments.pretrained.load_data`): its training pairs, held-out
    titles and descriptions, and STS-B, at this experiment's row counts."""
    check_settings(settings, Settings, "layers.load_data")
    pretrained.check_sources(news, sts_test, sts_train, "layers.load_data")
    for name, rows, there in (("test_rows", settings.test_rows, news.test), ("sts_rows", settings.sts_rows, sts_test)):
        if rows is not None:  # None: all of them
            check_count(rows, name, "layers.load_data", high=len(there))
    same = pretrained.Settings(model=settings.model, train_pairs=settings.train_pairs, test_rows=settings.test_rows,
                               sts_rows=settings.sts_rows, seed=settings.seed)  # fmt: skip
    return pretrained.load_data(same, news, sts_test, sts_train, root)


def depth(model, where: str = "layers.depth") -> int:
    """How many transformer layers ``model`` (a sentence-transformers model) has; ``where`` names the caller in
    the error for anything else."""
    from sentence_transformers import SentenceTransformer

    check_instance(model, SentenceTransformer, "model", where, "pass a sentence-transformers model, e.g. "
                   "load_encoder(data.folder, settings.max_tokens)")  # fmt: skip
    return len(transformer(model).encoder.layer)


def loss_for(method: str, settings: Settings, model):
    """The sentence-transformers loss of ``method`` on ``model``: ``MatryoshkaLoss`` or ``Matryoshka2dLoss``, both
    over ``MultipleNegativesRankingLoss`` and every nesting size at every step."""
    check_choice(method, METHODS, "method", "layers.loss_for")
    check_settings(settings, Settings, "layers.loss_for")
    try:  # sentence-transformers >= 6 moved the losses; older versions keep them here
        from sentence_transformers.sentence_transformer import losses
    except ImportError:
        from sentence_transformers import losses
    inner = losses.MultipleNegativesRankingLoss(model, scale=settings.scale)
    dims = sorted(settings.dims, reverse=True)
    if method == "MRL":
        return losses.MatryoshkaLoss(model, inner, matryoshka_dims=dims)
    return losses.Matryoshka2dLoss(model, inner, matryoshka_dims=dims, n_layers_per_step=settings.layers_per_step,
                                   n_dims_per_step=-1, kl_temperature=settings.kl_temperature)  # fmt: skip


def cache_key(settings: Settings, data: pretrained.Data, method: str) -> dict:
    """What decides a fine-tune's weights: the settings, the method, the encoder and the training pairs."""
    check_settings(settings, Settings, "layers.cache_key")
    check_choice(method, METHODS, "method", "layers.cache_key")
    pretrained.check_data(data, "layers.cache_key")
    return dict(settings_key(settings), name=f"minilm-layers-{method}", encoder=data.encoder,
                train_rows=len(data.train), train_source=data.train.source)  # fmt: skip


def train(settings: Settings, data: pretrained.Data, method: str, *, retrain: bool = False, progress: bool = True):
    """The fine-tune of ``method`` (from the model cache when it was trained before): ``(model, record)``, the
    record holding ``seconds``, ``examples_per_s`` and ``cached``. Both methods see the same batches."""
    check_settings(settings, Settings, "layers.train")
    check_choice(method, METHODS, "method", "layers.train")
    pretrained.check_data(data, "layers.train")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_encoder(data.folder, settings.max_tokens, device=device)
    loss_fn = loss_for(method, settings, model)

    def fit():
        seed_everything(settings.seed)
        if settings.freeze_token_embeddings:
            transformer(model).embeddings.word_embeddings.requires_grad_(False)
        if settings.checkpointing:
            checkpoint_activations(model)
        trained = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trained, lr=settings.lr, weight_decay=0.01)
        n, b = len(data.train), settings.batch_size
        order = torch.randperm(n)
        steps = max(1, n // b)
        warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / max(1, steps // 4)))
        model.train()
        started = time.perf_counter()
        for step in tqdm(range(steps), desc=f"fine-tune {method}", unit="step", disable=not progress):
            rows = order[step * b : (step + 1) * b].tolist()
            pair = [_features(model, [texts[i] for i in rows]) for texts in (data.train.titles,
                                                                               data.train.descriptions)]  # fmt: skip
            loss = loss_fn(pair, None)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            warmup.step()
        seconds = time.perf_counter() - started
        return SimpleNamespace(seconds=seconds, examples_per_s=steps * b / seconds)

    record = model_cache.load_or_train(cache_key(settings, data, method), model, fit, retrain=retrain)
    return model.eval(), record


def _features(model, texts: list[str]) -> dict:
    """``model``'s input features for ``texts``, its tensors on the model's device."""
    features = preprocess(model, texts)
    return {k: v.to(model.device) if torch.is_tensor(v) else v for k, v in features.items()}


@torch.no_grad()
def embed_layers(model, texts: list[str], model_key: str, layers, progress: bool = True,
                 desc: str | None = None) -> dict[int, torch.Tensor]:  # fmt: skip
    """``{L: (N, D) vectors}``: each text's embedding after the first ``L`` transformer layers, for each ``L``
    of ``layers`` (float32, unit length), from one pass through the model.

    The layer's token states go through the model's own pooling and normalisation, as
    ``AdaptiveLayerLoss`` trains them. Cached like :func:`mrl_lab.experiments.pretrained.embed` (by
    ``model_key``, the token limit, the layer counts and a hash of the texts).
    """
    layers = sorted(check_counts(layers, "layers", "embed_layers", high=depth(model, "embed_layers")))
    texts = check_texts(texts, "embed_layers")
    key = hashlib.sha1("\n".join(texts).encode()).hexdigest()[:12]
    tag = "-".join(map(str, layers))
    path = cache_dir() / "embeddings" / f"{model_key}-{model.max_seq_length}-layers{tag}-{key}.pt"

    def read(p):  # the cached vectors, if they are one finite row per text at each layer count
        z = torch.load(p, map_location="cpu", weights_only=True)
        return z if z.shape[:2] == (len(layers), len(texts)) and torch.isfinite(z).all() else None

    name = desc or f"embedding {len(texts):,} texts"

    def build():
        return _every_layer(model, texts, layers, progress, name)

    z = load_or_build(path, read, build, torch.save, "embed_layers")
    return dict(zip(layers, z))


def _every_layer(model, texts, layers, progress, desc) -> torch.Tensor:
    """``(len(layers), N, D)``: the pooled, normalised output of each layer count, 32 texts at a time."""
    model.eval()
    config = transformer(model).config
    was, config.output_hidden_states = config.output_hidden_states, True
    out = [[] for _ in layers]
    try:
        for i in tqdm(range(0, len(texts), 32), desc=desc, unit="batch", disable=not progress, leave=False):
            features = _features(model, texts[i : i + 32])
            states = model[0](features)["all_layer_embeddings"]  # [0]: the token embeddings, [L]: after L layers
            for j, n in enumerate(layers):
                f = {**features, "token_embeddings": states[n]}
                for module in list(model)[1:]:  # pooling (and normalisation, where the model has it)
                    f = module(f)
                out[j].append(F.normalize(f["sentence_embedding"].float(), dim=1).cpu())
    finally:
        config.output_hidden_states = was
    z = torch.stack([torch.cat(chunks) for chunks in out])
    del out
    give_freed_memory_back()  # what encoding freed
    return z


def cut_depth(model, n: int):
    """A copy of ``model`` that runs only its first ``n`` transformer layers: what a served 2D model runs."""
    check_count(n, "n", "cut_depth", high=depth(model, "cut_depth"))
    short = copy.deepcopy(model)
    bert = transformer(short)
    bert.encoder.layer = bert.encoder.layer[:n]
    bert.config.num_hidden_layers = n
    return short


def encoding_ms(model, texts: list[str], layers) -> pd.DataFrame:
    """Milliseconds per text to encode ``texts`` (32 at a time) with the first ``L`` layers, for each ``L`` of
    ``layers``: the median of 3 repeats, with the fastest and slowest (:func:`mrl_lab.evaluation.timing.repeated`).
    """
    texts = check_texts(texts, "encoding_ms")
    layers = check_counts(layers, "layers", "encoding_ms", high=depth(model, "encoding_ms"))
    rows = []
    for n in tqdm(layers, desc="timing the encoder at each depth", unit="depth", leave=False):
        short = cut_depth(model, n)
        short.encode(texts[:32], batch_size=32)  # warm-up: the first call allocates
        t = repeated(lambda m=short: m.encode(texts, batch_size=32, show_progress_bar=False), repeats=3)
        rows.append({"layers": n, **{k: 1000 * v / len(texts) for k, v in t.items()}})
        del short
    return pd.DataFrame(rows)


def evaluate(settings: Settings, data: pretrained.Data, vectors: dict[str, dict[str, dict[int, torch.Tensor]]]
             ) -> pd.DataFrame:  # fmt: skip
    """Every model at every layer count x nesting size: a results table with a ``layers`` column.

    Metrics as :func:`mrl_lab.experiments.pretrained.evaluate`: ``recall@10`` (with its interval) of each
    held-out title finding its description, and ``STS-B Spearman``; each vector cut to ``size`` and
    re-normalised.

    Args:
        vectors: ``{model: {"titles", "descriptions", "sts1", "sts2": {L: vectors}}}`` (:func:`embed_layers`).
    """
    check_settings(settings, Settings, "layers.evaluate")
    if not vectors:
        raise ValueError("layers.evaluate: vectors is empty; pass {model: {text set: {L: vectors}}} (vectors_all)")
    pretrained.check_data(data, "layers.evaluate")
    rows, depths = [], []
    for method, parts in vectors.items():
        check_keys(parts, pretrained.PARTS, f"vectors[{method!r}]", "layers.evaluate",
                   "embed pretrained.eval_texts(data) with embed_layers")  # fmt: skip
        check_instance(parts["titles"], dict, f"vectors[{method!r}]['titles']", "layers.evaluate",
                       "pass {L: vectors} of each layer count, as embed_layers returns them")  # fmt: skip
        for n in sorted(parts["titles"]):
            for d in settings.dims:
                v = {part: truncate(z[n], d) for part, z in parts.items()}
                ranks = target_ranks(v["titles"], v["descriptions"], torch.arange(len(v["titles"])))
                sims = (v["sts1"] * v["sts2"]).sum(dim=1)
                rows += [row(method, d, "recall@10", ranks <= 10, interval=True),
                         row(method, d, "STS-B Spearman", sims, value=spearman(sims, data.sts.scores))]  # fmt: skip
                depths += [n, n]
    out = table(rows)
    out.insert(1, "layers", depths)
    return out


def vectors_all(settings: Settings, data: pretrained.Data, *, retrain: bool = False, progress: bool = True):
    """``(vectors, records)``: the published model's and both fine-tunes' vectors of the evaluation texts at every
    layer count of ``settings.layers`` (:func:`embed_layers`, for :func:`evaluate`), and each fine-tune's
    training record (:func:`train`)."""
    check_settings(settings, Settings, "layers.vectors_all")
    texts = pretrained.eval_texts(pretrained.check_data(data, "layers.vectors_all"))

    def at_every_depth(model, key):
        return {part: embed_layers(model, t, key, settings.layers, progress, desc=f"embedding {part}, every depth")
                for part, t in texts.items()}  # fmt: skip

    published = load_encoder(data.folder, settings.max_tokens)
    vectors, records = {"published": at_every_depth(published, f"{settings.model}-{data.encoder}")}, {}
    del published
    give_freed_memory_back()  # the published model and what encoding freed, before a fine-tune needs room
    for method in METHODS:
        model, records[method] = train(settings, data, method, retrain=retrain, progress=progress)
        key = model_cache.config_key(cache_key(settings, data, method))
        vectors[method] = at_every_depth(model, f"layers-{key}")
        del model
        give_freed_memory_back()
    return vectors, records


def leads(results: pd.DataFrame, method: str, reference: str, sts_scores) -> pd.DataFrame:
    """``method`` minus ``reference`` at every layer count x size they share, per metric: the difference with a
    paired 95 % bootstrap interval (:func:`mrl_lab.evaluation.intervals.lead`) and its verdict."""
    check_table(results, ["layers", "method", "size", "metric", "items"], "layers.leads", "pass layers.evaluate's")
    rows = []
    for metric, gold in (("recall@10", None), ("STS-B Spearman", sts_scores)):
        for n in sorted(results["layers"].unique()):
            at = results[results["layers"] == n]
            mine, theirs = items(at, metric, method), items(at, metric, reference)
            for d in sorted(set(mine) & set(theirs)):
                x, low, high = lead(mine[d], theirs[d], gold=gold)
                rows.append(dict(metric=metric, layers=int(n), size=d, lead=x, low=low, high=high,
                                 verdict=verdict(low, high)))  # fmt: skip
    return pd.DataFrame(rows)
