"""Serving a Matryoshka prefix: funnel search in torch (a short prefix, then re-rank), FAISS indexes
built on the prefix and measured against exact search, and the confidence cascade over
classification heads (``mrl_lab.serving.cascade``)."""

from mrl_lab.serving.ann import (
    DATABASES,
    PrefixIndex,
    best_at,
    clustered_like,
    describe_best,
    latency,
    local_dimension,
    serving_table,
)
from mrl_lab.serving.funnel import AdaptiveIndex

__all__ = [
    "DATABASES", "PrefixIndex", "best_at", "clustered_like", "describe_best", "latency", "local_dimension",
    "serving_table", "AdaptiveIndex",
]  # fmt: skip
