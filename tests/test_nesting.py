import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mrl_lab.core.checks import check_dims
from mrl_lab.core.nesting import dense_grid, nesting_dims, truncate


def test_nesting_dims_halves_down_to_the_smallest_size():
    assert nesting_dims(512) == [8, 16, 32, 64, 128, 256, 512]
    assert nesting_dims(384) == [12, 24, 48, 96, 192, 384]
    assert nesting_dims(2048) == [8, 16, 32, 64, 128, 256, 512, 1024, 2048]
    assert nesting_dims(256, smallest=2) == [2, 4, 8, 16, 32, 64, 128, 256]
    assert nesting_dims(100) == [25, 50, 100]  # stops where halving leaves whole numbers
    assert nesting_dims(8) == [8]


@given(st.integers(1, 4096), st.integers(1, 64))
def test_nesting_dims_is_a_valid_nesting_list(full_dim, smallest):
    if smallest > full_dim:
        with pytest.raises(ValueError, match=str(smallest)):
            nesting_dims(full_dim, smallest)
        return
    dims = nesting_dims(full_dim, smallest)
    assert dims[-1] == full_dim and dims[0] >= smallest
    assert check_dims(dims, full_dim) == dims
    assert all(b == 2 * a for a, b in zip(dims, dims[1:]))


@pytest.mark.parametrize("bad", [0, -4, 2.5, True])
def test_nesting_dims_rejects_bad_widths(bad):
    with pytest.raises((ValueError, TypeError), match=str(bad)):
        nesting_dims(bad)


def test_truncate_keeps_the_prefix_and_renormalises():
    x = torch.tensor([[3.0, 4.0, 12.0], [1.0, 0.0, 5.0]])
    assert torch.allclose(truncate(x, 2), torch.tensor([[0.6, 0.8], [1.0, 0.0]]))
    assert torch.equal(truncate(x, 2, normalize=False), x[:, :2])
    assert torch.equal(truncate(x, 3, normalize=False), x)


@given(st.integers(1, 32), st.integers(0, 2**31 - 1))
def test_truncated_vectors_have_unit_length(d, seed):
    x = torch.randn(5, 32, generator=torch.Generator().manual_seed(seed))
    assert torch.allclose(truncate(x, d).norm(dim=-1), torch.ones(5), atol=1e-5)


def test_truncate_works_on_any_leading_shape():
    assert truncate(torch.randn(2, 3, 16), 4).shape == (2, 3, 4)


@pytest.mark.parametrize("d", [0, -1, 17])
def test_truncate_outside_the_width_names_the_value(d):
    with pytest.raises(ValueError, match=rf"d={d} is outside 1\.\.16"):
        truncate(torch.randn(2, 16), d)


def test_truncate_rejects_non_int_sizes_and_non_tensors():
    with pytest.raises(TypeError, match="2.0"):
        truncate(torch.randn(2, 16), 2.0)
    with pytest.raises(TypeError, match="list"):
        truncate([[1.0, 2.0]], 1)


@pytest.mark.parametrize(
    "dims, message",
    [
        ([16, 8, 32], r"must increase; got \[16, 8, 32\] \(16 before 8\)"),
        ([8, 8, 16], "8 is repeated"),
        ([0, 8], "got 0"),
        ([-8, 8], "got -8"),
        ([8, 64], "64 is wider than the embedding"),
        ([], "empty"),
    ],
)
def test_check_dims_names_the_bad_size(dims, message):
    with pytest.raises(ValueError, match=message):
        check_dims(dims, full_dim=32)


def test_check_dims_rejects_non_integers():
    with pytest.raises(TypeError, match="8.0"):
        check_dims([8.0, 16])


def test_dense_grid_covers_every_small_size():
    assert dense_grid(256)[:64] == list(range(1, 65)) and dense_grid(256)[-1] == 256
