"""Command line: ``python -m mrl_lab doctor``."""

import argparse
import sys

from .doctor import report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mrl_lab", description="mrl-lab helpers")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="versions, device, budget and which datasets were found where")
    parser.parse_args(argv)
    text, ok = report()
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
