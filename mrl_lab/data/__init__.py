"""The lab's real datasets (CIFAR-10/100, AG News, STS-B), the text tokenizer, and where files are
found: ``root=``, then ``$MRL_LAB_DATA``, then the cache, then a download."""

from mrl_lab.data.catalog import locate_datasets
from mrl_lab.data.images import ImageData, load_cifar10, load_cifar100
from mrl_lab.data.locate import DataNotFoundError, find_encoder
from mrl_lab.data.text import SentencePairs, TextData, load_ag_news, load_sts_benchmark
from mrl_lab.data.tokenizer import Tokenizer

__all__ = [
    "locate_datasets", "ImageData", "load_cifar10", "load_cifar100", "DataNotFoundError", "find_encoder",
    "SentencePairs", "TextData", "load_ag_news", "load_sts_benchmark", "Tokenizer",
]  # fmt: skip
