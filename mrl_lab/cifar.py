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

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from queue import Empty

import torch
import torch.nn.functional as F
from torch import nn
from torch.fx.experimental.optimization import fuse
from tqdm.auto import tqdm

from .baselines import PCA
from .budget import Budget
from .checkpoints import checkpoint_path, load_or_train
from .data import load_cifar10, load_cifar100
from .heads import MRLHead
from .loss import MatryoshkaLoss
from .metrics import head_correct, knn_correct, linear_probe_correct, nearest_by_prefix
from .models import Classifier, ConvNet
from .nesting import nesting_dims, truncate
from .train import default_device, encode, random_crop_flip, seed_everything, train

EMBED_DIM = 256
# Which fixed-feature sizes get their own network at each budget (one network each is costly).
PER_SIZE = {"smoke": [4, 16, 64], "cpu": [4, 16, 64], "gpu": None}  # None: every nesting size below D
DATASETS = {"cifar10": 10, "cifar100": 100}  # classes
SMALL_SHARE = 0.6  # with progressive resizing, the share of epochs on 16x16 images (see augmentations)


def experiment_config(budget: Budget, embed_dim: int = EMBED_DIM, smallest: int = 2, dataset: str = "cifar10") -> dict:
    """Everything that decides the CIFAR models' weights at this budget.

    Args:
        budget: from :func:`~mrl_lab.get_budget`.
        embed_dim, smallest: the embedding width and the smallest nesting size.
        dataset: ``"cifar10"`` or ``"cifar100"`` (downloaded when online: 100 classes, for the
            ``gpu`` budget; the offline data here has no copy).

    Example:
        >>> from mrl_lab import get_budget
        >>> cfg = experiment_config(get_budget("smoke"))
        >>> cfg["dims"], cfg["per_size"], cfg["num_classes"]
        ([2, 4, 8, 16, 32, 64, 128, 256], [4, 16, 64], 10)
    """
    if dataset not in DATASETS:
        raise ValueError(f"experiment_config: dataset={dataset!r}; choose one of {sorted(DATASETS)}")
    dims = nesting_dims(embed_dim, smallest=smallest)
    per_size = PER_SIZE[budget.name]
    return dict(
        dataset=dataset, num_classes=DATASETS[dataset], embed_dim=embed_dim, dims=dims,
        per_size=dims[:-1] if per_size is None else per_size, width=budget.width, train_images=budget.cifar_train,
        epochs=budget.epochs, progressive=budget.progressive, batch_size=budget.batch_size, lr=3e-3,
        label_smoothing=0.1, small_share=SMALL_SHARE, seed=0,
    )  # fmt: skip


def load_data(config: dict, budget: Budget):
    """The training images ``config`` asks for (a class-balanced subset) and the budget's test images."""
    load = {"cifar10": load_cifar10, "cifar100": load_cifar100}[config["dataset"]]
    train_set = load("train").subset(config["train_images"], seed=config["seed"])
    test_set = load("test")
    return train_set, test_set if budget.cifar_test >= len(test_set) else test_set.subset(budget.cifar_test, seed=0)


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
    """16x16 images: shifted and flipped as :func:`~mrl_lab.train.random_crop_flip` does, then 2x2-averaged."""
    return F.avg_pool2d(random_crop_flip(images).float(), 2)


def crops_24(images):
    """A random 24x24 window of each 32x32 image, flipped half of the time."""
    return random_crop_flip(images, pad=0, size=24)


def augmentations(epochs: int, progressive: bool, small_share: float = SMALL_SHARE) -> list:
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
    """What :func:`~mrl_lab.checkpoints.load_or_train` needs for one model: its config, build, fit."""
    shared = {k: v for k, v in config.items() if k != "per_size"}
    model_config = dict(shared, name=f"cifar10-{method}", source=train_set.source)

    def build_seeded():  # the initial weights depend only on the seed, not on what ran before
        seed_everything(config["seed"])
        return build(method, config)

    def fit(model):
        loss = MatryoshkaLoss(nn.CrossEntropyLoss(label_smoothing=config["label_smoothing"]), model.head.dims)
        return train(
            model, loss, train_set.images, train_set.labels, epochs=config["epochs"],
            batch_size=config["batch_size"], lr=config["lr"],
            augment=augmentations(config["epochs"], config["progressive"], config["small_share"]),
            device=device, seed=config["seed"], desc=method, progress=progress, report=report,
        )  # fmt: skip

    return model_config, build_seeded, fit


_reports = None  # in a worker process: the queue its progress goes to (set by _start_worker)


def _start_worker(reports, threads: int) -> None:
    global _reports
    _reports = reports
    torch.set_num_threads(threads)


def _train_in_worker(method: str, config: dict, train_set) -> None:
    last = [0.0]

    def report(step, total, line):  # every epoch's line, and the step count at most twice a second
        if line is not None or step == total or time.monotonic() - last[0] > 0.5:
            last[0] = time.monotonic()
            _reports.put((method, step, total, line))

    load_or_train(*_job(method, config, train_set, "cpu", progress=False, report=report), retrain=True)  # saves it


def _follow(futures: list, reports, methods: list[str], steps: int, progress: bool) -> None:
    """Draw one progress bar per model from the workers' reports until all are done; re-raise any error."""
    bars = {m: tqdm(total=steps, desc=f"{m} (in a worker)", disable=not progress) for m in methods}
    pending = set(futures)
    while True:
        try:  # wait for a report, at most half a second
            method, step, total, line = reports.get(timeout=0.5)
            bars[method].update(step - bars[method].n)
            if line is not None:
                bars[method].write(line)
        except Empty:
            pending = {f for f in pending if not f.done()}
            if not pending:
                break
    for bar in bars.values():
        bar.close()
    for future in futures:
        future.result()  # re-raises a worker's error here


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
        threads = max(1, torch.get_num_threads() // processes)
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: safe with threads, Jupyter, macOS
        reports = context.Queue()  # the workers' progress, drawn here as one bar per model
        steps = config["train_images"] // config["batch_size"] * config["epochs"]
        if progress:
            print(f"training {len(todo)} models, {processes} at a time in worker processes")
        with ProcessPoolExecutor(processes, context, _start_worker, (reports, threads)) as pool:
            futures = [pool.submit(_train_in_worker, m, config, train_set) for m in todo]
            _follow(futures, reports, todo, steps, progress)
        out = {m: load_or_train(*jobs[m], device=device) for m in chosen}
        return {m: (model, dict(meta, cached=m not in todo)) for m, (model, meta) in out.items()}
    return {m: load_or_train(*jobs[m], retrain=retrain, device=device) for m in chosen}


def dense_grid(full_dim: int) -> list[int]:
    """Every size from 1 to 64, then steps of 16 up to ``full_dim``: sizes mostly never trained.

    Example:
        >>> dense_grid(128)[-6:]
        [63, 64, 80, 96, 112, 128]
    """
    return list(range(1, min(64, full_dim) + 1)) + list(range(80, full_dim + 1, 16))


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
      for intervals (:func:`~mrl_lab.metrics.accuracy_interval`);
    - ``"vectors"``: ``{method: fn(d) -> (train_z, test_z) or None}``, the centred vectors;
    - ``"explained"``: the share of the normal embedding's variance along each principal component.
    """
    full, dims = config["embed_dim"], config["dims"]
    emb = {}
    for m, (model, _) in tqdm(models.items(), desc="embedding the training and test images"):
        encoder = fuse(model.encoder)  # each batch norm folded into its convolution: same outputs, 1.4x faster here
        emb[m] = (encode(encoder, train_set.images), encode(encoder, test_set.images))
    pca = PCA().fit(emb["normal"][0])

    def prefix(name, d, centre=True):  # a model's first d dims, centred or only re-normalised
        train_z, test_z = (v[:, :d] for v in emb[name])
        return centred(train_z, test_z) if centre else (F.normalize(train_z, dim=1), F.normalize(test_z, dim=1))

    def ff(d):  # FF-d's vectors; at full width FF is the normal model
        name = "normal" if d == full else f"FF-{d}"
        return prefix(name, d) if name in emb else None

    vectors = {
        "MRL": lambda d: prefix("MRL", d),
        "MRL-E": lambda d: prefix("MRL-E", d),
        "FF": ff,
        "normal, cut": lambda d: prefix("normal", d),
        "PCA of normal": lambda d: tuple(F.normalize(pca.transform(v, d), dim=1) for v in emb["normal"]),
        "MRL, uncentred": lambda d: prefix("MRL", d, centre=False),
        "normal, cut, uncentred": lambda d: prefix("normal", d, centre=False),
    }
    stored = [truncate(v, full) for v in emb["normal"]]  # unit vectors, as an index stores them
    vectors["normal, cut, no re-norm"] = lambda d: tuple(truncate(v, d, normalize=False) for v in stored)

    # 1-NN at every size in one pass over the dims per method (metrics.nearest_by_prefix): each
    # method's full-width vectors whose first d dims, re-normalised, are its d-dim vectors.
    def minus_mean(name):  # centred() without the normalising, which must wait until after the cut
        mean = emb[name][0].mean(dim=0)
        return [v - mean for v in emb[name]]

    full_width = {
        "MRL": minus_mean("MRL"),
        "MRL-E": minus_mean("MRL-E"),
        "normal, cut": minus_mean("normal"),
        "PCA of normal": [pca.transform(v, full) for v in emb["normal"]],
        "MRL, uncentred": emb["MRL"],
        "normal, cut, uncentred": emb["normal"],
    }
    dense = [d for d in dense_grid(full) if d <= 32 or d % 16 == 0]  # every size to 32, then every 16th
    grid = sorted(set(dense) | set(dims))
    correct = {"knn": {}, "dense": {}, "head": {}}
    for name, (train_z, test_z) in tqdm(full_width.items(), desc="1-NN at every size"):
        sizes = grid if name in ("MRL", "MRL-E", "normal, cut", "PCA of normal") else dims
        found = nearest_by_prefix(train_z, test_z, sizes, desc=name)
        right = {d: train_set.labels[nn] == test_set.labels for d, nn in found.items()}
        correct["knn"][name] = {d: right[d] for d in dims}
        if sizes is grid:
            correct["dense"][name] = {d: right[d] for d in dense}
    for name, raw_dot in (("FF", False), ("normal, cut, no re-norm", True)):  # a model per size; raw dot product
        pairs = {d: vectors[name](d) for d in dims}
        correct["knn"][name] = {
            d: knn_correct(p[0], train_set.labels, p[1], test_set.labels, normalize=not raw_dot)
            for d, p in tqdm(pairs.items(), desc=f"1-NN per size: {name}") if p is not None
        }  # fmt: skip

    for m, (model, _) in models.items():  # each model's own heads, on the test embeddings above
        correct["head"][m] = dict(zip(model.head.dims, head_correct(encode(model.head, emb[m][1]), test_set.labels)))
    ff_heads = {d: correct["head"][f"FF-{d}"][d] for d in config["per_size"] if f"FF-{d}" in correct["head"]}
    correct["head"] = {m: c for m, c in correct["head"].items() if not m.startswith("FF-")}
    correct["head"]["FF"] = ff_heads | {full: correct["head"]["normal"][full]}
    correct["head"]["PCA + linear"] = {
        d: linear_probe_correct(pca.transform(emb["normal"][0], d), train_set.labels,
                                pca.transform(emb["normal"][1], d), test_set.labels)
        for d in tqdm(dims, desc="PCA + linear classifier per size")
    }  # fmt: skip

    def accuracy(curves):
        return {name: {d: c.float().mean().item() for d, c in curve.items()} for name, curve in curves.items()}

    return dict(**{kind: accuracy(curves) for kind, curves in correct.items()}, correct=correct,
                vectors=vectors, explained=pca.explained_variance_ratio)  # fmt: skip
