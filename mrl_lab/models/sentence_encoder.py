"""A pretrained sentence-transformers encoder as a plain module the lab's trainer can fine-tune."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from mrl_lab.core.checks import check_embeddings


def load_encoder(folder: Path, max_tokens: int, device="cpu"):
    """The sentence-transformers model in ``folder``, cutting texts at ``max_tokens`` tokens."""
    from sentence_transformers import SentenceTransformer

    if not (Path(folder) / "modules.json").is_file():
        raise FileNotFoundError(f"load_encoder: {folder} holds no sentence-transformers model (no modules.json); "
                                "pass the folder that mrl_lab.data.find_encoder() returns")  # fmt: skip
    with quiet_loading():
        model = SentenceTransformer(str(folder), device=str(device))
    model.max_seq_length = max_tokens
    return model


@contextmanager
def quiet_loading():
    """Load a model without transformers' unlabelled "Loading weights" bar (one per load, and a notebook loads
    several); the lab's own bars say what is trained or embedded. The bar setting is restored afterwards."""
    from transformers.utils import logging

    was = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            logging.enable_progress_bar()


def preprocess(model, texts: list[str]) -> dict:
    """``model``'s input features (token ids, attention mask) for ``texts``: sentence-transformers >= 6 calls this
    ``preprocess`` (its ``tokenize`` warns that it is deprecated), older versions ``tokenize``."""
    return (getattr(model, "preprocess", None) or model.tokenize)(texts)


class SentenceEncoder(nn.Module):
    """A sentence-transformers model as a plain module: token ids ``(B, L)`` in (0 = padding), embeddings out.

    The lab's trainer feeds tensors; this wrapper turns a batch of padded ids back into what the
    model expects (ids and attention mask, cut to the batch's longest text) and returns its
    ``sentence_embedding`` (mean-pooled, unit length for all-MiniLM-L6-v2).
    """

    def __init__(self, model):
        super().__init__()
        if not hasattr(model, "tokenizer"):
            raise TypeError(
                f"SentenceEncoder: model={model!r} has no tokenizer; pass a SentenceTransformer (load_encoder)"
            )
        self.model = model
        self.pad = model.tokenizer.pad_token_id

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = ids != self.pad
        length = int(mask.sum(dim=1).max())
        features = {"input_ids": ids[:, :length], "attention_mask": mask[:, :length].long()}
        return self.model(features)["sentence_embedding"]


def token_ids(model, texts: list[str], max_tokens: int) -> torch.Tensor:
    """``(N, max_tokens)`` token ids of ``texts`` by ``model``'s tokenizer, cut and padded (with its pad id, 0)."""
    return model.tokenizer(texts, padding="max_length", truncation=True, max_length=max_tokens,
                           return_tensors="pt")["input_ids"]  # fmt: skip


def pca_start(fit_on: torch.Tensor) -> list[nn.Module]:
    """Two sentence-transformers modules to append to an encoder so that it starts with its dims in PCA's order.

    A linear layer centres the encoder's (unit) output on ``fit_on``'s mean and rotates it onto
    ``fit_on``'s principal directions, best first; a ``Normalize`` makes it unit length again. So
    before any training, cutting the model's output to ``d`` dims is PCA's ``d``-dim projection
    (fitted on ``fit_on``), and at full width nothing is lost: a rotation keeps every distance, and
    only the centring moves cosine similarities a little, as PCA's does. The layer then trains with
    the rest of the model. A short fine-tune need not discover an order from a model that has
    none; it starts from the one PCA gives and improves on it.

    Args:
        fit_on: ``(N, D)`` embeddings by the frozen encoder of text like the corpus (the lab uses
            the training descriptions, never the searched corpus). With fewer rows than dims the
            directions beyond the data's are any orthonormal completion, so the output keeps ``D`` dims.

    Example:
        >>> z = torch.nn.functional.normalize(torch.randn(50, 8), dim=1)
        >>> dense, norm = pca_start(z)
        >>> out = norm(dense({"sentence_embedding": z}))["sentence_embedding"]
        >>> out.shape, bool(torch.allclose(out.norm(dim=1), torch.ones(50)))
        (torch.Size([50, 8]), True)
    """
    try:  # sentence-transformers >= 6 moved the modules; older versions keep them here
        from sentence_transformers.sentence_transformer.modules import Dense, Normalize
    except ImportError:
        from sentence_transformers.models import Dense, Normalize

    check_embeddings(fit_on, "pca_start: fit_on")
    if len(fit_on) < 2:
        raise ValueError(f"pca_start: fit_on has {len(fit_on)} row; PCA needs at least 2 rows")
    mean = fit_on.double().mean(dim=0)
    # the rows of vh are the principal directions, best first (a full basis even when N < D)
    _, _, vh = torch.linalg.svd(fit_on.double() - mean, full_matrices=True)
    width = fit_on.shape[1]
    dense = Dense(width, width, bias=True, activation_function=nn.Identity(), init_weight=vh.float(),
                  init_bias=-(vh @ mean).float())  # fmt: skip
    return [dense, Normalize()]


def checkpoint_activations(model: nn.Module) -> None:
    """Keep only each transformer layer's input during the forward pass and recompute the rest
    during the backward pass (Hugging Face's activation checkpointing): the same gradients, with
    dropout's random numbers replayed, for less memory and slower steps (compare
    ``benchmarks/pretrained_text.py --set checkpointing=True``)."""
    from transformers import PreTrainedModel

    bert = next(m for m in model.modules() if isinstance(m, PreTrainedModel))  # the transformer inside
    kwargs = {"use_reentrant": False}  # gradients reach every layer, even when the embeddings are frozen
    if hasattr(bert, "activation_checkpointing_enable"):  # transformers >= 5
        bert.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        bert.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
