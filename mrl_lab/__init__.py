"""mrl-lab: Matryoshka Representation Learning, taught by doing it.

The core (this namespace) never imports Jupyter: use it from a plain script. Plots live in
``mrl_lab.plots`` (plotly) and dashboards in ``mrl_lab.widgets`` (ipywidgets).
"""

__version__ = "0.1.0"

from .baselines import PCA
from .budget import Budget, get_budget
from .contrastive import InfoNCE
from .data import DataNotFoundError, load_ag_news, load_cifar10, load_cifar100, load_sts_benchmark, locate_datasets
from .heads import MRLHead
from .loss import MatryoshkaLoss
from .metrics import head_accuracy, knee, knn_accuracy, linear_probe_correct, recall_at_k, search, topk_overlap
from .models import Classifier, ConvNet
from .nesting import check_dims, nesting_dims, truncate
from .train import encode, random_crop_flip, seed_everything, train

__all__ = [
    "PCA",
    "Budget",
    "get_budget",
    "InfoNCE",
    "DataNotFoundError",
    "load_ag_news",
    "load_cifar10",
    "load_cifar100",
    "load_sts_benchmark",
    "locate_datasets",
    "MRLHead",
    "MatryoshkaLoss",
    "head_accuracy",
    "knee",
    "knn_accuracy",
    "linear_probe_correct",
    "recall_at_k",
    "search",
    "topk_overlap",
    "Classifier",
    "ConvNet",
    "check_dims",
    "nesting_dims",
    "truncate",
    "encode",
    "random_crop_flip",
    "seed_everything",
    "train",
]
