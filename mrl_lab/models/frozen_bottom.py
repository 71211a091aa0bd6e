"""Run the frozen bottom of a sentence encoder once per text, and only the layers above it per model.

A fine-tune that keeps the embeddings and the first ``n`` transformer layers frozen (notebook 03 at
``cpu``: 3 of 6) computes the same hidden states in them for a text at every step, and in every
model that starts from the same weights. So the lab runs that bottom once per text, in eval mode
(no dropout), keeps each text's hidden states, and runs only the layers above it to train and to
embed. The embeddings are the model's own to float rounding (``tests/test_pretrained.py`` checks
it). Training steps and embedding then cost only the layers above the bottom, so they are faster;
``benchmarks/pretrained_text.py`` prints the fine-tunes' time (``--set frozen_layers=0`` to compare).

The price is memory: the states of every text kept, ``tokens x 384`` floats each (no padding),
about 60 KB for a 39-token description.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from tqdm.auto import tqdm

from mrl_lab.core.checks import check_count
from mrl_lab.models.sentence_encoder import preprocess


class PassThrough(nn.Module):
    """Stands in for a transformer's embedding layer when its input already is hidden states."""

    def forward(self, inputs_embeds=None, **kwargs):
        return inputs_embeds


@contextmanager
def only_layers(bert: nn.Module, layers: slice, embeddings: bool):
    """Within the block, ``bert`` runs only ``layers`` of its transformer layers, after its embeddings
    (``embeddings=True``, fed token ids) or on hidden states given as ``inputs_embeds`` (``False``)."""
    saved = bert.embeddings, bert.encoder.layer
    bert.encoder.layer = saved[1][layers]
    if not embeddings:
        bert.embeddings = PassThrough()
    try:
        yield
    finally:
        bert.embeddings, bert.encoder.layer = saved


def transformer(st) -> nn.Module:
    """The Hugging Face transformer inside a sentence-transformers model (its first module)."""
    return st[0].auto_model


def bottom_states(
    st, n: int, texts: list[str], batch_size: int = 32, desc: str | None = None, dtype=torch.float32
) -> list[torch.Tensor]:
    """Each text's hidden states after the embeddings and the first ``n`` layers of ``st``'s transformer.

    Returns one ``(tokens, width)`` tensor per text (``dtype``, on the CPU), without padding; texts are
    cut at ``st.max_seq_length`` tokens, as ``st.encode`` cuts them.
    """
    bert, out = transformer(st), [None] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths together: less padding
    was_training = st.training
    st.eval()
    with torch.no_grad(), only_layers(bert, slice(0, n), embeddings=True):
        for start in tqdm(range(0, len(texts), batch_size), desc=desc, disable=desc is None, leave=False):
            rows = order[start : start + batch_size]
            features = preprocess(st, [texts[i] for i in rows])
            mask = features["attention_mask"]
            hidden = bert(input_ids=features["input_ids"].to(bert.device), attention_mask=mask.to(bert.device))
            for k, i in enumerate(rows):
                out[i] = hidden.last_hidden_state[k, : int(mask[k].sum())].to("cpu", dtype).clone()
    st.train(was_training)
    return out


def top_embeddings(st, n: int, states: list[torch.Tensor]) -> torch.Tensor:
    """Sentence embeddings ``(B, D)`` of texts given their :func:`bottom_states`: ``st``'s transformer
    layers from ``n`` up, then its pooling and whatever follows (normalisation, a rotation)."""
    bert = transformer(st)
    hidden = pad_sequence(states, batch_first=True).to(bert.device, torch.float32)
    mask = pad_sequence([torch.ones(len(h), dtype=torch.long) for h in states], batch_first=True).to(bert.device)
    with only_layers(bert, slice(n, None), embeddings=False):
        tokens = bert(inputs_embeds=hidden, attention_mask=mask).last_hidden_state
    features = {"token_embeddings": tokens, "attention_mask": mask}
    for module in list(st)[1:]:  # pooling, normalisation...
        features = module(features)
    return features["sentence_embedding"]


class SharedBottom:
    """The bottom states of texts, computed by the first model that needs them and kept for the others.

    Every model given to it must have the same frozen bottom (the same published weights, frozen).
    ``dtype``: how the states are kept; float16 halves their memory, and the layers above still
    compute in float32 (the lab keeps the training pairs' states so: rounding them changes a
    training step far less than dropout does; the texts it embeds stay float32, exact).
    """

    def __init__(self, n: int, dtype: torch.dtype = torch.float32):
        check_count(n, "n", "SharedBottom")  # a shared bottom needs at least one frozen layer
        self.n, self.dtype, self.kept = n, dtype, {}

    def states(self, st, texts: list[str], desc: str = "the frozen bottom, once per text") -> list[torch.Tensor]:
        key = (st.max_seq_length, hashlib.sha1("\n".join(texts).encode()).hexdigest())
        if key not in self.kept:
            self.kept[key] = bottom_states(st, self.n, texts, desc=desc, dtype=self.dtype)
        return self.kept[key]

    def encode(self, st, texts: list[str], batch_size: int = 32, progress: bool = True, desc: str = "embedding"
               ) -> torch.Tensor:  # fmt: skip
        """What ``st.encode(texts)`` returns (float32, CPU), running only the layers above the bottom; ``desc``
        names the progress bar."""
        states = self.states(st, texts)
        order = sorted(range(len(texts)), key=lambda i: -len(states[i]))  # similar lengths together
        was_training = st.training
        st.eval()
        with torch.no_grad():
            batches = tqdm(range(0, len(texts), batch_size), desc=desc, disable=not progress, leave=False)
            z = torch.cat([top_embeddings(st, self.n, [states[i] for i in order[b : b + batch_size]]).float().cpu()
                           for b in batches])  # fmt: skip
        st.train(was_training)
        out = torch.empty_like(z)
        out[order] = z  # back in the texts' order
        return out


class TopPairModel(nn.Module):
    """Rows ``(B,)`` of the training pairs -> two ``(B, D)`` embeddings (titles, descriptions), run from their
    bottom states (:meth:`use` gives them); ``encoder.model`` is the sentence-transformers model, as in
    :class:`~mrl_lab.models.pairs.PairEncoder`, so checkpoints hold the same weights."""

    def __init__(self, encoder: nn.Module, n: int, states: torch.dtype = torch.float32):
        super().__init__()
        self.encoder, self.n, self.states = encoder, n, states  # states: the dtype the bottom states are kept in
        self.titles = self.descriptions = None

    def use(self, titles: list[torch.Tensor], descriptions: list[torch.Tensor]) -> None:
        self.titles, self.descriptions = titles, descriptions

    def forward(self, rows: torch.Tensor):
        if self.titles is None:
            raise RuntimeError("TopPairModel: no bottom states yet; call use(titles, descriptions) first")
        rows, st = rows.tolist(), self.encoder.model
        return (top_embeddings(st, self.n, [self.titles[i] for i in rows]),
                top_embeddings(st, self.n, [self.descriptions[i] for i in rows]))  # fmt: skip

    def extra_repr(self) -> str:
        return f"runs layers {self.n} and up on bottom states kept in {self.states}"
