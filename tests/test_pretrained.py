"""The pretrained-encoder experiment (notebook 03): the loss against sentence-transformers', the
loader, the embedding cache, the adaptor, PCA as a rotation, and the intervals."""

import dataclasses
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from mrl_lab.core.nesting import truncate
from mrl_lab.data.locate import MODEL, DataNotFoundError, find_encoder, fingerprint
from mrl_lab.data.text import SentencePairs, TextData
from mrl_lab.evaluation import results
from mrl_lab.evaluation.baselines import PCA, pca_rotation
from mrl_lab.evaluation.intervals import lead, share_kept
from mrl_lab.evaluation.metrics import rank_correlation, recall_check
from mrl_lab.evaluation.results import curves
from mrl_lab.evaluation.search import target_ranks
from mrl_lab.experiments import adaptor, pretrained
from mrl_lab.models.adaptor import MatryoshkaAdaptor, ranking_loss
from mrl_lab.models.pairs import PairEncoder, pair_ids
from mrl_lab.models.sentence_encoder import SentenceEncoder, checkpoint_activations, load_encoder, pca_start, token_ids

SENTENCES = [
    ("Oil prices climb as supply fears grow", "Crude rose on Tuesday after a pipeline outage cut supplies."),
    ("Striker scores twice in cup final", "A late double sealed the trophy for the home side."),
    ("Chip maker reports record profit", "Quarterly earnings beat forecasts on strong demand for processors."),
    ("Election results delayed by recount", "Officials said the count would take another week."),
    ("New phone launched with faster chip", "The handset goes on sale next month at a higher price."),
    ("Central bank holds interest rates", "Policy makers kept borrowing costs unchanged for a third month."),
]


@pytest.fixture(scope="module")
def minilm(encoder_folder):
    model = load_encoder(encoder_folder, max_tokens=32)
    model.eval()  # no dropout: both losses must see the very same embeddings
    return model


def test_the_labs_matryoshka_infonce_equals_sentence_transformers_matryoshka_loss(minilm):
    titles, descriptions = [t for t, _ in SENTENCES], [d for _, d in SENTENCES]
    ours, theirs = pretrained.loss_cross_check(minilm, titles, descriptions, [8, 16, 32, 64, 128, 256, 384])
    assert ours > 1.0  # a real loss, summed over 7 sizes, not a trivial zero
    assert ours == pytest.approx(theirs, rel=1e-5)
    # and a different loss is not "equal" by accident: the check can fail
    other, _ = pretrained.loss_cross_check(minilm, titles, descriptions[::-1], [8, 16, 32, 64, 128, 256, 384])
    assert other != pytest.approx(theirs, rel=1e-3)


def test_the_training_wrapper_gives_the_same_embeddings_as_sentence_transformers_encode(minilm):
    texts = [t for pair in SENTENCES for t in pair]
    ids = minilm.tokenizer(texts, padding="max_length", truncation=True, max_length=32, return_tensors="pt")
    with torch.no_grad():
        wrapped = SentenceEncoder(minilm)(ids["input_ids"])
    encoded = minilm.encode(texts, convert_to_tensor=True)
    assert wrapped.shape == (len(texts), 384)
    assert torch.allclose(wrapped, encoded, atol=1e-5)


def test_the_shared_frozen_bottom_gives_the_models_own_embeddings_and_trains_only_the_layers_above(encoder_folder):
    from mrl_lab.core.contrastive import InfoNCE
    from mrl_lab.models.frozen_bottom import SharedBottom, TopPairModel, bottom_states

    texts = [t for pair in SENTENCES for t in pair]
    st = load_encoder(encoder_folder, 32)
    for module in pca_start(F.normalize(torch.randn(40, 384), dim=1)):  # a model with more on top
        st.append(module)
    st.eval()
    bottom = SharedBottom(3)
    shared = bottom.encode(st, texts, progress=False)
    torch.testing.assert_close(shared, st.encode(texts, convert_to_tensor=True), atol=1e-5, rtol=0)
    assert bottom.states(st, texts) is bottom.states(st, texts)  # run once, then kept
    assert [len(h) for h in bottom.states(st, texts)] == [int(m.sum()) for m in st.tokenize(texts)["attention_mask"]]
    # the check can fail: the layers above run from the wrong depth give other vectors
    wrong = SharedBottom(2)
    wrong.kept = dict(bottom.kept)
    assert not torch.allclose(wrong.encode(st, texts, progress=False), shared, atol=1e-3)
    # training: the pair model on row numbers gives the plain pair model's embeddings, and gradients reach layers 3+
    ids = pair_ids(partial(token_ids, st, max_tokens=32), TextData(texts[::2], texts[1::2], torch.zeros(6)))
    pair = TopPairModel(SentenceEncoder(st), 3)
    with pytest.raises(RuntimeError, match=r"TopPairModel: no bottom states yet"):
        pair(torch.arange(6))
    pair.use(bottom_states(st, 3, texts[::2]), bottom_states(st, 3, texts[1::2]))
    with torch.no_grad():
        for a, b in zip(pair(torch.arange(6)), PairEncoder(SentenceEncoder(st))(ids)):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    st.train()
    InfoNCE(temperature=0.05)(*pair(torch.tensor([4, 0, 2]))).backward()
    bert = st[0].auto_model
    assert all(p.grad is None for p in [*bert.embeddings.parameters(), *bert.encoder.layer[:3].parameters()])
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in bert.encoder.layer[3:].parameters())
    assert st[3].linear.weight.grad.abs().sum() > 0  # the PCA rotation trains too
    assert len(bert.encoder.layer) == 6 and not isinstance(bert.embeddings, torch.nn.Identity)  # put back
    with pytest.raises(ValueError, match=r"SharedBottom: n=0"):
        SharedBottom(0)


def test_find_encoder_looks_in_root_then_fails_fast_offline_naming_every_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty Hugging Face cache
    with pytest.raises(DataNotFoundError) as error:
        find_encoder(root=tmp_path / "nothing")
    message = str(error.value)
    assert str(tmp_path / "nothing" / "models" / MODEL) in message
    assert "HF_HUB_OFFLINE" in message and "MRL_LAB_DATA" in message


def test_find_encoder_finds_the_offline_copy_through_mrl_lab_data(encoder_folder, monkeypatch):
    monkeypatch.setenv("MRL_LAB_DATA", str(encoder_folder.parents[1]))
    assert find_encoder() == encoder_folder
    assert fingerprint(encoder_folder) == "53aa51172d14"  # the sha256 the data README gives


class CountingModel:
    """Stands in for a SentenceTransformer: counts how often it encodes."""

    max_seq_length = 32

    def __init__(self):
        self.calls = 0

    def encode(self, texts, **kwargs):
        self.calls += 1
        with torch.inference_mode():  # as sentence-transformers encodes
            return torch.arange(len(texts) * 3, dtype=torch.float32).view(len(texts), 3)


def test_embeddings_are_cached_and_a_damaged_cache_file_is_rebuilt(tmp_cache):
    model, texts = CountingModel(), ["a", "b"]
    first = pretrained.embed(model, texts, "demo", progress=False)
    again = pretrained.embed(model, texts, "demo", progress=False)
    assert model.calls == 1 and torch.equal(first, again)
    assert not first.is_inference()  # an adaptor can be trained on fresh embeddings
    [path] = (tmp_cache / "embeddings").glob("demo-*.pt")
    path.write_bytes(b"not a tensor")
    with pytest.warns(UserWarning, match=r"embed: the cached file .* is damaged \(UnpicklingError"):
        assert torch.equal(pretrained.embed(model, texts, "demo", progress=False), first)
    assert model.calls == 2
    pretrained.embed(model, ["a", "c"], "demo", progress=False)  # other texts: another file
    assert model.calls == 3


def test_pca_rotation_cut_to_d_is_the_projection_on_the_first_d_components():
    _ = torch.manual_seed(0)
    z = torch.randn(300, 16) @ torch.randn(16, 16)
    rotate, pca = pca_rotation(z), PCA().fit(z)
    assert torch.allclose(truncate(rotate(z), 4), F.normalize(pca.transform(z, 4), dim=1), atol=1e-5)
    assert rotate(z[:5]).shape == (5, 16)
    assert pca_rotation(z[:10])(z).shape == (300, 10)  # 10 rows give at most 10 components


def test_the_untrained_adaptor_is_the_identity_and_rejects_bad_input():
    e = torch.randn(5, 8)
    assert torch.equal(MatryoshkaAdaptor(8)(e), e)
    small = adaptor.Settings(dims=(4, 8), k=2)
    with pytest.raises(ValueError, match="k=10 neighbours"):
        adaptor.fit(adaptor.Settings(dims=(4, 8)), torch.randn(5, 8), progress=False)
    with pytest.raises(ValueError, match="NaN"):
        adaptor.fit(small, torch.full((20, 8), float("nan")), progress=False)
    with pytest.raises(ValueError, match="same shape"):
        adaptor.fit(small, torch.randn(20, 8), pairs=(torch.randn(4, 8), torch.randn(3, 8)), progress=False)
    with pytest.raises(ValueError, match="needs training pairs"):
        adaptor.train(small, adaptor.Data(torch.randn(20, 8)), "supervised", progress=False)


def hidden_at_the_back(n=400, seed=0):
    """Embeddings whose neighbourhoods are decided by their last dims: cutting them loses everything."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(20, 8, generator=g) * 3
    front, back = 0.3 * torch.randn(n, 24, generator=g), centres[torch.arange(n) % 20] + torch.randn(n, 8, generator=g)
    z = torch.cat([front, back], 1)
    return F.normalize(z, dim=1)


def test_the_unsupervised_adaptor_moves_the_neighbourhoods_into_the_first_dims():
    corpus = hidden_at_the_back()
    before = recall_check(corpus, corpus, [4], k=10)[4]
    f = adaptor.fit(adaptor.Settings(dims=(4, 8, 16, 32), hidden=64, k=10, steps=150, lr=3e-3), corpus, progress=False)
    adapted = f(corpus).detach()
    after = recall_check(adapted, adapted, [4], k=10)[4]
    assert after > before + 0.2, (before, after)


def test_the_supervised_adaptor_learns_from_pairs_what_the_corpus_alone_cannot_say():
    # A query shares only the last 4 dims with its document; the other 12 are noise of its own.
    # The corpus alone cannot tell which dims matter; the pairs can.
    g = torch.Generator().manual_seed(1)
    shared = torch.randn(300, 4, generator=g)
    docs = F.normalize(torch.cat([torch.randn(300, 12, generator=g), shared], 1), dim=1)
    noisy = shared + 0.1 * torch.randn(300, 4, generator=g)
    queries = F.normalize(torch.cat([torch.randn(300, 12, generator=g), noisy], 1), dim=1)
    train, test = slice(0, 200), slice(200, 300)

    def recall(f, d=4):
        q, db = f(queries[test]).detach(), f(docs[test]).detach()
        return (target_ranks(truncate(q, d), truncate(db, d), torch.arange(100)) <= 5).float().mean().item()

    settings = adaptor.Settings(dims=(4, 16), hidden=64, k=5, steps=150, lr=3e-3)
    both = adaptor.train_all(settings, adaptor.Data(docs, queries[train], docs[train]), progress=False)
    unsupervised, supervised = both["unsupervised"], both["supervised"]
    assert recall(supervised) > recall(unsupervised) + 0.2, (recall(unsupervised), recall(supervised))


def test_the_ranking_loss_rewards_each_query_for_finding_its_own_document():
    q = torch.eye(4)
    assert ranking_loss(q, q, [2, 4]) < ranking_loss(q, q.roll(1, dims=0), [2, 4])


def test_evaluate_measures_each_method_where_it_has_vectors_and_the_per_size_fine_tunes_as_one_line():
    g = torch.Generator().manual_seed(0)

    def method(noise):  # titles are noisy copies of their descriptions; more noise, worse retrieval
        d = F.normalize(torch.randn(40, 32, generator=g), dim=1)
        t = F.normalize(d + noise * torch.randn(40, 32, generator=g), dim=1)
        return {"titles": t, "descriptions": d, "sts1": t[:10], "sts2": d[:10]}

    full = {"fine-tuned normal": method(0.1), "fine-tuned FF-8": method(0.1), "base, cut": method(5.0)}
    sts = SentencePairs(["a"] * 10, ["b"] * 10, torch.arange(10.0), "demo")
    data = pretrained.Data(Path("."), "test", None, None, sts, [], "demo")
    results = pretrained.evaluate(pretrained.SETTINGS["smoke"], data, full, [4, 8, 32])
    r10 = curves(results, "recall@10")
    assert set(r10) == {"fine-tuned normal", "base, cut", "fine-tuned FF"}
    assert set(r10["fine-tuned FF"]) == {8, 32} and set(r10["base, cut"]) == {4, 8, 32}  # FF: 8, and normal at 32
    assert r10["fine-tuned FF"][32] == r10["fine-tuned normal"][32] == 1.0 > r10["base, cut"][32]
    vectors = pretrained.by_size(full)
    assert vectors("fine-tuned FF", 4) is None and vectors("base, cut", 64) is None
    assert torch.equal(vectors("base, cut", 4)["titles"], truncate(full["base, cut"]["titles"], 4))


def test_a_lead_gives_a_paired_interval_that_holds_the_estimate():
    g = torch.Generator().manual_seed(0)
    ranks_a = torch.randint(1, 20, (500,), generator=g)
    ranks_b = ranks_a + (torch.rand(500, generator=g) < 0.2).long() * 15  # b is a worse copy of a
    for a, b in ((ranks_a <= 10, ranks_b <= 10), (1.0 / ranks_a, 1.0 / ranks_b)):  # recall@10, then MRR
        diff, low, high = lead(a, b)
        assert low <= diff <= high and low > 0
        same, low, high = lead(a, a)
        assert same == low == high == 0


def test_activation_checkpointing_gives_the_same_gradients_and_reaches_every_trained_layer(encoder_folder):
    from mrl_lab.core.contrastive import InfoNCE

    texts = [t for pair in SENTENCES for t in pair]

    def gradients(checkpointing: bool):
        model = PairEncoder(SentenceEncoder(load_encoder(encoder_folder, 32)))
        bert = model.encoder.model[0].auto_model
        bert.embeddings.word_embeddings.requires_grad_(False)  # as the fine-tunes freeze it
        if checkpointing:
            checkpoint_activations(model)
        model.train()
        ids = pair_ids(
            partial(token_ids, model.encoder.model, max_tokens=32), TextData(texts[::2], texts[1::2], torch.zeros(6))
        )
        torch.manual_seed(0)  # the same dropout masks (checkpointing replays them)
        InfoNCE(temperature=0.05)(*model(ids)).backward()
        return {n: p.grad for n, p in bert.named_parameters() if p.grad is not None}  # (mean pooling: no pooler)

    plain, checkpointed = gradients(False), gradients(True)
    assert "encoder.layer.0.attention.self.query.weight" in plain and plain.keys() == checkpointed.keys()
    for name, grad in plain.items():
        assert grad.abs().sum() > 0, name
        torch.testing.assert_close(checkpointed[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_the_sts_interval_uses_spearman_as_scipy_computes_it_for_every_resample_at_once():
    from scipy.stats import spearmanr

    g = torch.Generator().manual_seed(0)
    gold = torch.randint(0, 6, (300,), generator=g).float()  # ties, as in STS-B's scores
    good, bad = gold + torch.randn(300, generator=g), gold + 3 * torch.randn(300, generator=g)
    batch = torch.stack([good, bad]).numpy()
    expected = [spearmanr(row, gold.numpy()).statistic for row in batch]
    assert rank_correlation(batch, gold.numpy()) == pytest.approx(expected, rel=1e-9)
    diff, low, high = lead(good, bad, gold)
    assert diff == pytest.approx(expected[0] - expected[1]) and 0 < low <= diff <= high


def test_share_kept_is_the_ratio_of_spearmans_with_a_paired_interval():
    from scipy.stats import spearmanr

    g = torch.Generator().manual_seed(0)
    gold = torch.randint(0, 6, (400,), generator=g).float()
    whole, cut = gold + torch.randn(400, generator=g), gold + 2 * torch.randn(400, generator=g)
    share, low, high = share_kept(cut, whole, gold)
    expected = spearmanr(cut, gold).statistic / spearmanr(whole, gold).statistic
    assert share == pytest.approx(expected, rel=1e-9) and low < share < high < 1
    assert share_kept(whole, whole, gold) == (1.0, 1.0, 1.0)  # the same pairs in every resample
    measured = results.table([results.row("m", d, "STS-B Spearman", s, value=0.5) for d, s in ((8, cut), (384, whole))])
    with pytest.raises(ValueError, match=r"no 'STS-B Spearman' results for \['n'\]"):
        results.items(measured, "STS-B Spearman", "n")


def test_fine_tune_trains_each_method_once_and_then_loads_models_and_embeddings(encoder_folder, tmp_cache):
    rows = [TextData([t], [d], torch.tensor([0])) for t, d in SENTENCES]
    data = TextData([r.titles[0] for r in rows], [r.descriptions[0] for r in rows], torch.zeros(6, dtype=torch.long))
    settings = pretrained.settings("smoke", batch_size=3, per_size=(16,))
    sts = SentencePairs(data.titles[:3], data.descriptions[:3], torch.tensor([1.0, 2.0, 3.0]), "demo")
    s = pretrained.Data(encoder_folder, "test", data, data, sts, [], "demo")
    first = pretrained.train_all(settings, s, only=["MRL", "FF-16"], keep=("MRL",), progress=False)
    assert not first["MRL"]["meta"]["cached"] and "model" in first["MRL"] and "model" not in first["FF-16"]
    assert first["MRL"]["vectors"]["titles"].shape == (6, 384)
    again = pretrained.train_all(settings, s, only=["MRL"], keep=("MRL",), progress=False)
    assert again["MRL"]["meta"]["cached"]
    # a damaged checkpoint is found when the model is loaded to embed, and trained again (its bottom states too)
    checkpoint = tmp_cache / "models" / f"{first['FF-16']['key']}.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.warns(UserWarning, match="is damaged"):
        mended = pretrained.train_all(settings, s, only=["FF-16"], progress=False)["FF-16"]
    assert not mended["meta"]["cached"] and mended["vectors"]["titles"].shape == (6, 384)
    # smoke starts from the PCA order: the rotation and a Normalize follow the published model's three modules
    assert settings.start == "pca"
    assert [type(m).__name__ for m in again["MRL"]["model"]][3:] == ["Dense", "Normalize"]
    published = dataclasses.replace(settings, start="pretrained")
    plain = pretrained.train_all(published, s, only=["MRL"], keep=("MRL",), progress=False)["MRL"]  # gpu's start
    assert not plain["meta"]["cached"] and len(plain["model"]) == 3  # another start, another cached model
    assert torch.allclose(again["MRL"]["vectors"]["descriptions"], first["MRL"]["vectors"]["descriptions"])
    # embedded through the shared frozen bottom: still the fine-tuned model's own vectors
    own = again["MRL"]["model"].encode(data.descriptions, convert_to_tensor=True)
    torch.testing.assert_close(first["MRL"]["vectors"]["descriptions"], own, atol=1e-5, rtol=0)
    # the bottom frozen_layers layers and the embeddings are the pretrained ones; the layers above trained
    tuned = dict(first["MRL"]["model"][0].auto_model.named_parameters())
    start = dict(load_encoder(encoder_folder, 32)[0].auto_model.named_parameters())
    n = settings.frozen_layers
    assert n >= 1
    for name, p in start.items():
        if name.startswith("pooler."):  # unused: the sentence vector is the mean of the last layer
            continue
        frozen = name.startswith("embeddings.") or any(name.startswith(f"encoder.layer.{i}.") for i in range(n))
        assert torch.equal(tuned[name], p) == frozen, name


def test_the_served_published_control_is_the_published_models_own_vectors_beside_the_fine_tunes(
    encoder_folder, tmp_cache
):
    rows = [TextData([t], [d], torch.tensor([0])) for t, d in SENTENCES]
    data = TextData([r.titles[0] for r in rows], [r.descriptions[0] for r in rows], torch.zeros(6, dtype=torch.long))
    settings = pretrained.settings("smoke", batch_size=3, per_size=(16,))
    sts = SentencePairs(data.titles[:4], data.descriptions[:4], torch.tensor([1.0, 2.0, 3.0, 4.0]), "demo")
    s = pretrained.Data(encoder_folder, "test", data, data, sts, [], "demo")
    news = SimpleNamespace(train=data, val=data, test=data)  # the served corpus: every split's descriptions
    corpus, queries = pretrained.served_vectors(settings, s, news, rows=8, queries=4, published=True)
    assert list(corpus) == ["MRL", "normal", "normal + PCA", "published"] and set(queries) == set(corpus)
    model = load_encoder(encoder_folder, settings.max_tokens)
    own = model.encode((data.descriptions * 3)[:8], convert_to_tensor=True)
    torch.testing.assert_close(corpus["published"], own, atol=1e-5, rtol=0)  # cut as it is: nothing fitted
    torch.testing.assert_close(
        queries["published"], model.encode(data.titles[:4], convert_to_tensor=True), atol=1e-5, rtol=0
    )
    assert not torch.allclose(corpus["published"], corpus["normal"], atol=1e-3)  # not the fine-tune
    sts_corpus, sts_queries = pretrained.served_sts(settings, s, fit_on=corpus["normal"], queries=2, published=True)
    assert sts_corpus["published"].shape == (2 + 4, 384) and sts_queries["published"].shape == (2, 384)
    torch.testing.assert_close(sts_queries["published"], model.encode(sts.sentences1[:2], convert_to_tensor=True),
                               atol=1e-5, rtol=0)  # fmt: skip


def test_the_pca_start_cuts_to_pcas_projection_and_loses_nothing_at_full_width():
    g = torch.Generator().manual_seed(0)
    z = F.normalize(torch.randn(300, 16, generator=g) * torch.linspace(3, 0.2, 16) + 0.5, dim=1)
    dense, norm = pca_start(z)
    out = norm(dense({"sentence_embedding": z}))["sentence_embedding"]

    def cosines(v):  # a component's sign flipped for every row leaves these unchanged
        v = F.normalize(v.double(), dim=1)
        return v @ v.T

    pca = PCA().fit(z)
    for d in (1, 4, 16):
        torch.testing.assert_close(cosines(out[:, :d]), cosines(pca.transform(z, d)), atol=1e-4, rtol=0)
    torch.testing.assert_close(cosines(out), cosines(z - z.mean(dim=0)), atol=1e-5, rtol=0)  # centred, rotated
    few = pca_start(z[:5])[0]({"sentence_embedding": z})["sentence_embedding"]
    assert few.shape == (300, 16)  # fewer rows than dims: still every dim (an orthonormal completion)
    with pytest.raises(ValueError, match=r"pca_start: fit_on has 1 row"):
        pca_start(z[:1])


def test_a_start_that_is_neither_pretrained_nor_pca_is_refused_with_both_names():
    with pytest.raises(ValueError, match=r"pretrained.settings: start='PCA'; choose 'pretrained' or 'pca'"):
        pretrained.settings("smoke", start="PCA")
    data = pretrained.Data(Path("."), "test", None, None, None, [], "")
    assert pretrained.start_vectors(pretrained.settings("smoke", start="pretrained"), data) is None  # nothing to fit
