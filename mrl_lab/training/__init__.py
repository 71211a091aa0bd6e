"""Training: the trainer (one plain loop), image augmentation, the model cache keyed on an
experiment's settings, models trained side by side on a CPU, and the same trainer under torchrun."""

from mrl_lab.training.augment import random_crop_flip
from mrl_lab.training.trainer import TrainLog, TrainSettings, encode, seed_everything, train

__all__ = ["random_crop_flip", "TrainLog", "TrainSettings", "encode", "seed_everything", "train"]
