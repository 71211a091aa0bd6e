"""Output a learner can read: no unlabelled third-party bars ("Loading weights", "Batches"), no deprecation
warning in the red stderr box; and the nbval hook (the repository's conftest.py) that fails a notebook cell
printing either."""

import importlib.util
import logging

from mrl_lab.experiments.pretrained import embed
from mrl_lab.models.sentence_encoder import load_encoder, preprocess
from tests.conftest import REPO


def nbval_hook():
    spec = importlib.util.spec_from_file_location("repo_conftest", REPO / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_loading_embedding_and_preprocessing_print_only_the_labs_own_labelled_bar(encoder_folder, tmp_cache, capfd,
                                                                                 caplog):  # fmt: skip
    caplog.set_level(logging.WARNING)
    model = load_encoder(encoder_folder, 32)
    features = preprocess(model, ["a headline", "another one"])
    z = embed(model, ["a headline", "another one", "a third"], "quiet-test", progress=True)
    err = capfd.readouterr().err
    assert set(features) >= {"input_ids", "attention_mask"} and z.shape == (3, 384)
    assert "Loading weights" not in err and "Batches" not in err  # the third-party bars, silenced
    assert "embedding 3 texts" in err  # the lab's own bar says what it embeds
    assert "deprecated" not in (err + caplog.text).lower()


def test_the_nbval_hook_flags_warnings_and_unlabelled_bars_and_passes_clean_output():
    noise_in = nbval_hook().noise_in
    clean = [{"output_type": "stream", "name": "stdout", "text": "recall 0.91\n"},
             {"output_type": "display_data", "data": {"text/plain": "embedding titles:  40%|####  | 2/5"}}]  # fmt: skip
    assert noise_in(clean) == []
    warned = [{"output_type": "stream", "name": "stderr", "text": "x.py:3: FutureWarning: use y\n  y()\n"}]
    assert noise_in(warned) == ["x.py:3: FutureWarning: use y"]
    deprecated = [{"output_type": "stream", "name": "stderr", "text": "The `tokenize` method is deprecated\n"}]
    assert len(noise_in(deprecated)) == 1
    bar = [{"output_type": "display_data", "data": {"text/plain": "Loading weights:   0%|   | 0/103"}}]
    assert noise_in(bar) == ["a bar named only 'Loading weights'"]
