"""Command line: ``python -m mrl_lab doctor`` and ``python -m mrl_lab train cifar|text``.

``train`` fills the model cache with an experiment's models at the budget in ``MRL_LAB_BUDGET``,
so the notebooks then load them. Started by ``torchrun``, it trains each model on all the
processes together (see :mod:`mrl_lab.distributed`), e.g. on two GPUs::

    MRL_LAB_BUDGET=gpu torchrun --standalone --nproc_per_node 2 -m mrl_lab train cifar
"""

import argparse
import sys

from . import cifar, text
from .budget import get_budget
from .data import load_ag_news
from .distributed import is_main, start_from_env
from .doctor import report


def train(experiment: str, only: list[str] | None, retrain: bool) -> None:
    """Train (or find in the cache) the models of one experiment, on this process's device."""
    device, budget = start_from_env(), get_budget()
    if experiment == "cifar":
        config = cifar.experiment_config(budget)
        train_set, _ = cifar.load_data(config, budget)
        models = cifar.train_models(config, train_set, device=device, retrain=retrain, only=only)
    else:
        news = load_ag_news()
        train_set, config, tok = text.setup(budget, news)
        models = text.train_models(config, train_set, tok, device=device, retrain=retrain, only=only)
    if is_main():
        for name, (_, meta) in models.items():
            done = "found in the cache" if meta["cached"] else f"trained in {meta['seconds']:.0f} s"
            print(f"{experiment} {name}: {done} (budget {budget.name}, device {device})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mrl_lab", description="mrl-lab helpers")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="versions, device, budget and which datasets were found where")
    trainer = sub.add_parser("train", help="train an experiment's models into the cache (torchrun: on all processes)")
    trainer.add_argument("experiment", choices=["cifar", "text"])
    trainer.add_argument("--only", nargs="+", help="just these models, e.g. MRL normal")
    trainer.add_argument("--retrain", action="store_true", help="train even if the cache has the model")
    args = parser.parse_args(argv)
    if args.command == "train":
        train(args.experiment, args.only, args.retrain)
        return 0
    text_report, ok = report()
    print(text_report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
