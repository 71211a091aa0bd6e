import math

import pytest
import torch
from torch import nn

import mrl_lab
from mrl_lab.data.text import SentencePairs, TextData
from mrl_lab.data.tokenizer import Tokenizer
from mrl_lab.evaluation.metrics import recall_check, spearman
from mrl_lab.evaluation.search import target_ranks
from mrl_lab.experiments import text
from mrl_lab.models.pairs import PairEncoder, pair_ids
from mrl_lab.models.text_encoder import TextEncoder
from mrl_lab.runtime.budget import get_budget

TOPICS = {
    0: ("election minister parliament vote", "the minister won the vote in parliament after the election"),
    1: ("match goal striker season", "the striker scored a late goal to win the match this season"),
    2: ("shares profit market quarter", "shares rose after the company reported a quarter profit to the market"),
    3: ("software chip internet launch", "the firm will launch new software and a faster chip for internet use"),
}


def tiny_news(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    titles, descriptions, labels = [], [], []
    for i in range(n):
        label = i % 4
        title_words, description = TOPICS[label]
        order = torch.randperm(4, generator=g).tolist()
        titles.append(" ".join(title_words.split()[j] for j in order) + f" {i}")
        descriptions.append(f"{description} story {i}")
        labels.append(label)
    return TextData(titles, descriptions, torch.tensor(labels), source="generated")


def tiny_config(rows=64):
    return dict(
        embed_dim=16, dims=[4, 8, 16], per_size=[8], hidden=16, train_rows=rows, epochs=2, batch_size=16,
        lr=3e-3, weight_decay=5e-4, warmup=0.25, temperature=0.05, token_dropout=0.1, max_words=100, buckets=64,
        max_tokens=32, seed=0,
    )  # fmt: skip


def test_tokenizer_is_built_from_training_text_and_gives_unknown_words_trigrams():
    tok = Tokenizer(min_count=1, buckets=16).fit(["Oil prices rise", "oil falls"])
    assert tok.vocab == ["oil", "prices", "rise", "falls"] and tok.vocab_size == 1 + 4 + 16
    unknown = tok.tokens("petrol")
    assert len(unknown) == len("petrol") and all(i > len(tok.vocab) for i in unknown)  # trigrams only
    assert tok.encode(["oil", "prices rise"]).shape == (2, len(tok.tokens("prices rise")))
    assert Tokenizer(max_tokens=3, min_count=1).fit(["a b c d"]).truncated(["a b c d", "a"]) == 0.5


def test_tokenizer_errors_name_the_fix():
    with pytest.raises(TypeError, match=r"wrap a single text in a list"):
        Tokenizer(min_count=1).fit(["a"]).encode("a")
    with pytest.raises(ValueError, match="call fit"):
        Tokenizer(buckets=0).encode(["a"])
    with pytest.raises(ValueError, match="max_tokens=0"):
        Tokenizer(max_tokens=0)


def test_text_encoder_ignores_padding_and_pairs_share_one_encoder():
    enc = TextEncoder(vocab_size=50, embed_dim=8, hidden=4)
    a = enc(torch.tensor([[3, 4, 0, 0]]))
    b = enc(torch.tensor([[3, 4]]))
    assert torch.allclose(a, b)  # padding does not move the mean
    pair = PairEncoder(enc)
    left, right = pair(torch.tensor([[[3, 4], [3, 4]]]))
    assert torch.equal(left, right)
    with pytest.raises(ValueError, match=r"\(batch, 2, L\)"):
        pair(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="int64"):
        enc(torch.zeros(1, 2))


def test_losses_cover_the_stated_sizes():
    config = tiny_config()
    assert text.loss_for("normal", config).dims == [16]
    assert text.loss_for("MRL", config).dims == [4, 8, 16]
    assert text.loss_for("FF-8", config).dims == [8]
    assert text.methods(config) == ["normal", "MRL", "FF-8"]
    for name in ("smoke", "cpu", "gpu"):
        cfg = text.experiment_config(get_budget(name), train_rows=100)
        assert cfg["embed_dim"] >= 256 and cfg["dims"][-1] == cfg["embed_dim"] and cfg["per_size"]
    gpu = text.experiment_config(get_budget("gpu"), train_rows=100)
    assert gpu["per_size"] == gpu["dims"][:-1]


def test_train_takes_pairs_without_targets():
    pairs = torch.randint(1, 30, (32, 2, 5))
    model = PairEncoder(TextEncoder(30, 8, 8))
    loss = mrl_lab.MatryoshkaLoss(mrl_lab.InfoNCE(), [4, 8])
    log = mrl_lab.train(model, loss, pairs, None, epochs=3, batch_size=16, progress=False)
    assert len(log.losses) == 1 and log.losses[0] > 0


def test_drop_tokens_only_pads():
    ids = torch.arange(1, 1001).view(10, 100)
    out = text.drop_tokens(ids, 0.3)
    kept = out != 0
    assert torch.equal(out[kept], ids[kept]) and 0.2 < (~kept).float().mean() < 0.4
    assert torch.equal(text.drop_tokens(ids, 0.0), ids)
    with pytest.raises(ValueError, match="p=1"):
        text.drop_tokens(ids, 1)


def test_target_ranks_recall_and_mrr_by_hand():
    db = torch.eye(3)
    queries = torch.tensor([[1.0, 0.2, 0.0], [1.0, 0.2, 0.0], [0.0, 0.0, 1.0]])
    ranks = target_ranks(queries, db, torch.tensor([0, 1, 2]))
    assert ranks.tolist() == [1, 2, 1]
    assert (1.0 / ranks).mean().item() == pytest.approx((1 + 0.5 + 1) / 3)
    # a collapsed model (every vector equal) ranks each target last, not first
    same = torch.ones(3, 3)
    assert target_ranks(same, same, torch.tensor([0, 1, 2])).tolist() == [3, 3, 3]


def test_spearman_and_recall_check():
    assert spearman(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="NaN"):
        spearman(torch.tensor([float("nan"), 1.0]), torch.tensor([1.0, 2.0]))
    torch.manual_seed(0)
    corpus = torch.randn(300, 32)
    check = recall_check(corpus[:30], corpus, [2, 8, 32], k=10)
    assert check[32] == 1.0 and check[2] < check[8] < 1.0


def test_text_models_train_cache_and_evaluate(tmp_cache):
    train_set, test_set = tiny_news(64, 0), tiny_news(16, 1)
    sts = SentencePairs(
        ["the striker scored a goal", "shares rose", "new chip"], ["a late goal", "shares fell after profit", "vote"],
        torch.tensor([4.0, 3.0, 0.5]), "generated",
    )  # fmt: skip
    config = tiny_config()
    tok = text.tokenizer(config, train_set)
    first = text.train_models(config, train_set, tok, progress=False)
    again = text.train_models(config, train_set, tok, progress=False)
    assert set(first) == {"normal", "MRL", "FF-8"}
    assert all(not m["cached"] for _, m in first.values()) and all(m["cached"] for _, m in again.values())
    results = text.evaluate(first, tok, train_set, test_set, sts, config)
    metrics = results["metrics"]
    assert set(metrics) == {"recall@1", "recall@10", "MRR", "STS-B Spearman", "topic 1-NN"}
    assert set(metrics["recall@10"]["MRL"]) == {4, 8, 16} and set(metrics["recall@10"]["FF"]) == {8, 16}
    for curves in metrics.values():
        for curve in curves.values():
            assert all(-1 <= v <= 1 for v in curve.values())
    assert metrics["recall@10"]["normal, cut"][16] == metrics["recall@10"]["FF"][16]
    assert min(results["dense"]["MRL"]) == 1 and max(results["dense"]["MRL"]) == 16
    reference = text.tfidf_reference(train_set, test_set, sts)
    assert 0 <= reference["recall@10"] <= 1 and reference["width"] > 16


def test_a_text_model_trains_to_the_same_weights_whatever_ran_before(tmp_cache):
    train_set = tiny_news(64, 0)
    config = dict(tiny_config(), epochs=1)
    tok = text.tokenizer(config, train_set)

    def weights_after(draws: int):
        torch.rand(draws)  # whatever the kernel ran before moves the global random state
        encoder, _ = text.train_models(config, train_set, tok, only=["MRL"], retrain=True, progress=False)["MRL"]
        return torch.cat([p.detach().flatten() for p in encoder.parameters()])

    assert torch.equal(weights_after(1), weights_after(1000))


def test_wrong_row_count_is_named():
    config = tiny_config()
    data = tiny_news(32)
    with pytest.raises(ValueError, match="expects 64 training pairs, got 32"):
        text.train_models(config, data, text.tokenizer(config, data))


def test_text_loss_decreases_on_learnable_pairs():
    data = tiny_news(64)
    config = dict(tiny_config(), epochs=30)
    tok = text.tokenizer(config, data)
    torch.manual_seed(0)
    model = PairEncoder(TextEncoder(tok.vocab_size, 16, 16))
    loss = text.loss_for("MRL", config)
    log = mrl_lab.train(
        model, loss, pair_ids(tok.encode, data), None, epochs=30, batch_size=16, check_every=4, progress=False
    )  # fmt: skip
    chance = len(loss.dims) * math.log(16)  # InfoNCE of a guess among the batch's 16 pairs, at each size
    assert log.losses[-1] < 0.6 * chance  # (the first read-out depends on the initial weights: not a baseline)
    assert isinstance(model.encoder.mlp[-1], nn.Linear)


def test_custom_losses_train_and_cache_under_their_own_keys(tmp_cache):
    data = tiny_news(64)
    config = tiny_config()
    tok = text.tokenizer(config, data)
    losses = {
        "from 8": mrl_lab.MatryoshkaLoss(mrl_lab.InfoNCE(0.05), [8, 16]),
        "weighted": mrl_lab.MatryoshkaLoss(mrl_lab.InfoNCE(0.05), [4, 8, 16], weights=[3, 1, 1]),
    }
    first = text.train_models(config, data, tok, losses=losses, progress=False)
    assert set(first) == {"from 8", "weighted"}
    other = text.train_models(config, data, tok, losses={"from 8": losses["weighted"]}, progress=False)
    assert not other["from 8"][1]["cached"]  # same name, other loss: another model
    again = text.train_models(config, data, tok, losses=losses, progress=False)
    assert all(meta["cached"] for _, meta in again.values())
    curve = text.recall_curve(first["weighted"][0], tok, data, [1, 4, 16])
    assert set(curve) == {1, 4, 16} and all(0 <= v <= 1 for v in curve.values())
