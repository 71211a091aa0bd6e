import math

import pytest
import torch
from torch import nn

import mrl_lab
from mrl_lab.data.text import AGNews, SentencePairs, TextData
from mrl_lab.data.tokenizer import Tokenizer
from mrl_lab.evaluation.metrics import recall_check, spearman
from mrl_lab.evaluation.results import curves
from mrl_lab.evaluation.search import target_ranks
from mrl_lab.experiments import text
from mrl_lab.models.pairs import PairEncoder, pair_ids
from mrl_lab.models.text_encoder import TextEncoder
from mrl_lab.runtime.budget import get_budget
from mrl_lab.training.trainer import TrainSettings

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


def tiny_settings(**changes):
    return text.Settings(**dict(dict(
        embed_dim=16, smallest=4, per_size=(8,), hidden=16, max_pairs=None, epochs=2, batch_size=16, token_dropout=0.1,
        max_words=100, buckets=64, max_tokens=32,
    ), **changes))  # fmt: skip


STS = SentencePairs(
    ["the striker scored a goal", "shares rose", "new chip"], ["a late goal", "shares fell after profit", "vote"],
    torch.tensor([4.0, 3.0, 0.5]), "generated",
)  # fmt: skip


def tiny_data(settings, train=None, test=None):
    news = AGNews(train if train is not None else tiny_news(64, 0), tiny_news(8, 2), test or tiny_news(16, 1), "tiny")
    return text.load_data(settings, news, STS)


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
    settings = tiny_settings()
    assert text.loss_for("normal", settings).dims == [16]
    assert text.loss_for("MRL", settings).dims == [4, 8, 16]
    assert text.loss_for("FF-8", settings).dims == [8]
    assert text.methods(settings) == ["normal", "MRL", "FF-8"]
    for name in ("smoke", "cpu", "gpu"):
        s = text.settings(get_budget(name))
        assert s.embed_dim >= 256 and s.dims[-1] == s.embed_dim and text.methods(s)[2:]
    gpu = text.settings("gpu")
    assert text.methods(gpu)[2:] == [f"FF-{d}" for d in gpu.dims[:-1]]


def test_a_changed_setting_is_honoured_everywhere():
    news = AGNews(tiny_news(64, 0), tiny_news(8, 2), tiny_news(16, 1), "tiny")
    data = text.load_data(text.settings("smoke", max_pairs=20), news, STS)
    assert len(data.train) == 20  # the budget's row says 2,000: the change wins
    with pytest.raises(ValueError, match="unknown setting 'epoch'"):
        text.settings("smoke", epoch=3)


def test_train_takes_pairs_without_targets():
    pairs = torch.randint(1, 30, (32, 2, 5))
    model = PairEncoder(TextEncoder(30, 8, 8))
    loss = mrl_lab.MatryoshkaLoss(mrl_lab.InfoNCE(), [4, 8])
    log = mrl_lab.train(model, loss, pairs, None, TrainSettings(epochs=3, batch_size=16), progress=None)
    assert len(log.losses) == 1 and log.losses[0] > 0


def test_drop_tokens_only_pads():
    ids = torch.arange(1, 1001).view(10, 100)
    out = text.drop_tokens(ids, 0.3)
    kept = out != 0
    assert torch.equal(out[kept], ids[kept]) and 0.2 < (~kept).float().mean() < 0.4
    assert torch.equal(text.drop_tokens(ids, 0.0), ids)
    with pytest.raises(ValueError, match=r"drop_tokens: p must be in \[0, 1\); got 1"):
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
    settings = tiny_settings()
    data = tiny_data(settings)
    first = text.train_all(settings, data, progress=False)
    again = text.train_all(settings, data, progress=False)
    assert set(first) == {"normal", "MRL", "FF-8"}
    assert all(not m["cached"] for _, m in first.values()) and all(m["cached"] for _, m in again.values())
    results = text.evaluate(settings, data, first)
    assert list(results.columns) == ["method", "size", "metric", "value", "low", "high", "items"]
    assert set(results["metric"]) == {"recall@1", "recall@10", "MRR", "STS-B Spearman", "topic 1-NN",
                                      "recall@10, every size"}  # fmt: skip
    recall = curves(results, "recall@10")
    assert set(recall["MRL"]) == {4, 8, 16} and set(recall["FF"]) == {8, 16}
    assert results["value"].between(-1, 1).all()
    assert recall["normal, cut"][16] == recall["FF"][16]
    bounded = results.dropna(subset=["low"])
    assert (bounded["low"] - 1e-6 <= bounded["value"]).all() and (bounded["value"] <= bounded["high"] + 1e-6).all()
    dense = curves(results, "recall@10, every size")
    assert min(dense["MRL"]) == 1 and max(dense["MRL"]) == 16
    reference = text.tfidf_reference(data.train, data.test, data.sts)
    assert 0 <= reference["recall@10"] <= 1 and reference["width"] > 16


def test_a_text_model_trains_to_the_same_weights_whatever_ran_before(tmp_cache):
    settings = tiny_settings(epochs=1)
    data = tiny_data(settings)

    def weights_after(draws: int):
        torch.rand(draws)  # whatever the kernel ran before moves the global random state
        encoder, _ = text.train(settings, data, "MRL", retrain=True, progress=False)
        return torch.cat([p.detach().flatten() for p in encoder.parameters()])

    assert torch.equal(weights_after(1), weights_after(1000))


def test_the_cache_key_holds_the_training_pairs(tmp_cache):
    settings = tiny_settings(epochs=1)
    _, first = text.train(settings, tiny_data(settings), "MRL", progress=False)
    _, other = text.train(settings, tiny_data(settings, train=tiny_news(48, 0)), "MRL", progress=False)
    assert not first["cached"] and not other["cached"]  # other pairs, other model


def test_text_loss_decreases_on_learnable_pairs():
    settings = tiny_settings(epochs=30)
    data = tiny_data(settings)
    torch.manual_seed(0)
    model = PairEncoder(TextEncoder(data.tok.vocab_size, 16, 16))
    loss = text.loss_for("MRL", settings)
    schedule = TrainSettings(epochs=30, batch_size=16, check_every=4)
    log = mrl_lab.train(model, loss, pair_ids(data.tok.encode, data.train), None, schedule, progress=None)
    chance = len(loss.dims) * math.log(16)  # InfoNCE of a guess among the batch's 16 pairs, at each size
    assert log.losses[-1] < 0.6 * chance  # (the first read-out depends on the initial weights: not a baseline)
    assert isinstance(model.encoder.mlp[-1], nn.Linear)


def test_custom_losses_train_and_cache_under_their_own_keys(tmp_cache):
    settings = tiny_settings()
    data = tiny_data(settings)
    losses = {
        "from 8": mrl_lab.MatryoshkaLoss(mrl_lab.InfoNCE(0.05), [8, 16]),
        "weighted": mrl_lab.MatryoshkaLoss(mrl_lab.InfoNCE(0.05), [4, 8, 16], weights=[3, 1, 1]),
    }
    first = {name: text.train(settings, data, name, loss=loss, progress=False) for name, loss in losses.items()}
    _, other = text.train(settings, data, "from 8", loss=losses["weighted"], progress=False)
    assert not other["cached"]  # same name, other loss: another model
    again = {name: text.train(settings, data, name, loss=loss, progress=False) for name, loss in losses.items()}
    assert all(meta["cached"] for _, meta in again.values())
    hits = text.recall_hits(first["weighted"][0], data.tok, data.train, [1, 4, 16])
    assert set(hits) == {1, 4, 16} and all(h.dtype == torch.bool and len(h) == 64 for h in hits.values())
