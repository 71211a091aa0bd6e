import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from mrl_lab.core.contrastive import InfoNCE
from mrl_lab.core.heads import MRLHead
from mrl_lab.core.loss import MatryoshkaLoss
from mrl_lab.core.nesting import truncate


def test_classification_loss_equals_the_weighted_sum_of_cross_entropies():
    torch.manual_seed(0)
    dims, weights = [4, 8, 16], [0.5, 1.0, 2.0]
    head = MRLHead(16, 5, dims)
    z, y = torch.randn(7, 16), torch.randint(0, 5, (7,))
    logits = head(z)
    by_hand = sum(w * F.cross_entropy(lg, y) for w, lg in zip(weights, logits))
    assert torch.allclose(MatryoshkaLoss(nn.CrossEntropyLoss(), dims, weights)(logits, y), by_hand)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 32), min_size=1, max_size=6, unique=True), st.data())
def test_loss_is_the_weighted_sum_for_any_nesting(dims, data):
    dims = sorted(dims)
    weights = data.draw(st.lists(st.floats(0, 10), min_size=len(dims), max_size=len(dims)).filter(any))  # not all 0
    head = MRLHead(32, 3, dims)
    z, y = torch.randn(4, 32), torch.randint(0, 3, (4,))
    logits = head(z)
    by_hand = sum(w * F.cross_entropy(lg, y) for w, lg in zip(weights, logits))
    got = MatryoshkaLoss(nn.CrossEntropyLoss(), dims, weights)(logits, y)
    assert torch.allclose(got, torch.as_tensor(by_hand, dtype=got.dtype), rtol=1e-5, atol=1e-6)


class Recorder(nn.Module):
    """A loss that remembers what it was given and returns a fixed value."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, *args):
        self.calls.append(args)
        return torch.tensor(1.0)


def test_embedding_loss_cuts_and_renormalises_every_full_width_tensor():
    rec = Recorder()
    a, b, labels = torch.randn(6, 32) * 3, torch.randn(6, 32), torch.arange(6)
    total = MatryoshkaLoss(rec, [4, 16, 32], weights=[1, 2, 3])(a, b, labels)
    assert total.item() == 6.0
    for d, (ta, tb, tl) in zip([4, 16, 32], rec.calls):
        assert torch.allclose(ta, truncate(a, d)) and torch.allclose(tb, truncate(b, d))
        assert torch.allclose(ta.norm(dim=1), torch.ones(6))
        assert torch.equal(tl, labels)  # labels pass through unchanged


def test_embedding_loss_equals_sum_of_infonce_on_prefixes():
    torch.manual_seed(0)
    a, b = torch.randn(8, 16), torch.randn(8, 16)
    info = InfoNCE(temperature=0.1)
    by_hand = sum(info(truncate(a, d), truncate(b, d)) for d in [4, 8, 16])
    assert torch.allclose(MatryoshkaLoss(info, [4, 8, 16])(a, b), by_hand)


def test_loss_at_size_d_sends_no_gradient_past_d():
    torch.manual_seed(0)
    # embeddings
    a, b = torch.randn(8, 16, requires_grad=True), torch.randn(8, 16)
    MatryoshkaLoss(InfoNCE(), [4])(a, b).backward()
    assert torch.all(a.grad[:, 4:] == 0) and a.grad[:, :4].abs().sum() > 0
    # classification, through both kinds of head
    for efficient in (False, True):
        z = torch.randn(8, 16, requires_grad=True)
        MatryoshkaLoss(nn.CrossEntropyLoss(), [4])(MRLHead(16, 3, [4], efficient)(z), torch.arange(8) % 3).backward()
        assert torch.all(z.grad[:, 4:] == 0) and z.grad[:, :4].abs().sum() > 0


def test_mrl_e_uses_one_weight_matrix_for_every_size():
    torch.manual_seed(0)
    dims = [2, 4, 8]
    head = MRLHead(8, 3, dims, efficient=True)
    z = torch.randn(5, 8)
    for d, logits in zip(dims, head(z)):  # one bias for every size, as in the paper's code
        assert torch.allclose(logits, z[:, :d] @ head.weight[:, :d].T + head.bias)
    shapes = {n: tuple(p.shape) for n, p in head.named_parameters()}
    assert shapes == {"weight": (3, 8), "bias": (3,)}
    before = head(z)
    with torch.no_grad():
        head.weight[:, 0] += 1.0  # column 0 is read by every size
    assert all(not torch.allclose(new, old) for new, old in zip(head(z), before))
    before = head(z)
    with torch.no_grad():
        head.weight[:, 5] += 1.0  # column 5 only by size 8
    assert [not torch.allclose(new, old) for new, old in zip(head(z), before)] == [False, False, True]


def test_mrl_head_has_one_linear_layer_per_size_reading_only_its_prefix():
    head = MRLHead(16, 4, [4, 8, 16])
    assert [layer.in_features for layer in head.heads] == [4, 8, 16]
    z = torch.randn(3, 16)
    z2 = z.clone()
    z2[:, 4:] = 99.0
    assert torch.allclose(head(z)[0], head(z2)[0])  # size 4 ignores everything past 4


def test_n_dims_per_step_samples_that_many_distinct_sizes_repeatably():
    rec = Recorder()
    loss = MatryoshkaLoss(rec, [2, 4, 8, 16], n_dims_per_step=2)
    torch.manual_seed(0)
    loss(torch.randn(3, 16))
    first = [c[0].shape[1] for c in rec.calls]
    assert len(first) == 2 and len(set(first)) == 2
    rec.calls.clear()
    torch.manual_seed(0)
    loss(torch.randn(3, 16))
    assert [c[0].shape[1] for c in rec.calls] == first


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(dims=[16, 8]), r"must increase; got \[16, 8\]"),
        (dict(dims=[8, 8]), "8 is repeated"),
        (dict(dims=[0, 8]), "got 0"),
        (dict(dims=[-2, 8]), "got -2"),
        (dict(dims=[8, 16], weights=[1.0]), r"got 1 weights \[1.0\] for 2 sizes"),
        (dict(dims=[8, 16], weights=[1.0, -0.5]), "got -0.5"),
        (dict(dims=[8, 16], weights=[1.0, float("nan")]), "got nan"),
        (dict(dims=[8, 16], n_dims_per_step=3), r"n_dims_per_step=3; it must be a whole number in 1\.\.2"),
    ],
)
def test_matryoshka_loss_rejects_bad_settings_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MatryoshkaLoss(nn.CrossEntropyLoss(), **kwargs)


def test_sizes_wider_than_the_embedding_are_rejected():
    with pytest.raises(ValueError, match="64 is wider than the embeddings"):
        MatryoshkaLoss(InfoNCE(), [8, 64])(torch.randn(4, 32), torch.randn(4, 32))
    with pytest.raises(ValueError, match="64 is wider than the embedding"):
        MRLHead(32, 10, [8, 64])


def test_logits_for_the_wrong_number_of_sizes_are_rejected():
    logits = MRLHead(16, 3, [8, 16])(torch.randn(2, 16))
    with pytest.raises(ValueError, match=r"got 2 logit tensors for 3 sizes"):
        MatryoshkaLoss(nn.CrossEntropyLoss(), [4, 8, 16])(logits, torch.tensor([0, 1]))


def test_infonce_prefers_matching_pairs_and_checks_shapes():
    x = torch.eye(6)
    assert InfoNCE(0.05)(x, x) < InfoNCE(0.05)(x, x.roll(1, dims=0))
    with pytest.raises(ValueError, match=r"\(6, 6\).*\(5, 6\)"):
        InfoNCE()(x, x[:5])
    with pytest.raises(ValueError, match="temperature must be > 0; got 0"):
        InfoNCE(temperature=0)


def test_float_targets_of_the_embedding_width_are_not_cut():
    # similarity scores of shape (batch,) are targets, even when batch == embedding width
    rec = Recorder()
    a, b, scores = torch.randn(8, 8), torch.randn(8, 8), torch.rand(8)
    MatryoshkaLoss(rec, [4, 8])(a, b, scores)
    assert all(torch.equal(call[2], scores) for call in rec.calls)
    assert [call[0].shape[1] for call in rec.calls] == [4, 8]
