import plotly.graph_objects as go

from mrl_lab.lab.plots import curves_table, plot_vs_size
from mrl_lab.lab.widgets import truncation_dashboard

CURVES = {"MRL": {2: 0.3, 8: 0.5, 16: 0.6}, "normal": {2: 0.1, 8: 0.3, 16: 0.62}}


def test_the_chart_has_one_line_per_method_on_a_log2_axis():
    fig = plot_vs_size(CURVES, metric="1-NN accuracy", highlight=8)
    assert isinstance(fig, go.Figure)
    assert [t.name for t in fig.data] == ["MRL", "normal"]
    assert list(fig.data[0].x) == [2, 8, 16] and list(fig.data[1].y) == [0.1, 0.3, 0.62]
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.tickvals) == [2, 8, 16]
    assert fig.layout.shapes[0].x0 == 8


def test_the_table_has_a_row_per_size_and_a_column_per_method():
    table = curves_table(CURVES)
    assert list(table.index) == [2, 8, 16] and list(table.columns) == ["MRL", "normal"]
    assert table.loc[8, "normal"] == 0.3


def test_moving_the_slider_measures_again_and_changes_the_numbers(capsys):
    asked = []

    def evaluate(d):
        asked.append(d)
        return {"MRL": d / 16, "normal": d / 32}

    board = truncation_dashboard(CURVES, evaluate, full_dim=16, start=8)
    before = board.readout.value
    assert "first <b>8</b> of 16 dims" in before and "50.0%" in before
    board.slider.value = 4
    after = board.readout.value
    assert after != before and "first <b>4</b> of 16 dims" in after
    assert "25.0%" in after and "12.5%" in after and "16 bytes per float32 vector" in after
    assert asked[-1] == 4 and 16 in asked  # the full width is measured once, for the "kept" column
    assert board.slider.max == 16


def test_the_neighbour_dashboard_follows_the_size_and_the_image(capsys):
    import torch

    from mrl_lab.core.nesting import truncate
    from mrl_lab.data.images import CIFAR10_CLASSES, ImageData
    from mrl_lab.lab.widgets import neighbour_dashboard

    g = torch.Generator().manual_seed(0)
    train_set = ImageData(torch.randint(0, 256, (30, 3, 32, 32), dtype=torch.uint8, generator=g), torch.arange(30) % 10,
                          CIFAR10_CLASSES, "generated")  # fmt: skip
    test_set = ImageData(train_set.images[:5].clone(), train_set.labels[:5].clone(), CIFAR10_CLASSES, "generated")
    train_z, test_z = torch.randn(30, 16, generator=g), torch.randn(5, 16, generator=g)

    def vectors(method, d):
        return {"train": truncate(train_z, d), "test": truncate(test_z, d)} if method == "MRL" else None

    curves = {"MRL": {4: 0.4, 8: 0.5, 16: 0.6}, "FF": {4: 0.3}}  # the curves' methods are the gallery's rows
    board = neighbour_dashboard(curves, vectors, train_set, test_set, sizes=[4, 8, 16], start=8, n_queries=5)
    assert "50.0%" in board.accuracy.value and "32 bytes per float32 vector" in board.storage.value
    assert board.gallery.value.count("<img") == 1 + 5  # the query and its 5 neighbours
    assert "no model of size 8" in board.gallery.value
    before = board.gallery.value
    board.size.value = 16
    assert "60.0%" in board.accuracy.value and "64 bytes" in board.storage.value
    board.image.value = 3
    assert board.gallery.value != before and "query: cat" in board.gallery.value
    assert "&#10007;" in board.gallery.value  # random vectors find wrong-class neighbours, marked


def _search_inputs():
    import torch

    torch.manual_seed(0)
    docs = torch.randn(40, 16)
    words = {"alpha": docs[3] + 0.05 * torch.randn(16), "beta": docs[17] + 0.05 * torch.randn(16)}
    asked = []

    def encode(sign):
        def fn(text):
            asked.append(text)
            return sign * words.get(text, docs[0])[None]  # (1, 16): full width, cut by the dashboard

        return fn

    encoders = {"MRL": encode(1), "other": encode(-1)}
    corpus = {"MRL": docs, "other": docs.flip(1)}
    titles, topics = [f"doc <{i}>" for i in range(40)], ["World"] * 40
    return encoders, corpus, titles, topics, asked


def test_the_search_box_and_size_slider_change_the_results():
    from mrl_lab.lab.widgets import search_dashboard

    encoders, corpus, titles, topics, asked = _search_inputs()
    board = search_dashboard(encoders, corpus, titles, topics, full_dim=16, query="alpha", start=16)
    full = board.results.value
    assert "doc &lt;3&gt;" in full and "<b>5/5</b> of its full-width top-5" in full  # titles are escaped
    board.size.value = 1
    cut = board.results.value
    assert cut != full and "at d = 1" in cut
    board.text.value = "beta"
    assert "doc &lt;17&gt;" in board.results.value
    assert list(board.size.options) == [1, 2, 4, 8, 16]
    assert asked == ["alpha", "alpha", "beta", "beta"]  # each method encodes a query once, whatever the sizes
    chosen = search_dashboard(encoders, corpus, titles, topics, full_dim=16, query="alpha", start=6, sizes=[3, 6])
    assert list(chosen.size.options) == [3, 6] and "at d = 6" in chosen.results.value


def _shown(results_html: str) -> list[list[str]]:
    """The titles in each column of the dashboard, in order."""
    import re

    return [re.findall(r"doc &lt;(\d+)&gt;", column) for column in results_html.split("<td")[1:]]


def test_the_results_shown_are_an_exact_search_on_both_sides_cut_to_the_size():
    from mrl_lab.core.nesting import truncate
    from mrl_lab.evaluation.search import search
    from mrl_lab.lab.widgets import search_dashboard

    encoders, corpus, titles, topics, _ = _search_inputs()
    board = search_dashboard(encoders, corpus, titles, topics, full_dim=16, query="alpha", start=16)
    for d in (2, 4, 16):
        board.size.value = d
        for method, column in zip(encoders, _shown(board.results.value), strict=True):
            query = truncate(encoders[method]("alpha"), d)
            exact = search(query, truncate(corpus[method], d), 5)[0].tolist()
            assert [int(j) for j in column] == exact, (method, d)
    # the "other" corpus is flipped, so its cut keeps different features than MRL's: a different top-1 at d = 2
    board.size.value = 2
    mrl, other = _shown(board.results.value)
    assert mrl[0] != other[0]


def test_a_search_dashboard_cuts_a_wider_corpus_to_full_dim_and_refuses_mismatched_inputs():
    import pytest

    from mrl_lab.lab.widgets import search_dashboard

    encoders, corpus, titles, topics, _ = _search_inputs()
    board = search_dashboard(encoders, corpus, titles, topics, full_dim=8, query="alpha", start=8)
    assert list(board.size.options) == [1, 2, 4, 8] and "<b>5/5</b>" in board.results.value
    with pytest.raises(ValueError, match="encoders and corpus need the same methods"):
        search_dashboard({"MRL": encoders["MRL"]}, corpus, titles, topics, full_dim=16, start=16)
    with pytest.raises(ValueError, match=r"corpus\['MRL'\] has 40 rows; there are 39 titles"):
        search_dashboard(encoders, corpus, titles[:-1], topics[:-1], full_dim=16, start=16)
    with pytest.raises(ValueError, match="has 16 dims, fewer than full_dim=32"):
        search_dashboard(encoders, corpus, titles, topics, full_dim=32, start=16)
    with pytest.raises(TypeError, match=r"corpus\['MRL'\] must be an \(N, D\) tensor"):
        search_dashboard(encoders, {**corpus, "MRL": lambda d: None}, titles, topics, full_dim=16, start=16)
