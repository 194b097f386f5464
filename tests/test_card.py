"""`genlab card`: the model card in Markdown and HTML, with evaluation figures on test data,
ε/δ when recorded, user text escaped, and bad input as one line."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from genlab._cards import card_html, card_markdown, card_sections
from genlab.cli import app

runner = CliRunner()
EVIL = "<script>alert(1)</script>|x"


def run(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def tables(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"x": rng.normal(size=n), EVIL: rng.choice(["a", "b"], n),
                       "y": rng.choice(["no", "yes"], n)})
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    df.iloc[:300].to_csv(train, index=False)
    df.iloc[300:].to_csv(test, index=False)
    return train, test


@pytest.fixture
def model_file(tmp_path: Path, tables: tuple[Path, Path]) -> Path:
    out = tmp_path / "m.genlab"
    code, text = run("fit", tables[0], "--model", "gaussian", "-o", out, "--seed", "0", "-q",
                     "--owner", "Ada Lovelace", "--licence", "CC-BY-4.0")
    if code != 0 and "--owner" in text:  # older fit without owner options
        code, text = run("fit", tables[0], "--model", "gaussian", "-o", out, "--seed", "0",
                         "-q")
    assert code == 0, text
    return out


def _section(md: str, name: str) -> str:
    return md.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]


def test_markdown_card_on_the_terminal(model_file):
    import genlab

    code, text = run("card", model_file)
    assert code == 0, text
    model = genlab.load(model_file)
    assert "# Model card: m.genlab" in text
    assert "gaussian (Gaussian, table model)" in _section(text, "Model")
    from genlab.provenance_files import model_id

    ident = model_id("gaussian", model.fingerprint_, model.created_at_)
    assert f"| model id | {ident} |" in text  # what `genlab provenance` names outputs by
    data = _section(text, "Data")
    assert model.fingerprint_ in data and "| training items | 300 |" in data
    assert "categorical columns" in data and "continuous columns" in data
    assert "not an iterative fit" in _section(text, "Training")
    assert "pass --test" in _section(text, "Evaluation")
    assert "fitted without it" in _section(text, "Privacy")
    uses = _section(text, "Uses")
    assert type(model).when_to_use.rstrip(".") in uses and "out of scope" in uses


def test_markdown_file_with_evaluation_figures(tmp_path, model_file, tables):
    out = tmp_path / "card.md"
    code, text = run("card", model_file, "-o", out, "--test", tables[1], "--train", tables[0],
                     "--target", "y")
    assert code == 0, text
    ev = _section(out.read_text(encoding="utf-8"), "Evaluation")
    for label in ("quality", "utility gap", "privacy risk", "detection AUC"):
        assert f"| {label} |" in ev
    auc = float(re.search(r"detection AUC \| ([0-9.]+)", ev).group(1))
    assert 0.0 <= auc <= 1.0
    assert not list(tmp_path.glob(".card.md.*.tmp")), "written atomically, no temp left"


def test_test_without_train_leaves_out_privacy_and_utility(tmp_path, model_file, tables):
    out = tmp_path / "card.md"
    code, text = run("card", model_file, "-o", out, "--test", tables[1], "-q")
    assert code == 0, text
    ev = _section(out.read_text(encoding="utf-8"), "Evaluation")
    assert "| quality |" in ev and "privacy risk" not in ev and "pass --train" in ev


def test_html_card_escapes_user_text(tmp_path, model_file):
    out = tmp_path / "card.html"
    code, text = run("card", model_file, "-o", out)
    assert code == 0, text
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script>" not in page
    assert html.escape(EVIL) in page
    assert "Model card" in page and "genlab-card" in page  # the notebook card reused


def test_markdown_escapes_pipes_and_html(model_file):
    import genlab

    md = card_markdown("t", card_sections(genlab.load(model_file)))
    assert "<script>" not in md and "&lt;script&gt;" in md and "\\|x" in md
    for line in md.splitlines():
        if line.startswith("| ") and "columns" in line:
            assert len(re.findall(r"(?<!\\)\|", line)) == 3  # two cells, nothing broken out


def test_privacy_figures_are_shown_when_recorded(model_file):
    import genlab

    model = genlab.load(model_file)
    record = {"epsilon": 1.0, "epsilon_spent": 0.98, "delta": 1e-6, "mechanism": "A & B",
              "declared": ["age"], "estimated": [], "bounds": {"age": [17, 90]}}
    md = card_markdown("t", card_sections(model, privacy=record))
    for row in ("| ε spent | 0.98 |", "| ε budget | 1 |", "| δ | 1e-06 |",
                "| mechanism | A & B |", "| metadata declared | age |",
                "| metadata estimated privately | none |"):
        assert row in md
    assert "| bounds |" not in md and "17, 90" not in md
    assert "ε spent" in card_html("t", card_sections(model, privacy=record), model)


def test_private_fit_card_and_provenance_show_epsilon(tmp_path, tables):
    dp = tmp_path / "dp.genlab"
    code, text = run("fit", tables[0], "--model", "bayesnet", "--epsilon", "1", "-o", dp,
                     "--bound", "x=-4:4", "--seed", "0", "-q")
    assert code == 0, text
    code, text = run("card", dp)
    assert code == 0, text
    privacy = _section(text, "Privacy")
    assert "| differential privacy | yes |" in privacy and "| ε budget | 1 |" in privacy
    assert "| metadata declared | x |" in privacy
    code, text = run("sample", dp, "-n", "20", "-o", tmp_path / "s.parquet", "-q")
    assert code == 0, text
    code, text = run("provenance", tmp_path / "s.parquet", "--model", dp)
    assert code == 0 and "spent of 1, δ = " in text and "verified:" in text, text


def test_neural_card_says_steps_and_why_training_stopped(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("ROMEO: But soft, what light through yonder window breaks?\n" * 30)
    model = tmp_path / "text.genlab"
    code, text = run("fit", corpus, "--data-kind", "text", "-o", model, "--seed", "0",
                     "-p", "layers=1", "-p", "d_model=16", "-p", "heads=2", "-p", "context=24",
                     "-p", "epochs=1", "-p", "epoch_size=32", "-p", "batch_size=16", "-q")
    assert code == 0, text
    code, text = run("card", model)
    assert code == 0, text
    training = _section(text, "Training")
    assert "| epochs | 1 |" in training and "| stopped by | epochs |" in training
    assert "| steps |" in training
    assert "trained 1 epoch" in training
    assert "tokens" in _section(text, "Data")
    code, text = run("card", model, "--test", corpus)
    assert code == 2 and "this is a sequence model" in text


@pytest.mark.parametrize("extra, message", [
    (["-o", "card.txt"], "unsupported output extension '.txt'"),
    (["--train", "train.csv"], "need --test"),
    (["--test", "missing.csv"], "missing.csv"),
])
def test_bad_inputs_are_one_line_errors(tmp_path, model_file, tables, extra, message,
                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, text = run("card", model_file, *extra)
    assert code == 2, text
    assert text.startswith("error: ") and message in text and text.count("\n") == 1


def test_not_a_model_file(tmp_path):
    bad = tmp_path / "bad.genlab"
    bad.write_bytes(b"nope")
    code, text = run("card", bad)
    assert code == 2 and text.startswith("error: ") and "Traceback" not in text
