"""The CIFAR-10 experiment (notebook 01, ``benchmarks/cifar10.py``): one recipe, every model.

CIFAR-100 runs the same experiment (``experiment_config(..., dataset="cifar100")``) where it
can be downloaded.

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

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.fx.experimental.optimization import fuse
from tqdm.auto import tqdm

from mrl_lab.core.heads import MRLHead
from mrl_lab.core.loss import MatryoshkaLoss
from mrl_lab.core.nesting import dense_grid, nesting_dims, truncate
from mrl_lab.data.images import load_cifar10, load_cifar100
from mrl_lab.evaluation.baselines import PCA
from mrl_lab.evaluation.metrics import head_correct, knn_correct, linear_probe_correct
from mrl_lab.evaluation.search import nearest_by_prefix
from mrl_lab.models.convnet import Classifier, ConvNet
from mrl_lab.runtime.budget import Budget, default_device, settings_at
from mrl_lab.training.augment import random_crop_flip
from mrl_lab.training.model_cache import checkpoint_path, load_or_train
from mrl_lab.training.side_by_side import train_side_by_side
from mrl_lab.training.trainer import encode, seed_everything, train

# Every setting that decides the CIFAR models' weights, one row per budget: the experiment's one
# table (as airbench keeps its hyperparameters). A model's cache key is its row with the nesting
# sizes, the data's fingerprint and the architecture, so changing any value here trains anew.
# fmt: off
SETTINGS = {
    "smoke": dict(train_images=800,    epochs=2,  progressive=True,  small_share=0.6, batch_size=100, width=16,
                  embed_dim=256, smallest=2, per_size=[4, 16, 64], lr=3e-3, weight_decay=5e-4, warmup=0.25,
                  label_smoothing=0.1, seed=0),
    "cpu":   dict(train_images=10_000, epochs=7,  progressive=True,  small_share=0.6, batch_size=128, width=16,
                  embed_dim=256, smallest=2, per_size=[4, 16, 64], lr=3e-3, weight_decay=5e-4, warmup=0.25,
                  label_smoothing=0.1, seed=0),
    "gpu":   dict(train_images=50_000, epochs=10, progressive=False, small_share=0.6, batch_size=512, width=64,
                  embed_dim=256, smallest=2, per_size=None, lr=3e-3, weight_decay=5e-4, warmup=0.25,
                  label_smoothing=0.1, seed=0),
}  # per_size: the sizes that get a network of their own (FF-d); None: every nesting size below embed_dim
# fmt: on
TEST_IMAGES = {"smoke": 400, "cpu": 10_000, "gpu": 10_000}  # evaluation only: not part of the weights
DATASETS = {"cifar10": 10, "cifar100": 100}  # classes


def experiment_config(budget: Budget, dataset: str = "cifar10", **changes) -> dict:
    """The CIFAR models' settings at this budget: the row of :data:`SETTINGS`, with the nesting sizes.

    Args:
        budget: from :func:`~mrl_lab.get_budget`.
        dataset: ``"cifar10"`` or ``"cifar100"`` (downloaded when online: 100 classes, for the
            ``gpu`` budget; the offline data here has no copy).
        changes: settings to change, e.g. ``epochs=3`` (the models then train and cache anew).

    Example:
        >>> from mrl_lab.runtime import get_budget
        >>> cfg = experiment_config(get_budget("smoke"))
        >>> cfg["dims"], cfg["per_size"], cfg["num_classes"]
        ([2, 4, 8, 16, 32, 64, 128, 256], [4, 16, 64], 10)
    """
    if dataset not in DATASETS:
        raise ValueError(f"experiment_config: dataset={dataset!r}; choose one of {sorted(DATASETS)}")
    config = settings_at(SETTINGS, budget, changes, "experiment_config")
    dims = nesting_dims(config["embed_dim"], smallest=config["smallest"])
    per_size = dims[:-1] if config["per_size"] is None else config["per_size"]
    return dict(config, dataset=dataset, num_classes=DATASETS[dataset], dims=dims, per_size=per_size)


def load_data(config: dict, budget: Budget):
    """The training images ``config`` asks for (a class-balanced subset) and the budget's test images."""
    load = {"cifar10": load_cifar10, "cifar100": load_cifar100}[config["dataset"]]
    train_set = load("train").subset(config["train_images"], seed=config["seed"])
    test_set = load("test")
    n = TEST_IMAGES[budget.name]
    return train_set, test_set if n >= len(test_set) else test_set.subset(n, seed=0)


def methods(config: dict) -> list[str]:
    """The models trained for ``config``: normal, MRL, MRL-E, then one ``FF-d`` per stated size.

    Example:
        >>> methods({"per_size": [8, 32]})
        ['normal', 'MRL', 'MRL-E', 'FF-8', 'FF-32']
    """
    return ["normal", "MRL", "MRL-E"] + [f"FF-{d}" for d in config["per_size"]]


def build(method: str, config: dict) -> Classifier:
    """An untrained model for ``method`` (see :func:`methods`).

    Example:
        >>> cfg = {"embed_dim": 64, "dims": [8, 16, 32, 64], "width": 4, "num_classes": 10}
        >>> build("FF-8", cfg).head.dims, build("FF-8", cfg).encoder.embed_dim, build("MRL-E", cfg).head.efficient
        ([8], 64, True)
    """
    full = config["embed_dim"]
    if method.startswith("FF-"):
        dims = [int(method[3:])]  # one classifier on the first d features: trained for size d alone
    else:
        dims = {"normal": [full], "MRL": config["dims"], "MRL-E": config["dims"]}[method]
    head = MRLHead(full, config["num_classes"], dims, efficient=method == "MRL-E")
    return Classifier(ConvNet(embed_dim=full, width=config["width"]), head)


def small_images(images):
    """16x16 images: shifted and flipped as :func:`~mrl_lab.training.augment.random_crop_flip` does, then
    2x2-averaged."""
    return F.avg_pool2d(random_crop_flip(images).float(), 2)


def crops_24(images):
    """A random 24x24 window of each 32x32 image, flipped half of the time."""
    return random_crop_flip(images, pad=0, size=24)


def augmentations(epochs: int, progressive: bool, small_share: float = 0.6) -> list:
    """The augmentation of each training epoch: random shifts (or crops) and flips.

    With ``progressive`` the images start small, because a convolution's cost grows with the number
    of pixels ("progressive resizing", as in fast.ai's DAWNBench entries): the first
    ``small_share`` of the epochs see 16x16 images, the next ones random 24x24 crops, and the
    last epoch the full 32x32 images, as the test does. A 16x16 epoch cost a quarter of a 32x32
    one here, a 24x24 epoch 0.6. At the ``cpu`` budget (7 epochs: 4 small, 2 cropped, 1 full) one
    model trains in about 2.2 min on one core, so the six models of notebook 01 fit, two at a
    time, in about 7 min. The earlier recipe (11 epochs, 40 % small) took 3.7 min per model and
    scored 5.6 points more (MRL's 256-dim head on the 10,000 test images: 70.7 % vs 65.1 %; 8
    epochs: 66.8 %; measured 2026-11-28 on a 2-core CPU).

    Example:
        >>> [f.__name__ for f in augmentations(5, progressive=True, small_share=0.4)]
        ['small_images', 'small_images', 'crops_24', 'crops_24', 'random_crop_flip']
        >>> [f.__name__ for f in augmentations(2, progressive=False)]
        ['random_crop_flip', 'random_crop_flip']
    """
    if not progressive:
        return [random_crop_flip] * epochs
    small = min(epochs - 1, int(small_share * epochs))
    return [small_images] * small + [crops_24] * (epochs - small - 1) + [random_crop_flip]


def _job(method: str, config: dict, train_set, device, progress: bool, report=None):
    """What :func:`~mrl_lab.training.model_cache.load_or_train` needs for one model: its config, build, fit."""
    shared = {k: v for k, v in config.items() if k != "per_size"}
    model_config = dict(shared, name=f"cifar10-{method}", source=train_set.source)

    def build_seeded():  # the initial weights depend only on the seed, not on what ran before
        seed_everything(config["seed"])
        return build(method, config)

    def fit(model):
        loss = MatryoshkaLoss(nn.CrossEntropyLoss(label_smoothing=config["label_smoothing"]), model.head.dims)
        return train(
            model, loss, train_set.images, train_set.labels, epochs=config["epochs"],
            batch_size=config["batch_size"], lr=config["lr"], weight_decay=config["weight_decay"],
            warmup=config["warmup"],
            augment=augmentations(config["epochs"], config["progressive"], config["small_share"]),
            device=device, seed=config["seed"], desc=method, progress=progress, report=report,
        )  # fmt: skip

    return model_config, build_seeded, fit


def train_models(
    config: dict,
    train_set,
    device=None,
    retrain: bool = False,
    only: list[str] | None = None,
    progress: bool = True,
    processes: int = 1,
) -> dict:
    """Train (or load from the cache) the models of ``config``; returns ``{method: (model, meta)}``.

    Args:
        config: from :func:`experiment_config`.
        train_set: ``config["train_images"]`` images, e.g. ``load_cifar10().subset(n, seed=config["seed"])``.
        device: where to train; retrain: ignore cached models; only: train just these methods.
        processes: on a CPU, how many models train side by side, each in its own process with an
            equal share of PyTorch's threads (1: one after the other, the default). On a 2-core
            machine, ``processes=2`` trained 1.23x as many images per second as one model at a time
            with two threads, because small convolutions keep one core per model busier than two
            cores on one model. Each model's ``seconds`` is then its wall time while sharing the
            machine. The workers are fresh Python processes ("spawn"), so a script that asks for
            more than 1 must call this under ``if __name__ == "__main__":`` (notebooks need nothing).

    Each model's cache key holds the settings that decide its weights (not the list of FF sizes).
    Every model starts from weights drawn after seeding with ``config["seed"]``, so it is the same
    model whichever way, and in whichever order, it was trained.
    """
    if len(train_set) != config["train_images"]:
        raise ValueError(
            f"train_models: the config expects {config['train_images']} training images, got {len(train_set)}; "
            "pass load_cifar10('train').subset(config['train_images'], seed=config['seed'])"
        )
    device = torch.device(device) if device is not None else default_device()
    if processes < 1 or (processes > 1 and device.type != "cpu"):
        raise ValueError(f"train_models: processes={processes}; use 1, or more than 1 only on the CPU")
    chosen = only or methods(config)
    jobs = {m: _job(m, config, train_set, device, progress) for m in chosen}
    todo = []  # the models to train side by side: only looked for when processes > 1
    if processes > 1:
        todo = [m for m in chosen if retrain or not checkpoint_path(jobs[m][0], build(m, config)).exists()]
    if len(todo) > 1:
        steps = config["train_images"] // config["batch_size"] * config["epochs"]
        job = partial(_job, config=config, train_set=train_set)
        train_side_by_side(job, todo, processes, steps, progress)
        out = {m: load_or_train(*jobs[m], device=device) for m in chosen}
        return {m: (model, dict(meta, cached=m not in todo)) for m, (model, meta) in out.items()}
    return {m: load_or_train(*jobs[m], retrain=retrain, device=device) for m in chosen}


def heads_correct(model: Classifier, images, labels, desc: str | None = None) -> dict[int, torch.Tensor]:
    """Which of ``images`` each of ``model``'s heads classifies right: ``{size: bool (N,)}``, for
    accuracies (their means) and intervals (:func:`~mrl_lab.evaluation.intervals.accuracy_interval`)."""
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
    mean = train_z.mean(dim=0)
    return F.normalize(train_z - mean, dim=1), F.normalize(test_z - mean, dim=1)


def evaluate(models: dict, train_set, test_set, config: dict) -> dict:
    """Measure every method at every size on ``test_set``; 1-NN searches ``train_set``.

    Every 1-NN figure uses the same preprocessing, :func:`centred` cosine: a method's ``d``-dim
    vectors, minus their training mean, L2-normalised. The methods:

    - ``MRL``, ``MRL-E``: the first ``d`` dims of each model's embedding;
    - ``FF``: FF-d's first ``d`` dims, at the sizes that have an FF model (FF-D is the normal model);
    - ``normal, cut``: the first ``d`` dims of the normal model's embedding;
    - ``PCA of normal``: the normal embedding projected on its first ``d`` principal components
      (fitted on the training embeddings);
    - for the lessons on preprocessing: ``MRL, uncentred`` and ``normal, cut, uncentred`` (cut
      and re-normalise, no centring) and ``normal, cut, no re-norm`` (the prefix of the stored
      unit vector ranked by dot product, as an inner-product index would).

    Returns a dict:

    - ``"head"``: ``{method: {size: accuracy}}`` of the trained classifiers: MRL's and MRL-E's
      heads, ``FF`` (each FF-d model's one head, the normal model's at D) and ``PCA + linear``
      (the paper's SVD baseline: a logistic regression per size on the normal model's PCA
      components of the training images);
    - ``"knn"``: 1-NN accuracy at the nesting sizes, every method above;
    - ``"dense"``: 1-NN at every size up to 32 and every 16th after (most never trained) for
      MRL, MRL-E, normal cut and PCA;
    - ``"correct"``: the same three, with a bool tensor per size (which test images are right),
      for intervals (:func:`~mrl_lab.evaluation.intervals.accuracy_interval`);
    - ``"vectors"``: ``vectors(method, d) -> {"train": ..., "test": ...}`` (or ``None`` where the
      method has no ``d``-dim vectors), the vectors each 1-NN figure used;
    - ``"explained"``: the share of the normal embedding's variance along each principal component.
    """
    full, dims = config["embed_dim"], config["dims"]
    emb = {}
    for m, (model, _) in tqdm(models.items(), desc="embedding the training and test images"):
        encoder = fuse(model.encoder)  # each batch norm folded into its convolution: same outputs, 1.4x faster here
        emb[m] = {part: encode(encoder, images.images, desc=f"{m}, {part}")
                  for part, images in (("train", train_set), ("test", test_set))}  # fmt: skip
    pca = PCA().fit(emb["normal"]["train"])
    mean = {m: z["train"].mean(dim=0) for m, z in emb.items()}  # each model's training mean, for centring

    def full_width(method):  # the full-width vectors whose first d dims, re-normalised, are the method's
        model = {"MRL": "MRL", "MRL-E": "MRL-E", "normal, cut": "normal", "PCA of normal": "normal",
                 "MRL, uncentred": "MRL", "normal, cut, uncentred": "normal"}[method]  # fmt: skip
        if method == "PCA of normal":
            return {part: pca.transform(z, full) for part, z in emb[model].items()}
        if method.endswith("uncentred"):
            return emb[model]
        return {part: z - mean[model] for part, z in emb[model].items()}  # centred: normalising waits for the cut

    def vectors(method, d):
        """``method``'s ``d``-dim training and test vectors, as every 1-NN figure compares them."""
        if method == "FF":  # FF-d's own vectors; at full width FF is the normal model
            model = "normal" if d == full else f"FF-{d}"
            if model not in emb:
                return None
            train_z, test_z = centred(emb[model]["train"][:, :d], emb[model]["test"][:, :d])
            return {"train": train_z, "test": test_z}
        if method == "normal, cut, no re-norm":  # the stored unit vector's prefix, as an inner-product index has it
            return {part: truncate(truncate(z, full), d, normalize=False) for part, z in emb["normal"].items()}
        return {part: truncate(z, d) for part, z in full_width(method).items()}

    # 1-NN at every size in one pass over the dims per method (metrics.nearest_by_prefix)
    dense = [d for d in dense_grid(full) if d <= 32 or d % 16 == 0]  # every size to 32, then every 16th
    grid = sorted(set(dense) | set(dims))
    correct = {"knn": {}, "dense": {}, "head": {}}
    for method in tqdm(["MRL", "MRL-E", "normal, cut", "PCA of normal", "MRL, uncentred", "normal, cut, uncentred"],
                       desc="1-NN at every size"):  # fmt: skip
        z = full_width(method)
        sizes = dims if method.endswith("uncentred") else grid
        found = nearest_by_prefix(z["train"], z["test"], sizes, desc=method)
        right = {d: train_set.labels[nn] == test_set.labels for d, nn in found.items()}
        correct["knn"][method] = {d: right[d] for d in dims}
        if not method.endswith("uncentred"):
            correct["dense"][method] = {d: right[d] for d in dense}
    for method in ("FF", "normal, cut, no re-norm"):  # a model per size; the raw dot product
        correct["knn"][method] = {}
        for d in tqdm(dims, desc=f"1-NN per size: {method}"):
            v = vectors(method, d)
            if v is not None:
                normalize = method != "normal, cut, no re-norm"
                correct["knn"][method][d] = knn_correct(v["train"], train_set.labels, v["test"], test_set.labels,
                                                        normalize=normalize)  # fmt: skip

    for m, (model, _) in models.items():  # each model's own heads, on the test embeddings above
        if not m.startswith("FF-"):
            correct["head"][m] = dict(
                zip(model.head.dims, head_correct(encode(model.head, emb[m]["test"]), test_set.labels))
            )
    correct["head"]["FF"] = {full: correct["head"]["normal"][full]}
    for d in config["per_size"]:  # each FF-d model's one head
        if f"FF-{d}" in models:
            logits = encode(models[f"FF-{d}"][0].head, emb[f"FF-{d}"]["test"])
            correct["head"]["FF"][d] = head_correct(logits, test_set.labels)[0]
    correct["head"]["FF"] = dict(sorted(correct["head"]["FF"].items()))
    correct["head"]["PCA + linear"] = {}
    for d in tqdm(dims, desc="PCA + linear classifier per size"):
        train_z, test_z = (pca.transform(emb["normal"][part], d) for part in ("train", "test"))
        correct["head"]["PCA + linear"][d] = linear_probe_correct(train_z, train_set.labels, test_z, test_set.labels)

    def accuracy(curves):
        return {name: {d: c.float().mean().item() for d, c in curve.items()} for name, curve in curves.items()}

    return dict(**{kind: accuracy(curves) for kind, curves in correct.items()}, correct=correct,
                vectors=vectors, explained=pca.explained_variance_ratio)  # fmt: skip
