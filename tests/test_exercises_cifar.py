"""Notebook 01's checker (the PCA projection) passes correct solutions and names the usual mistakes."""

import pytest
import torch

from mrl_lab.lab.exercises import check_pca_projection


def unfinished(train, test, d):
    raise NotImplementedError


def svd_pca(train, test, d):
    mean = train.mean(dim=0)
    vh = torch.linalg.svd(train - mean, full_matrices=False).Vh
    return (train - mean) @ vh[:d].T, (test - mean) @ vh[:d].T


def lowrank_pca(train, test, d):
    mean = train.mean(dim=0)
    v = torch.pca_lowrank(train, q=train.shape[1], center=True)[2]
    return (train - mean) @ v[:, :d], (test - mean) @ v[:, :d]


def eigh_pca(train, test, d, reverse=True):
    mean = train.mean(dim=0)
    centred = train - mean
    vectors = torch.linalg.eigh(centred.T @ centred).eigenvectors  # ascending eigenvalues
    top = vectors.flip(1)[:, :d] if reverse else vectors[:, :d]
    return centred @ top, (test - mean) @ top


def flipped(train, test, d):
    a, b = svd_pca(train, test, d)
    sign = torch.tensor([(-1.0) ** i for i in range(d)])
    return a * sign, b * sign


def svd(z):
    return torch.linalg.svd(z, full_matrices=False)


def own_mean(train, test, d):
    a, _ = svd_pca(train, test, d)
    vh = svd(train - train.mean(dim=0)).Vh
    return a, (test - test.mean(dim=0)) @ vh[:d].T


def fit_on_test(train, test, d):
    a, _ = svd_pca(train, test, d)
    centred = test - test.mean(dim=0)
    return a, centred @ svd(centred).Vh[:d].T


def uncentred(train, test, d):
    vh = svd(train).Vh
    return train @ vh[:d].T, test @ vh[:d].T


def uncentred_projection(train, test, d):
    vh = svd(train - train.mean(dim=0)).Vh
    return train @ vh[:d].T, test @ vh[:d].T


def vh_columns(train, test, d):
    mean = train.mean(dim=0)
    vh = svd(train - mean).Vh
    return (train - mean) @ vh[:, :d], (test - mean) @ vh[:, :d]


def u_columns(train, test, d):
    u, _, vh = svd(train - train.mean(dim=0))
    return u[:, :d], (test - train.mean(dim=0)) @ vh[:d].T


def u_as_directions(train, test, d):
    u = svd(train - train.mean(dim=0)).U
    return (train - train.mean(dim=0)) @ u[:, :d], (test - train.mean(dim=0)) @ u[:, :d]


def vh_untransposed(train, test, d):
    mean = train.mean(dim=0)
    vh = svd(train - mean).Vh
    return (train - mean) @ vh[:d], (test - mean) @ vh[:d]


def reversed_order(train, test, d):
    a, b = svd_pca(train, test, d)
    return a.flip(1), b.flip(1)


def in_place(train, test, d):
    mean = train.mean(dim=0)
    train -= mean
    test -= mean
    vh = svd(train).Vh
    return train @ vh[:d].T, test @ vh[:d].T


def reconstruction(train, test, d):
    mean = train.mean(dim=0)
    vh = svd(train - mean).Vh[:d]
    return (train - mean) @ vh.T @ vh + mean, (test - mean) @ vh.T @ vh + mean


@pytest.mark.parametrize("solution", [svd_pca, lowrank_pca, eigh_pca, flipped])
def test_a_correct_projection_passes_whatever_the_signs(solution, capsys):
    assert check_pca_projection(solution) is True
    assert capsys.readouterr().out.startswith("pca_projection: correct.")


@pytest.mark.parametrize(
    "attempt, hint",
    [
        (unfinished, "Replace `raise NotImplementedError`"),
        (lambda train, test, d: None, "It returned None"),
        (uncentred, "It does not centre"),
        (uncentred_projection, "projects uncentred ones"),
        (own_mean, "centred with their own mean"),
        (fit_on_test, "fitted both the mean and the directions on the test set"),
        (vh_columns, "columns of Vh"),
        (u_columns, "U's columns"),
        (u_as_directions, "the wrong singular vectors"),
        (vh_untransposed, "Vh[:d] untransposed"),
        (lambda train, test, d: eigh_pca(train, test, d, reverse=False), "smallest-variance directions"),
        (reversed_order, "reverse order"),
        (in_place, "in place"),
        (reconstruction, "reconstruction in the original dims"),
        (lambda train, test, d: svd_pca(train, test, d)[1], "one tensor"),
        (lambda train, test, d: "projected", "a pair of tensors"),
        (lambda train, test, d: (svd_pca(train, test, d)[0], svd_pca(train, test, d + 1)[1]), "expected (20,"),
        (lambda train, test, d: (svd_pca(train, test, d)[0], 2 * svd_pca(train, test, d)[1]), "test one is not"),
        (lambda train, test, d: tuple(2 * x for x in svd_pca(train, test, d)), "differ from the package's PCA"),
    ],
)
def test_a_wrong_projection_fails_with_a_hint(attempt, hint, capsys):
    assert check_pca_projection(attempt) is False
    line = capsys.readouterr().out
    assert line.startswith("pca_projection: not yet.") and hint in line, line


def test_a_shape_error_from_vh_untransposed_does_not_blame_u(capsys):
    assert check_pca_projection(vh_untransposed) is False
    line = capsys.readouterr().out
    assert "raised RuntimeError" in line and "U has one row" not in line, line


def test_a_bug_in_the_attempt_is_reported_not_raised(capsys):
    assert check_pca_projection(lambda train, test, d: 1 / 0) is False
    assert "raised ZeroDivisionError" in capsys.readouterr().out
