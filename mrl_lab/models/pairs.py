"""Pairs of texts for in-batch contrastive training: their token ids, and one encoder applied to both sides."""

from __future__ import annotations

import torch
from torch import nn

from mrl_lab.core.checks import check_callable, check_tensor


class PairEncoder(nn.Module):
    """One encoder applied to both sides of a pair: ``(batch, 2, L)`` ids -> two ``(batch, D)`` tensors.

    Row ``i`` holds a title and its description; the outputs feed a contrastive loss such as
    ``MatryoshkaLoss(InfoNCE(), dims)``. Sharing one encoder puts titles, descriptions and any
    other text in one space.

    Example:
        >>> from mrl_lab.models.text_encoder import TextEncoder
        >>> pair = PairEncoder(TextEncoder(vocab_size=100, embed_dim=32, hidden=16))
        >>> a, b = pair(torch.randint(0, 100, (4, 2, 6)))
        >>> a.shape, b.shape
        (torch.Size([4, 32]), torch.Size([4, 32]))
    """

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, pairs: torch.Tensor):
        check_tensor(pairs, "PairEncoder: pairs", ("batch", 2, "L"))
        return self.encoder(pairs[:, 0]), self.encoder(pairs[:, 1])


def pair_ids(tokenize, data) -> torch.Tensor:
    """``(rows, 2, L)`` token ids: each row's title and description, tokenized together so both sides
    are padded to one length.

    Args:
        tokenize: ``list[str] -> (N, L)`` int64 ids, padded with 0 (e.g. ``Tokenizer.encode``, or
            :func:`~mrl_lab.models.sentence_encoder.token_ids` for a pretrained encoder).
        data: rows with ``titles`` and ``descriptions`` (a :class:`~mrl_lab.data.text.TextData`).

    Example:
        >>> from mrl_lab.data.text import TextData
        >>> tokenize = lambda texts: torch.tensor([[len(t), 0] for t in texts])
        >>> pair_ids(tokenize, TextData(["a", "bb"], ["ccc", "d"], torch.tensor([0, 1]))).tolist()
        [[[1, 0], [3, 0]], [[2, 0], [1, 0]]]
    """
    check_callable(tokenize, "tokenize", "pair_ids", "Tokenizer(...).fit(texts).encode")
    if not hasattr(data, "titles") or not hasattr(data, "descriptions"):
        raise TypeError(f"pair_ids: data must have titles and descriptions (a TextData); got {type(data).__name__}")
    if len(data.titles) == 0:
        raise ValueError("pair_ids: data has no rows; pass the TextData whose titles and descriptions are paired")
    ids = tokenize(data.titles + data.descriptions)
    return torch.stack([ids[: len(data)], ids[len(data) :]], dim=1)
