"""The CIFAR-10 experiment (notebook 01, ``benchmarks/cifar10.py``): one recipe, every model.

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
from concurrent.futures import ProcessPoolExecutor, as_completed

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .budget import Budget
from .checkpoints import checkpoint_path, load_or_train
from .heads import MRLHead
from .loss import MatryoshkaLoss
from .models import Classifier, ConvNet
from .nesting import nesting_dims
from .train import default_device, random_crop_flip, seed_everything, train

EMBED_DIM = 256
# Which fixed-feature sizes get their own network at each budget (one network each is costly).
PER_SIZE = {"smoke": [8], "cpu": [8], "gpu": None}  # None: every nesting size below D


def experiment_config(budget: Budget, embed_dim: int = EMBED_DIM, smallest: int = 2) -> dict:
    """Everything that decides the CIFAR-10 models' weights at this budget.

    Example:
        >>> from mrl_lab import get_budget
        >>> cfg = experiment_config(get_budget("smoke"))
        >>> cfg["dims"], cfg["per_size"]
        ([2, 4, 8, 16, 32, 64, 128, 256], [8])
    """
    dims = nesting_dims(embed_dim, smallest=smallest)
    per_size = PER_SIZE[budget.name]
    return dict(
        embed_dim=embed_dim, dims=dims, per_size=dims[:-1] if per_size is None else per_size,
        width=budget.width, train_images=budget.cifar_train, epochs=budget.epochs,
        progressive=budget.progressive, batch_size=budget.batch_size, lr=3e-3, label_smoothing=0.1, seed=0,
    )  # fmt: skip


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
        >>> cfg = {"embed_dim": 64, "dims": [8, 16, 32, 64], "width": 4}
        >>> build("FF-8", cfg).head.dims, build("FF-8", cfg).encoder.embed_dim, build("MRL-E", cfg).head.efficient
        ([8], 64, True)
    """
    full = config["embed_dim"]
    if method.startswith("FF-"):
        dims = [int(method[3:])]  # one classifier on the first d features: trained for size d alone
    else:
        dims = {"normal": [full], "MRL": config["dims"], "MRL-E": config["dims"]}[method]
    return Classifier(ConvNet(embed_dim=full, width=config["width"]), MRLHead(full, 10, dims, method == "MRL-E"))


def small_images(images):
    """16x16 images: shifted and flipped as :func:`~mrl_lab.train.random_crop_flip` does, then 2x2-averaged."""
    return F.avg_pool2d(random_crop_flip(images).float(), 2)


def crops_24(images):
    """A random 24x24 window of each 32x32 image, flipped half of the time."""
    return random_crop_flip(images, pad=0, size=24)


def augmentations(epochs: int, progressive: bool) -> list:
    """The augmentation of each training epoch: random shifts (or crops) and flips.

    With ``progressive`` the images start small, because a convolution's cost grows with the number
    of pixels ("progressive resizing", as in fast.ai's DAWNBench entries): the first 40% of the
    epochs see 16x16 images, the next ones random 24x24 crops, and the last epoch the full 32x32
    images, as the test does. At the ``cpu`` budget this fits 11 epochs in the time of about 5 at
    full size.

    Example:
        >>> [f.__name__ for f in augmentations(5, progressive=True)]
        ['small_images', 'small_images', 'crops_24', 'crops_24', 'random_crop_flip']
        >>> [f.__name__ for f in augmentations(2, progressive=False)]
        ['random_crop_flip', 'random_crop_flip']
    """
    if not progressive:
        return [random_crop_flip] * epochs
    small = int(0.4 * epochs)
    return [small_images] * small + [crops_24] * (epochs - small - 1) + [random_crop_flip]


def _job(method: str, config: dict, train_set, device, progress: bool):
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
            augment=augmentations(config["epochs"], config["progressive"]),
            device=device, seed=config["seed"], desc=method, progress=progress,
        )  # fmt: skip

    return model_config, build_seeded, fit


def _train_in_worker(method: str, config: dict, train_set, threads: int) -> None:
    torch.set_num_threads(threads)
    load_or_train(*_job(method, config, train_set, "cpu", progress=False), retrain=True)  # saves it to the cache


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
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            futures = {pool.submit(_train_in_worker, m, config, train_set, threads): m for m in todo}
            desc = f"training {len(todo)} models, {processes} at a time"
            for future in tqdm(as_completed(futures), total=len(futures), desc=desc, disable=not progress):
                future.result()  # re-raises a worker's error here
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


def evaluate(models: dict, train_set, test_set, config: dict) -> dict:
    """Measure every method at every size on ``test_set``, with 1-NN against ``train_set``.

    Returns a dict:

    - ``"head"``: ``{method: {size: accuracy}}`` of each model's own trained heads (the normal
      model and each FF-d model have one size; ``FF`` gathers the FF models, with FF-D = normal);
    - ``"knn"``: 1-NN (cosine) accuracy at the nesting sizes for MRL, MRL-E, FF, and the post-hoc
      baselines built from the normal model: ``normal, cut`` (truncate and re-normalise),
      ``normal, cut, no re-norm`` (keep the prefix of the stored unit vector and rank by dot
      product, as an inner-product index would) and ``PCA of normal`` (fitted on its training
      embeddings);
    - ``"dense"``: 1-NN at the :func:`dense_grid` sizes, most of which were never trained;
    - ``"vectors"``: ``{method: fn(d) -> (train_z, test_z) or None}``, each method's vectors at size d.
    """
    from .baselines import PCA
    from .metrics import head_accuracy, knn_accuracy
    from .nesting import truncate
    from .train import encode

    full, dims = config["embed_dim"], config["dims"]
    emb = {
        m: (encode(model.encoder, train_set.images), encode(model.encoder, test_set.images))
        for m, (model, _) in models.items()
    }
    unit = tuple(truncate(v, full) for v in emb["normal"])  # the normal model's vectors as stored: unit length
    pca = PCA().fit(unit[0])

    def one_nn(train_z, test_z, normalize=True):
        return knn_accuracy(train_z, train_set.labels, test_z, test_set.labels, normalize=normalize)

    def cut(name):  # a model's vectors, cut to d dims and re-normalised
        return lambda d: tuple(truncate(v, d) for v in emb[name])

    def ff_vectors(d):  # FF-d's vectors; at full width FF is the normal model
        name = "normal" if d == full else f"FF-{d}"
        return cut(name)(d) if name in emb else None

    vectors = {"MRL": cut("MRL"), "MRL-E": cut("MRL-E"), "normal, cut": cut("normal"), "FF": ff_vectors}
    vectors["PCA of normal"] = lambda d: tuple(pca.transform(v, d) for v in unit)

    knn = {name: {d: one_nn(*fn(d)) for d in dims} for name, fn in vectors.items() if name != "FF"}
    knn["normal, cut, no re-norm"] = {
        d: one_nn(*(truncate(v, d, normalize=False) for v in unit), normalize=False) for d in dims
    }
    knn["FF"] = {d: one_nn(*v) for d in dims if (v := ff_vectors(d)) is not None}
    dense = {
        name: {d: one_nn(*vectors[name](d)) for d in dense_grid(full)}
        for name in ("MRL", "MRL-E", "normal, cut", "PCA of normal")
    }

    head = {}  # each model's own heads, applied to the test embeddings computed above
    for m, (model, _) in models.items():
        head[m] = dict(zip(model.head.dims, head_accuracy(encode(model.head, emb[m][1]), test_set.labels)))
    head["FF"] = {d: head.pop(f"FF-{d}")[d] for d in config["per_size"]} | {full: head["normal"][full]}
    return dict(head=head, knn=knn, dense=dense, vectors=vectors)
