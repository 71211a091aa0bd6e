"""The CIFAR-10 experiment (notebook 01, ``benchmarks/cifar10.py``): one recipe, every model.

CIFAR-100 runs the same experiment (``settings(budget, dataset="cifar100")``) where it can be
downloaded.

The models, all with the same encoder, data, augmentation, optimiser, epochs and seed:

- ``normal``: a plain classifier on the full ``D``-dim embedding;
- ``MRL``: linear heads on every nested prefix, losses summed;
- ``MRL-E``: the same with one weight matrix shared by all sizes (the paper's weight tying);
- ``FF-d``: the paper's fixed-feature baseline: the whole network trained with one classifier
  that reads only the first ``d`` features (as ``FixedFeatureLayer`` in the paper's code), so its
  ``d``-dim vector is the best this recipe can do when it trains for that size alone.
  ``FF-D`` is the normal model, so it is not trained twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.fx.experimental.optimization import fuse
from tqdm.auto import tqdm

from mrl_lab.core.checks import (
    check_choice,
    check_count,
    check_dims,
    check_embeddings,
    check_instance,
    check_keys,
    check_labels,
    check_number,
    check_settings,
    check_tensor,
    check_texts,
    check_trained,
)
from mrl_lab.core.heads import MRLHead
from mrl_lab.core.loss import MatryoshkaLoss
from mrl_lab.core.methods import ff_size, ff_sizes, trained_sizes
from mrl_lab.core.methods import methods as method_names
from mrl_lab.core.nesting import dense_grid, nesting_dims, truncate
from mrl_lab.data.images import ImageData, load_cifar10, load_cifar100
from mrl_lab.evaluation.baselines import PCA
from mrl_lab.evaluation.metrics import head_correct, knn_correct, linear_probe_correct
from mrl_lab.evaluation.results import row, table
from mrl_lab.evaluation.search import nearest_by_prefix
from mrl_lab.models.convnet import Classifier, ConvNet
from mrl_lab.runtime.budget import resolve_device, settings_for
from mrl_lab.training import model_cache
from mrl_lab.training.augment import augmentations
from mrl_lab.training.model_cache import checkpoint_path, settings_key
from mrl_lab.training.side_by_side import train_side_by_side
from mrl_lab.training.trainer import encode, progress_for, seed_everything
from mrl_lab.training.trainer import train as run_trainer

DATASETS = {"cifar10": 10, "cifar100": 100}  # classes


@dataclass(frozen=True)
class Settings:
    """Every value that decides the CIFAR models' weights: the experiment's one table (:data:`SETTINGS`,
    as airbench keeps its hyperparameters).

    A model's cache key is these values (all but ``per_size`` and ``test_images``), the method,
    the nesting sizes, the number of classes and the training images' fingerprint, so changing
    any of them trains anew.
    """

    dataset: str = "cifar10"  # or "cifar100": 100 classes, downloaded when online (the offline data has no copy)
    train_images: int = 10_000  # a class-balanced subset of the training split
    epochs: int = 7
    progressive: bool = True  # small images first, then crops, the last epoch full size (see augmentations)
    small_share: float = 0.6  # with progressive: the share of the epochs that see 16x16 images
    batch_size: int = 128
    width: int = 16  # the ConvNet's channels in its first block
    embed_dim: int = 256  # the full width: the largest nesting size
    smallest: int = 2  # the smallest nesting size
    lr: float = 3e-3  # AdamW's peak learning rate
    weight_decay: float = 5e-4
    warmup: float = 0.25  # share of the steps over which the learning rate rises
    label_smoothing: float = 0.1  # the cross-entropy's, at every head
    seed: int = 0
    per_size: tuple[int, ...] | None = field(default=(4, 16, 64), metadata={"key": False})  # sizes with a
    # network of their own, FF-d (None: every nesting size below embed_dim); which models exist, not how any is trained
    test_images: int = field(default=10_000, metadata={"key": False})  # test images evaluated (a class-balanced
    # subset when fewer than the split's 10,000); evaluation only, not part of the weights

    def __post_init__(self):  # every number, as the trainer would check it, but at once
        check_choice(self.dataset, sorted(DATASETS), "dataset", "cifar.Settings")
        for name in ("train_images", "test_images", "epochs", "batch_size", "width", "embed_dim", "smallest"):
            check_count(getattr(self, name), name, "cifar.Settings")
        check_count(self.seed, "seed", "cifar.Settings", low=0)
        check_number(self.small_share, "small_share", "cifar.Settings", 0, 1)
        check_number(self.lr, "lr", "cifar.Settings", low=0, open_low=True)
        check_number(self.weight_decay, "weight_decay", "cifar.Settings", low=0)
        check_number(self.warmup, "warmup (a share of the steps)", "cifar.Settings", 0, 1, open_low=True,
                     open_high=True)  # fmt: skip
        check_number(self.label_smoothing, "label_smoothing", "cifar.Settings", 0, 1)
        if self.per_size is not None:
            check_dims(self.per_size, where="cifar.Settings: per_size")

    @property
    def dims(self) -> list[int]:
        """The nesting sizes: halving from ``embed_dim`` down to ``smallest``."""
        return nesting_dims(self.embed_dim, smallest=self.smallest)

    @property
    def ff_sizes(self) -> list[int]:
        """The sizes with a network of their own (FF-d): ``per_size``, or every nesting size below ``embed_dim``."""
        return ff_sizes(self.per_size, self.dims)

    @property
    def num_classes(self) -> int:
        """The dataset's number of classes: 10 or 100."""
        return DATASETS[self.dataset]


# fmt: off
SETTINGS = {
    "smoke": Settings(train_images=800,    epochs=2,                     batch_size=100, test_images=400),
    "cpu":   Settings(),
    "gpu":   Settings(train_images=50_000, epochs=10, progressive=False, batch_size=512, width=64, per_size=None),
}
# fmt: on


def settings(budget, **changes) -> Settings:
    """The CIFAR experiment's settings at ``budget`` (its row of :data:`SETTINGS`), with ``changes`` applied.

    Args:
        budget: a :class:`~mrl_lab.runtime.budget.Budget` or a budget's name.
        changes: settings to change, e.g. ``epochs=3`` or ``dataset="cifar100"`` (the models then
            train and cache anew).

    Example:
        >>> s = settings("smoke")
        >>> s.dims, s.ff_sizes, s.num_classes, s.test_images
        ([2, 4, 8, 16, 32, 64, 128, 256], [4, 16, 64], 10, 400)
        >>> settings("gpu").ff_sizes
        [2, 4, 8, 16, 32, 64, 128]
    """
    return settings_for(SETTINGS, budget, changes, "cifar.settings")


@dataclass
class Data:
    """The images every part of the experiment shares."""

    train: ImageData  # ``settings.train_images`` training images, class-balanced
    test: ImageData  # ``settings.test_images`` test images (all of them from the cpu budget up)


def load_data(settings: Settings) -> Data:
    """The training images ``settings`` asks for (a class-balanced subset, drawn with its seed) and its test images."""
    check_settings(settings, Settings, "cifar.load_data")
    load = {"cifar10": load_cifar10, "cifar100": load_cifar100}[settings.dataset]
    train = load("train").subset(settings.train_images, seed=settings.seed)
    test = load("test")
    n = settings.test_images
    return Data(train, test if n >= len(test) else test.subset(n, seed=0))


def methods(settings: Settings) -> list[str]:
    """The models of the experiment: normal, MRL, MRL-E, then one ``FF-d`` per stated size.

    Example:
        >>> methods(SETTINGS["cpu"])
        ['normal', 'MRL', 'MRL-E', 'FF-4', 'FF-16', 'FF-64']
    """
    return method_names(settings.ff_sizes, tied=True)


def build(settings: Settings, method: str) -> Classifier:
    """An untrained model for ``method`` (see :func:`methods`): the same encoder, a head per trained size.

    Example:
        >>> s = Settings(embed_dim=64, smallest=8, width=4)
        >>> build(s, "FF-8").head.dims, build(s, "FF-8").encoder.embed_dim, build(s, "MRL-E").head.efficient
        ([8], 64, True)
    """
    full = check_settings(settings, Settings, "cifar.build").embed_dim
    head = MRLHead(full, settings.num_classes, trained_sizes(method, settings.dims), efficient=method == "MRL-E")
    return Classifier(ConvNet(embed_dim=full, width=settings.width), head)


def _key(settings: Settings, data: Data, method: str) -> dict:
    """The model cache's key for ``method``: everything that decides its weights."""
    return dict(settings_key(settings), name=f"{settings.dataset}-{method}", dims=settings.dims,
                num_classes=settings.num_classes, source=data.train.source)  # fmt: skip


def _cached(settings: Settings, data: Data, method: str) -> bool:
    """Whether the model cache holds ``method``'s model."""
    return checkpoint_path(_key(settings, data, method), build(settings, method)).exists()


def _check(settings: Settings, data: Data, where: str, rows: bool = True) -> None:
    """``settings`` and ``data`` as ``where`` needs them; ``rows``: the training images must be the settings' count."""
    check_settings(settings, Settings, where)
    check_instance(data, Data, "data", where, "pass cifar.load_data(settings)")
    if rows and len(data.train) != settings.train_images:
        raise ValueError(
            f"{where}: the settings expect {settings.train_images} training images, got {len(data.train)}; "
            "pass cifar.load_data(settings)"
        )


def train(settings: Settings, data: Data, method: str, *, device=None, retrain=False, progress=True):
    """The model of ``method`` trained on ``data.train``, from the model cache when it is there.

    Every model starts from weights drawn after seeding with ``settings.seed``, so it is the same
    model whichever way, and in whichever order, it was trained.

    Args:
        method: ``"normal"``, ``"MRL"``, ``"MRL-E"`` or ``"FF-<d>"`` (see :func:`methods`).
        device: where to train; retrain: train even if the cache has the model; progress: show it
            (or a ``report`` function, see :func:`~mrl_lab.training.trainer.train`).

    Returns:
        ``(model, meta)``: the :class:`~mrl_lab.models.convnet.Classifier` in eval mode, and its
        training record (``seconds``, ``examples_per_s``, ``cached``).
    """
    _check(settings, data, "cifar.train")
    seed_everything(settings.seed)  # the initial weights depend only on the seed, not on what ran before
    model = build(settings, method)
    key = _key(settings, data, method)
    loss = MatryoshkaLoss(nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing), model.head.dims)

    def fit():
        return run_trainer(model, loss, data.train.images, data.train.labels, settings,
                           augment=augmentations(settings.epochs, settings.progressive, settings.small_share),
                           device=device, progress=progress_for(method, progress))  # fmt: skip

    meta = model_cache.load_or_train(key, model, fit, retrain=retrain)
    if device is not None:
        model.to(device)
    return model.eval(), meta


def train_all(settings: Settings, data: Data, only=None, device=None, retrain=False, progress=True, processes=1):
    """:func:`train` for each method (or just ``only``): ``{method: (model, meta)}``.

    Args:
        processes: on a CPU, how many models train side by side, each with an equal share of
            PyTorch's threads (1: one after the other, the default): one in this process, the others
            in worker processes (:func:`~mrl_lab.training.side_by_side.train_side_by_side`); only the
            models not in the cache yet train that way. Small convolutions keep one core per model
            busier than two cores on one model (``benchmarks/cifar10.py --all --processes 2``
            prints the images per second). Each model's ``seconds`` is then its wall time while
            sharing the machine. The workers are fresh Python processes ("spawn"), so a script
            that asks for more than 1 must call this under ``if __name__ == "__main__":``
            (notebooks need nothing).
    """
    _check(settings, data, "cifar.train_all")
    device = resolve_device(device)
    check_count(processes, "processes", "cifar.train_all")
    if processes < 1 or (processes > 1 and device.type != "cpu"):
        raise ValueError(f"cifar.train_all: processes={processes}; use 1, or more than 1 only on the CPU")
    chosen = check_texts(only or methods(settings), "cifar.train_all: only", "method name")
    todo = []  # the models to train side by side: only looked for when processes > 1
    if processes > 1:
        todo = [m for m in chosen if retrain or not _cached(settings, data, m)]
    if len(todo) > 1:
        steps = settings.train_images // settings.batch_size * settings.epochs
        train_side_by_side(train, settings, data, todo, processes, steps, progress)
        out = {m: train(settings, data, m, device=device, progress=progress) for m in chosen}
        return {m: (model, dict(meta, cached=m not in todo)) for m, (model, meta) in out.items()}
    return {m: train(settings, data, m, device=device, retrain=retrain, progress=progress) for m in chosen}


def heads_correct(model: Classifier, images, labels, desc: str | None = None) -> dict[int, torch.Tensor]:
    """Which of ``images`` each of ``model``'s heads classifies right: ``{size: bool (N,)}``, for
    accuracies (their means) and intervals (:func:`~mrl_lab.evaluation.intervals.accuracy_interval`)."""
    check_instance(model, Classifier, "model", "heads_correct", "pass a model that cifar.train returned")
    check_tensor(images, "heads_correct: images", ("N", 3, "H", "W"))
    check_labels(labels, len(images), "labels", "heads_correct")  # before every image is encoded
    return dict(zip(model.head.dims, head_correct(encode(model, images, desc=desc), labels)))


def centred(train_z: torch.Tensor, test_z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Subtract the training vectors' mean from both sets, then L2-normalise: "centred cosine".

    A ConvNet's embeddings (max-pooled after a GELU) share one large mean direction; uncentred,
    the cosine of two short prefixes is mostly that shared direction. PCA subtracts the mean by
    construction, so comparing it with uncentred MRL prefixes would not be like for like.

    Example:
        >>> train, test = torch.tensor([[3.0, 1.0], [3.0, -1.0]]), torch.tensor([[4.0, 2.0]])
        >>> centred(train, test)[1]  # the shared (3, 0) is gone: what is left points along y
        tensor([[0.4472, 0.8944]])
    """
    check_embeddings(train_z, "centred: train_z")
    check_embeddings(test_z, "centred: test_z", dim=train_z.shape[1])
    mean = train_z.mean(dim=0)
    return F.normalize(train_z - mean, dim=1), F.normalize(test_z - mean, dim=1)


# the full-width vectors whose first d dims, re-normalised, are each method's (see Embeddings.full_width)
_SOURCE = {"MRL": "MRL", "MRL-E": "MRL-E", "normal, cut": "normal", "PCA of normal": "normal",
           "MRL, uncentred": "MRL", "normal, cut, uncentred": "normal"}  # fmt: skip


@dataclass
class Embeddings:
    """Each model's full-width embeddings of the training and test images, and the PCA of the normal model's.

    :meth:`at` gives the vectors every 1-NN figure of :func:`evaluate` compares (and the
    neighbour dashboard shows); ``pca.explained_variance_ratio`` is the share of the normal
    embedding's variance along each principal component.
    """

    by_model: dict  # {model: {"train": (N, D), "test": (M, D)}}: the encoder's outputs, float32
    pca: PCA  # fitted on the normal model's training embeddings
    means: dict = field(init=False, repr=False)  # each model's training mean, for centring

    def __post_init__(self):
        check_keys(self.by_model, ["normal"], "by_model", "cifar.Embeddings", "make them with cifar.embed_all")
        self.means = {m: z["train"].mean(dim=0) for m, z in self.by_model.items()}

    def full_width(self, method: str) -> dict:
        """The full-width vectors whose first ``d`` dims, re-normalised, are ``method``'s: centred, except
        for the ``uncentred`` methods; ``PCA of normal``: the normal embedding on all its components."""
        if method not in _SOURCE:
            raise ValueError(f"Embeddings.full_width: unknown method {method!r}; choose one of {list(_SOURCE)}")
        model = _SOURCE[method]
        check_keys(self.by_model, [model], "by_model", "Embeddings.full_width", f"embed the {model} model too")
        if method == "PCA of normal":
            return {part: self.pca.transform(z, z.shape[1]) for part, z in self.by_model[model].items()}
        if method.endswith("uncentred"):
            return self.by_model[model]
        return {part: z - self.means[model] for part, z in self.by_model[model].items()}  # normalised once cut

    def at(self, method: str, d: int) -> dict | None:
        """``method``'s ``d``-dim training and test vectors, as every 1-NN figure compares them, or None where it
        has none (no FF-d model).

        ``FF`` is the FF-d model's own vectors (at full width the normal model's), centred;
        ``normal, cut, no re-norm`` the prefix of the normal model's stored unit vector, as an
        inner-product index has it; every other method its :meth:`full_width` vectors cut to ``d``
        and re-normalised.
        """
        normal = self.by_model["normal"]
        full = normal["train"].shape[1]
        if method == "FF":
            model = "normal" if d == full else f"FF-{d}"
            if model not in self.by_model:
                return None
            z = self.by_model[model]
            train_z, test_z = centred(z["train"][:, :d], z["test"][:, :d])
            return {"train": train_z, "test": test_z}
        if method == "normal, cut, no re-norm":
            return {part: truncate(truncate(z, full), d, normalize=False) for part, z in normal.items()}
        return {part: truncate(z, d) for part, z in self.full_width(method).items()}


def embed_all(settings: Settings, data: Data, models: dict) -> Embeddings:
    """Each model's embeddings of the training and test images, and the PCA of the normal model's.

    Args:
        models: from :func:`train_all`; it must hold the normal model (the PCA baseline's).
    """
    _check(settings, data, "cifar.embed_all", rows=False)
    check_trained(models, Classifier, "models", "cifar.embed_all", "pass what cifar.train_all returned")
    if "normal" not in models:
        raise ValueError(f"cifar.embed_all: the models {list(models)} lack 'normal', which the PCA baseline needs")
    by_model = {}
    for m, (model, _) in tqdm(models.items(), desc="embedding the training and test images"):
        encoder = fuse(model.encoder)  # batch norms folded into the convs: same outputs, faster (benchmarks/RESULTS.md)
        by_model[m] = {part: encode(encoder, images.images, desc=f"{m}, {part}")
                       for part, images in (("train", data.train), ("test", data.test))}  # fmt: skip
    return Embeddings(by_model, PCA().fit(by_model["normal"]["train"]))


HEAD, KNN, DENSE = "head accuracy", "1-NN accuracy", "1-NN accuracy, every size"  # evaluate's metrics


def evaluate(settings: Settings, data: Data, models: dict, emb: Embeddings | None = None) -> pd.DataFrame:
    """Every method at every size on ``data.test``, as one results table (:mod:`mrl_lab.evaluation.results`).

    Metrics, each row with its per-image ``items`` (which test images are right) and a 95 % interval:

    - ``"head accuracy"``: the trained classifiers: ``normal``, ``MRL``'s and ``MRL-E``'s heads,
      ``FF`` (each FF-d model's one head, the normal model's at D) and ``PCA + linear`` (the
      paper's SVD baseline: a logistic regression per size on the normal model's PCA components
      of the training images);
    - ``"1-NN accuracy"``: each test image takes the class of its nearest training image, at the
      nesting sizes, by :func:`centred` cosine for ``MRL``, ``MRL-E``, ``normal, cut``, ``PCA of
      normal`` and ``FF`` (see :meth:`Embeddings.at`); for the lessons on preprocessing also
      ``MRL, uncentred`` and ``normal, cut, uncentred`` (cut and re-normalise, no centring) and
      ``normal, cut, no re-norm`` (the stored unit vector's prefix ranked by dot product);
    - ``"1-NN accuracy, every size"``: 1-NN at every size up to 32 and every 16th after (most
      never trained) for ``MRL``, ``MRL-E``, ``normal, cut`` and ``PCA of normal``.

    Args:
        models: from :func:`train_all` (the normal model among them); emb: their :func:`embed_all`,
            if already computed.
    """
    _check(settings, data, "cifar.evaluate", rows=False)
    check_trained(models, Classifier, "models", "cifar.evaluate", "pass what cifar.train_all returned")
    if emb is not None:
        check_instance(emb, Embeddings, "emb", "cifar.evaluate", "pass cifar.embed_all(settings, data, models)")
    emb = emb if emb is not None else embed_all(settings, data, models)
    return table(_nearest_rows(settings, data, emb) + _head_rows(settings, data, models, emb))


def _nearest_rows(settings: Settings, data: Data, emb: Embeddings) -> list[dict]:
    """The 1-NN rows: at every size in one pass over the dims per method (``nearest_by_prefix``), then per size."""
    dims = settings.dims
    dense = [d for d in dense_grid(settings.embed_dim) if d <= 32 or d % 16 == 0]  # every size to 32, then every 16th
    grid = sorted(set(dense) | set(dims))
    rows, dense_rows = [], []
    for method in tqdm(list(_SOURCE), desc="1-NN at every size"):
        z, uncentred = emb.full_width(method), method.endswith("uncentred")
        found = nearest_by_prefix(z["train"], z["test"], dims if uncentred else grid, desc=method)
        right = {d: data.train.labels[i] == data.test.labels for d, i in found.items()}
        rows += [row(method, d, KNN, right[d], interval=True) for d in dims]
        if not uncentred:
            dense_rows += [row(method, d, DENSE, right[d], interval=True) for d in dense]
    for method in ("FF", "normal, cut, no re-norm"):  # a model per size; the raw dot product
        for d in tqdm(dims, desc=f"1-NN per size: {method}"):
            v = emb.at(method, d)
            if v is not None:
                right = knn_correct(v["train"], data.train.labels, v["test"], data.test.labels,
                                    normalize=method != "normal, cut, no re-norm")  # fmt: skip
                rows.append(row(method, d, KNN, right, interval=True))
    return rows + dense_rows


def _head_rows(settings: Settings, data: Data, models: dict, emb: Embeddings) -> list[dict]:
    """The trained classifiers' rows (on the test embeddings of :func:`embed_all`), and PCA + linear's."""
    labels, rows, ff = data.test.labels, [], {}
    for m, (model, _) in models.items():
        right = head_correct(encode(model.head, emb.by_model[m]["test"]), labels)
        if ff_size(m) is not None:  # each FF-d model's one head
            ff[ff_size(m)] = right[0]
            continue
        rows += [row(m, d, HEAD, r, interval=True) for d, r in zip(model.head.dims, right)]
        if m == "normal":
            ff[settings.embed_dim] = right[0]
    rows += [row("FF", d, HEAD, ff[d], interval=True) for d in sorted(ff)]
    for d in tqdm(settings.dims, desc="PCA + linear classifier per size"):
        train_z, test_z = (emb.pca.transform(emb.by_model["normal"][part], d) for part in ("train", "test"))
        rows.append(row("PCA + linear", d, HEAD, linear_probe_correct(train_z, data.train.labels, test_z, labels),
                        interval=True))  # fmt: skip
    return rows
