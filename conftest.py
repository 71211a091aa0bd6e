"""Notebook runs (nbval) must read clean: a cell whose output holds a warning, or a third-party progress bar that
does not say what it is doing, fails, naming what it printed. The lab's own bars each name their work."""

import re

import pytest

NOISE = re.compile(r"Warning\b|deprecated", re.IGNORECASE)  # FutureWarning, UserWarning, "is deprecated"
UNLABELLED_BARS = ("Loading weights", "Batches")  # transformers' and sentence-transformers' own bar names


def noise_in(outputs) -> list[str]:
    """The warnings on stderr and the unlabelled third-party bars in a cell's outputs, one line each."""
    found = []
    for out in outputs or []:
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            found += [line for line in re.split(r"[\r\n]", out.get("text", "")) if NOISE.search(line)]
        shown = out.get("data", {}).get("text/plain", "") if isinstance(out.get("data"), dict) else ""
        text = out.get("text", "") if out.get("output_type") == "stream" else shown
        found += [f"a bar named only {bar!r}" for bar in UNLABELLED_BARS if re.search(rf"(^|[\r\n]){bar}:", text)]
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.when != "call" or not report.passed or not hasattr(item, "test_outputs"):
        return
    found = noise_in(item.test_outputs)
    if found:
        report.outcome = "failed"
        report.longrepr = f"{item.name} printed noise a learner would read as an error: " + "; ".join(found[:5])
