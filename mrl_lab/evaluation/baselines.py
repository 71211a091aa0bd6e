"""Post-hoc baselines that shorten a normal model's vectors after training."""

from __future__ import annotations

import torch

from mrl_lab.core.checks import check_count, check_embeddings, check_fitted


class PCA:
    """Principal components of training embeddings, to shorten vectors after training.

    The usual alternative to MRL: fit once on the training set, then keep the first ``d``
    components. It needs the fitted matrix at query time and, unlike MRL, cannot change how the
    network spreads information. Wraps scikit-learn's exact (full SVD) PCA.

    Args:
        n_components: components to fit (the largest size you will ask for); default all.

    Example:
        >>> _ = torch.manual_seed(0); z = torch.randn(100, 16)
        >>> pca = PCA().fit(z)
        >>> pca.transform(z, 4).shape
        torch.Size([100, 4])
        >>> bool(pca.explained_variance_ratio[:4].sum() > 4 / 16)
        True
    """

    def __init__(self, n_components: int | None = None):
        self.n_components = None if n_components is None else check_count(n_components, "n_components", "PCA")
        self._pca = None

    def fit(self, train_z: torch.Tensor) -> PCA:
        from sklearn.decomposition import PCA as SklearnPCA

        check_embeddings(train_z, "PCA.fit: train_z")
        if len(train_z) < 2:
            raise ValueError(f"PCA.fit: train_z has {len(train_z)} row; variance needs at least 2 rows")
        if self.n_components is not None:  # as many components as the rows and dims of train_z allow
            check_count(self.n_components, "n_components", "PCA.fit", high=min(train_z.shape))
        self._pca = SklearnPCA(n_components=self.n_components, svd_solver="full").fit(train_z.double().numpy())
        return self

    @property
    def explained_variance_ratio(self) -> torch.Tensor:
        """Share of the training embeddings' variance along each component."""
        fitted = check_fitted(self._pca, "PCA.explained_variance_ratio", "call fit(train_embeddings) first")
        return torch.from_numpy(fitted.explained_variance_ratio_)

    def transform(self, z: torch.Tensor, d: int) -> torch.Tensor:
        """Project ``z`` on the first ``d`` components (float32)."""
        check_fitted(self._pca, "PCA.transform", "call fit(train_embeddings) first")
        check_embeddings(z, "PCA.transform: z")
        if z.shape[1] != len(self._pca.mean_):
            raise ValueError(f"PCA.transform: z has {z.shape[1]} features but PCA was fitted on {len(self._pca.mean_)}")
        width = self._pca.n_components_
        check_count(d, "d", "PCA.transform")
        if d > width:
            raise ValueError(f"PCA.transform: d={d} is outside 1..{width} (the fitted components)")
        centred = z.double() - torch.from_numpy(self._pca.mean_)
        return (centred @ torch.from_numpy(self._pca.components_[:d]).T).float()


def pca_rotation(fit_on: torch.Tensor):
    """PCA of frozen embeddings as a function ``z -> z`` centred on ``fit_on``'s mean and rotated onto
    all components, best first.

    Cutting the rotated vector to ``d`` and re-normalising equals projecting on the first ``d``
    components: so PCA, like every other method here, becomes "a vector you cut". The centring is
    PCA's own; it moves cosine similarities a little, so even at full width the result is not
    exactly the input's.
    """
    pca = PCA().fit(fit_on)
    width = min(fit_on.shape)  # fewer rows than dims (the smoke budget) give only as many components
    return lambda z: pca.transform(z, width)
