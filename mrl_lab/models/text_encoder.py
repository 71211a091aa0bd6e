"""A small text encoder trained from scratch: a bag of words and trigrams, then an MLP."""

from __future__ import annotations

import torch
from torch import nn

from mrl_lab.core.checks import check_count, check_indices, check_tensor


class TextEncoder(nn.Module):
    """A small text encoder: the mean of token embeddings, then a two-layer MLP.

    Token ids in (rows padded with 0, as :class:`~mrl_lab.data.tokenizer.Tokenizer` makes them), an
    ``embed_dim`` vector out. Word order is ignored (a "bag of words and trigrams"), which keeps it
    fast on a CPU; the MLP mixes the averaged features so that the output coordinates, unlike the
    bag's, can be ordered by importance when MRL asks for it.

    Args:
        vocab_size: rows of the embedding table (``Tokenizer.vocab_size``).
        embed_dim: width of the output embedding (the full nesting size).
        hidden: width of the bag of embeddings and of the MLP's hidden layer.

    References:
        Joulin et al., "Bag of Tricks for Efficient Text Classification" (fastText), 2017;
        Iyyer et al., "Deep Unordered Composition Rivals Syntactic Methods", 2015.

    Example:
        >>> enc = TextEncoder(vocab_size=100, embed_dim=32, hidden=16)
        >>> enc(torch.tensor([[5, 7, 0], [9, 0, 0]])).shape
        torch.Size([2, 32])
    """

    def __init__(self, vocab_size: int, embed_dim: int = 256, hidden: int = 512):
        super().__init__()
        self.embed_dim = check_count(embed_dim, "embed_dim", "TextEncoder")
        self.vocab_size = check_count(vocab_size, "vocab_size", "TextEncoder", low=2)  # padding and one token
        check_count(hidden, "hidden", "TextEncoder")
        self.bag = nn.EmbeddingBag(vocab_size, hidden, mode="mean", padding_idx=0)
        self.mlp = nn.Sequential(
            nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, embed_dim)
        )

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        check_tensor(ids, "TextEncoder: ids", ("batch", "L"))
        if ids.dtype != torch.long:
            raise TypeError(f"TextEncoder: token ids must be int64 (torch.long); got {ids.dtype}")
        check_indices(ids, self.vocab_size, "TextEncoder: ids", "rows of the embedding table (vocab_size)")
        return self.mlp(self.bag(ids))
