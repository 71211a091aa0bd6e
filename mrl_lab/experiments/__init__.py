"""One module per experiment, each with the same parts: its settings table (one row per budget),
training cached on those settings, and evaluation. ``cifar`` (notebook 01), ``text`` (02, from
scratch), ``pretrained`` (03, a pretrained sentence encoder fine-tuned) and ``adaptor`` (the
Matryoshka-Adaptor on frozen embeddings)."""
