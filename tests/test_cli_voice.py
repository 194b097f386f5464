"""The command line's voice: warnings are one `warning:` line in CLI words (no file path, no
Python syntax) and silent with --quiet; `genlab inspect` shows each column's inferred kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from genlab.cli import app
from genlab.cli.voice import cli_text

runner = CliRunner()


@pytest.fixture
def with_ids(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"customer_id": [f"K{i:05d}x{rng.integers(9)}" for i in range(60)],
                       "x": rng.normal(size=60).round(2),
                       "g": rng.choice(["a", "b"], 60)})
    path = tmp_path / "ids.csv"
    df.to_csv(path, index=False)
    return path


def test_warning_is_one_cli_line(with_ids: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["fit", str(with_ids), "--model", "gaussian",
                                 "-o", str(tmp_path / "m.genlab")])
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("warning:")]
    assert len(lines) == 1, result.output
    assert "--kind customer_id=categorical" in lines[0]
    assert "kinds=" not in result.output and ".py:" not in result.output
    assert "UserWarning" not in result.output


def test_quiet_silences_warnings(with_ids: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["fit", str(with_ids), "--model", "gaussian",
                                 "-o", str(tmp_path / "m.genlab"), "--quiet"])
    assert result.exit_code == 0
    assert result.output == ""


@pytest.mark.parametrize(("python", "cli"), [
    ("pass kinds={'zip': 'categorical'} to model it", "pass --kind zip=categorical to model it"),
    ("fit it with conditions=['label']", "fit it with --condition label"),
    ("raise max_minutes= or epochs=", "raise -p max_minutes= or -p epochs="),
    ("two\nlines", "two lines"),
])
def test_cli_words(python: str, cli: str) -> None:
    assert cli_text(python) == cli


def test_inspect_lists_each_column_kind(with_ids: Path) -> None:
    result = runner.invoke(app, ["inspect", str(with_ids)])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "customer_id" in text and " id " in text
    assert "continuous" in text and "categorical" in text
    assert "--kind column=kind" in text


def test_inspect_names_other_kinds_of_data(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("some text to learn from\n" * 5)
    result = runner.invoke(app, ["inspect", str(corpus)])
    assert result.exit_code == 0 and "sequence data" in result.output


def test_fit_reports_training_and_reads_inf_as_missing(tmp_path: Path) -> None:
    df = pd.DataFrame({"x": ["1.5", "inf", "2.5", "3.0"] * 10, "g": ["a", "b"] * 20})
    path = tmp_path / "inf.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "m.genlab"
    refused = runner.invoke(app, ["fit", str(path), "--model", "gaussian", "-o", str(out)])
    assert refused.exit_code == 2 and "--inf missing" in refused.output
    ok = runner.invoke(app, ["fit", str(path), "--model", "flow", "-o", str(out), "--inf",
                             "missing", "-p", "epochs=1", "-p", "device=cpu"])
    assert ok.exit_code == 0, ok.output
    assert "training: trained 1 epoch" in ok.output
