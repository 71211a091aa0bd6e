"""Training several small models at once on a CPU, each in its own process."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from queue import Empty

import torch
from tqdm.auto import tqdm

from mrl_lab.core.checks import check_callable, check_count
from mrl_lab.runtime.memory import give_freed_memory_back


def train_side_by_side(train, settings, data, methods: list[str], processes: int, steps: int, progress=True) -> None:
    """Train the models of ``methods`` into the model cache side by side, each in its own process, on the CPU.

    Small networks keep one core per model busier than two cores on one model
    (``benchmarks/cifar10.py --all --processes 2`` prints the images per second). Each worker
    calls ``train(settings, data, method, device="cpu", retrain=True, progress=report)``: an
    experiment's own ``train``, a module-level function, given plain values. Each worker gets an
    equal share of PyTorch's threads and reports its progress here, where it is drawn as one bar
    per model (``steps`` each). The workers are fresh interpreters ("spawn": safe with threads,
    Jupyter and macOS), so a script must call this under ``if __name__ == "__main__":``. A
    worker's error is raised here.
    """
    check_callable(train, "train", "train_side_by_side", "mrl_lab.experiments.cifar.train")
    check_count(processes, "processes", "train_side_by_side")
    threads = max(1, torch.get_num_threads() // processes)
    context = multiprocessing.get_context("spawn")
    reports = context.Queue()  # the workers' progress
    give_freed_memory_back()  # the workers need memory of their own: hand back what this process no longer uses
    if progress:
        print(f"training {len(methods)} models, {processes} at a time in worker processes")
    with ProcessPoolExecutor(processes, context, _start_worker, (reports, threads)) as pool:
        futures = [pool.submit(_train_in_worker, train, settings, data, method) for method in methods]
        _follow(futures, reports, methods, steps, progress)


_reports = None  # in a worker process: the queue its progress goes to (set by _start_worker)


def _start_worker(reports, threads: int) -> None:
    global _reports
    _reports = reports
    torch.set_num_threads(threads)


def _train_in_worker(train, settings, data, method: str) -> None:
    last = [0.0]

    def report(step, total, line):  # every epoch's line, and the step count at most twice a second
        if line is not None or step == total or time.monotonic() - last[0] > 0.5:
            last[0] = time.monotonic()
            _reports.put((method, step, total, line))

    train(settings, data, method, device="cpu", retrain=True, progress=report)  # it saves the model in the cache


def _follow(futures: list, reports, methods: list[str], steps: int, progress: bool) -> None:
    """Draw one progress bar per model from the workers' reports until all are done; re-raise any error."""
    bars = {m: tqdm(total=steps, desc=f"{m} (in a worker)", disable=not progress) for m in methods}
    pending = set(futures)
    while True:
        try:  # wait for a report, at most half a second
            method, step, total, line = reports.get(timeout=0.5)
            bars[method].update(step - bars[method].n)
            if line is not None:
                bars[method].write(f"{method}: {line}")
        except Empty:
            pending = {f for f in pending if not f.done()}
            if not pending:
                break
    for bar in bars.values():
        bar.close()
    for future in futures:
        future.result()  # re-raises a worker's error here
