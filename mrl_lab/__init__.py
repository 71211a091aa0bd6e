"""mrl-lab: Matryoshka Representation Learning, taught by doing it.

This namespace holds the method as a plain script uses it; everything else is imported from the
subpackage that holds it (see ``docs/architecture.md``)::

    core/         the method: nesting sizes, truncate, MatryoshkaLoss, MRLHead, InfoNCE
    runtime/      budget and device, the cache folder, memory
    data/         CIFAR, AG News, STS-B, the tokenizer, where files are found
    models/       the ConvNet, the text encoders, the pretrained encoder, the Matryoshka-Adaptor
    training/     the trainer, the model cache, DDP
    evaluation/   search, metrics, bootstrap intervals, PCA, quantization
    serving/      funnel search, FAISS prefix indexes, the cascade
    experiments/  one module per experiment: settings, train, evaluate
    lab/          plotly charts, ipywidgets dashboards, exercise checkers (the only Jupyter-side code)

Nothing here imports Jupyter.
"""

__version__ = "0.1.0"

from mrl_lab.core.contrastive import InfoNCE
from mrl_lab.core.heads import MRLHead
from mrl_lab.core.loss import MatryoshkaLoss
from mrl_lab.core.nesting import nesting_dims, truncate
from mrl_lab.training.trainer import encode, train

__all__ = ["InfoNCE", "MRLHead", "MatryoshkaLoss", "nesting_dims", "truncate", "train", "encode"]
