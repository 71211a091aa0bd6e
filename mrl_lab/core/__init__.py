"""The method itself: nesting sizes, ``truncate``, the Matryoshka loss, the MRL / MRL-E heads and
InfoNCE. It imports torch and the standard library only; read it in one sitting."""

from mrl_lab.core.contrastive import InfoNCE
from mrl_lab.core.heads import MRLHead
from mrl_lab.core.loss import MatryoshkaLoss
from mrl_lab.core.nesting import dense_grid, nesting_dims, truncate

__all__ = ["InfoNCE", "MRLHead", "MatryoshkaLoss", "dense_grid", "nesting_dims", "truncate"]
