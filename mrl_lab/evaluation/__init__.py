"""Measuring embeddings at every size: exact search, k-NN and head accuracy, recall@k, MRR, Spearman,
the recall check and the knee, bootstrap intervals, and the post-hoc baselines (PCA, quantization)."""

from mrl_lab.evaluation.baselines import PCA
from mrl_lab.evaluation.intervals import accuracy_interval
from mrl_lab.evaluation.metrics import (
    head_accuracy,
    knee,
    knn_accuracy,
    linear_probe_correct,
    recall_at_k,
    recall_check,
    spearman,
    topk_overlap,
)
from mrl_lab.evaluation.search import search

__all__ = [
    "PCA", "accuracy_interval", "head_accuracy", "knee", "knn_accuracy", "linear_probe_correct", "recall_at_k",
    "recall_check", "spearman", "topk_overlap", "search",
]  # fmt: skip
