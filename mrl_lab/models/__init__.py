"""The networks: a ResNet-9-style ConvNet for CIFAR, a small text encoder trained from scratch, a
pretrained sentence encoder wrapped for the trainer, and the Matryoshka-Adaptor."""

from mrl_lab.models.adaptor import MatryoshkaAdaptor
from mrl_lab.models.convnet import Classifier, ConvNet
from mrl_lab.models.pairs import PairEncoder, pair_ids
from mrl_lab.models.sentence_encoder import SentenceEncoder, load_encoder
from mrl_lab.models.text_encoder import TextEncoder

__all__ = [
    "MatryoshkaAdaptor", "Classifier", "ConvNet", "PairEncoder", "pair_ids", "SentenceEncoder", "load_encoder",
    "TextEncoder",
]  # fmt: skip
