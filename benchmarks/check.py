"""Benchmark ``python -m mrl_lab check`` on vectors already encoded: the whole command, and its parts.

    python benchmarks/check.py                       # 10,000 MiniLM vectors of 384 dims, cpu settings
    python benchmarks/check.py --rows 2000 --budget smoke

The vectors are all-MiniLM-L6-v2's embeddings of AG News texts (every row the loader has: descriptions,
then titles, each text once, as many as ``--rows``), encoded once and cached, then saved as a ``.npy``
with their texts. The command then runs as a user would run it, in a process of its own, with no
queries given (so 1,000 corpus rows become the queries at ``cpu``); its wall time includes starting
Python and importing torch. The parts (loading, PCA and the adaptor, the grid) are timed in this process.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mrl_lab.data.locate import find_encoder, fingerprint
from mrl_lab.data.text import load_ag_news
from mrl_lab.experiments import check, pretrained
from mrl_lab.models.sentence_encoder import load_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="vectors in the corpus (default 10,000)")
    parser.add_argument("--budget", default="cpu", choices=["smoke", "cpu", "gpu"], help="the check's settings row")
    args = parser.parse_args()
    news = load_ag_news()
    parts = (news.train, news.val, news.test)
    texts = [" ".join(t.split()) for p in parts for t in p.descriptions] + [" ".join(t.split()) for p in parts
                                                                           for t in p.titles]  # fmt: skip
    texts = list(dict.fromkeys(texts))[: args.rows]  # no text twice: a duplicate would be its own neighbour
    if len(texts) < args.rows:
        raise SystemExit(f"only {len(texts):,} distinct AG News texts here; pass --rows {len(texts)}")
    folder = find_encoder()
    model = load_encoder(folder, check.settings(args.budget).max_tokens)
    vectors = pretrained.embed(model, texts, f"check-bench-{fingerprint(folder)}")
    print(f"{len(texts):,} texts, {vectors.shape[1]} dims, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        npy, txt = Path(tmp) / "vectors.npy", Path(tmp) / "texts.txt"
        np.save(npy, vectors.numpy())
        txt.write_text("".join(t + "\n" for t in texts))
        env = dict(os.environ, MRL_LAB_BUDGET=args.budget)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "mrl_lab", "check", str(npy), "--corpus", str(txt), "--out",
                               str(Path(tmp) / "out")], env=env, capture_output=True, text=True)  # fmt: skip
        whole = time.perf_counter() - started
        if done.returncode:
            raise SystemExit(f"the check failed ({done.returncode}): {done.stderr[-2000:]}")
        print("\n".join(line for line in done.stdout.splitlines()[:8]))
        print(f"\nwhole command (its own process, imports included): {whole:.1f} s")
        settings = check.settings(args.budget)
        parts, started = {}, time.perf_counter()
        data = check.load_data(settings, npy, txt, progress=False)
        parts["read the files"] = time.perf_counter() - started
        started = time.perf_counter()
        check.method_vectors(settings, data, progress=False)
        parts["fit PCA and the adaptor"] = time.perf_counter() - started
        started = time.perf_counter()
        table = check.evaluate(settings, data, progress=False)
        parts["evaluate (fits included), every size x precision x re-score"] = time.perf_counter() - started
        for what, seconds in parts.items():
            print(f"  {what:62s} {seconds:6.1f} s")
        print(f"  rows in the table: {len(table)}; goal: the whole command under 60 s on 2 cores")


if __name__ == "__main__":
    main()
