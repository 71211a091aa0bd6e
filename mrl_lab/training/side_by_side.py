"""Training several small models at once on a CPU: one in this process, the others each in a worker process."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from queue import Empty

import torch
from tqdm.auto import tqdm

from mrl_lab.core.checks import check_callable, check_count
from mrl_lab.runtime.memory import give_freed_memory_back


def train_side_by_side(train, settings, data, methods: list[str], processes: int, steps: int, progress=True) -> None:
    """Train the models of ``methods`` into the model cache side by side, ``processes`` at a time, on the CPU.

    Small networks keep one core per model busier than two cores on one model
    (``benchmarks/cifar10.py --all --processes 2`` prints the images per second). This process trains
    every ``processes``-th model itself and ``processes - 1`` worker processes train the others: each
    process holds its own copy of PyTorch and the lab (about a quarter of a GB) beside its model's
    activations, so doing one share here keeps one such copy out of memory. Every model trains with an
    equal share of PyTorch's threads, in a worker or here, so it gets the same weights either way.
    Each call is ``train(settings, data, method, device="cpu", retrain=True, progress=report)``: an
    experiment's own ``train``, a module-level function, given plain values. The workers report their
    progress here, where it is drawn as one bar per model (``steps`` each). The workers are fresh
    interpreters ("spawn": safe with threads, Jupyter and macOS), so a script must call this under
    ``if __name__ == "__main__":``. A worker's error is raised here.
    """
    check_callable(train, "train", "train_side_by_side", "mrl_lab.experiments.cifar.train")
    check_count(processes, "processes", "train_side_by_side")
    threads = max(1, torch.get_num_threads() // processes)
    here = methods[::processes]
    elsewhere = [m for m in methods if m not in here]
    context = multiprocessing.get_context("spawn")
    reports = context.Queue()  # the workers' progress
    give_freed_memory_back()  # the workers need memory of their own: hand back what this process no longer uses
    if progress:
        print(f"training {len(methods)} models, {processes} at a time: {len(here)} in this process, "
              f"{len(elsewhere)} in worker processes")  # fmt: skip
    board = _Board(methods, here, steps, progress)
    workers = max(1, min(processes - 1, len(elsewhere)))  # (a pool starts no process before a model is given it)
    with ProcessPoolExecutor(workers, context, _start_worker, (reports, threads)) as pool:
        futures = [pool.submit(_train_in_worker, train, settings, data, method) for method in elsewhere]
        with _torch_threads(threads):
            for method in here:  # each step draws this model's bar and the workers' latest reports
                train(settings, data, method, device="cpu", retrain=True, progress=board.reporter(method, reports))
        give_freed_memory_back()  # what training here freed
        board.follow(futures, reports)


_reports = None  # in a worker process: the queue its progress goes to (set by _start_worker)


def _start_worker(reports, threads: int) -> None:
    global _reports
    _reports = reports
    torch.set_num_threads(threads)


@contextmanager
def _torch_threads(n: int):
    """Within the block, PyTorch in this process uses ``n`` threads (then again as many as before)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train_in_worker(train, settings, data, method: str) -> None:
    last = [0.0]

    def report(step, total, line):  # every epoch's line, and the step count at most twice a second
        if line is not None or step == total or time.monotonic() - last[0] > 0.5:
            last[0] = time.monotonic()
            _reports.put((method, step, total, line))

    train(settings, data, method, device="cpu", retrain=True, progress=report)  # it saves the model in the cache


class _Board:
    """One progress bar per model, fed by the models trained here and by the workers' reports."""

    def __init__(self, methods: list[str], here: list[str], steps: int, progress: bool):
        where = {m: "in this process" if m in here else "in a worker" for m in methods}
        self.bars = {m: tqdm(total=steps, desc=f"{m} ({where[m]})", disable=not progress) for m in methods}

    def draw(self, method: str, step: int, total: int, line: str | None) -> None:
        self.bars[method].update(step - self.bars[method].n)
        if line is not None:
            self.bars[method].write(f"{method}: {line}")

    def reporter(self, method: str, reports):
        """A ``report`` function for a model trained in this process: its own bar, then the workers' reports."""

        def report(step, total, line):
            self.draw(method, step, total, line)
            while True:  # whatever the workers reported meanwhile, without waiting
                try:
                    self.draw(*reports.get_nowait())
                except Empty:
                    return

        return report

    def follow(self, futures: list, reports) -> None:
        """Draw the workers' reports until all are done; then re-raise any worker's error."""
        pending = set(futures)
        while True:
            try:  # wait for a report, at most half a second
                self.draw(*reports.get(timeout=0.5))
            except Empty:
                pending = {f for f in pending if not f.done()}
                if not pending:
                    break
        for bar in self.bars.values():
            bar.close()
        for future in futures:
            future.result()  # re-raises a worker's error here
