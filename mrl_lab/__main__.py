"""``python -m mrl_lab doctor`` and ``python -m mrl_lab train cifar|text``: see :mod:`mrl_lab.cli`."""

import sys

from mrl_lab.cli import main

if __name__ == "__main__":
    sys.exit(main())
