"""The command line: the main jobs end to end, and bad input as one line with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from genlab.cli import app

runner = CliRunner()


def run(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def table(tmp_path: Path, mixed_df: pd.DataFrame) -> Path:
    path = tmp_path / "train.csv"
    mixed_df.to_csv(path, index=False)
    return path


@pytest.fixture
def model_file(tmp_path: Path, table: Path) -> Path:
    out = tmp_path / "m.genlab"
    code, text = run("fit", table, "--model", "gaussian", "-o", out, "--seed", "0", "-q")
    assert code == 0, text
    return out


def test_fit_sample_score_roundtrip(tmp_path, table, model_file, mixed_df):
    code, text = run("sample", model_file, "-n", "200", "-o", tmp_path / "s.parquet",
                     "--seed", "1")
    assert code == 0, text
    synth = pd.read_parquet(tmp_path / "s.parquet")
    assert list(synth.columns) == list(mixed_df.columns) and len(synth) == 200
    prov = json.loads((tmp_path / "s.parquet.provenance.json").read_text())
    assert prov["family"] == "gaussian" and prov["seed"] == 1 and prov["n"] == 200
    code, text = run("score", model_file, table, "-o", tmp_path / "scores.csv")
    assert code == 0, text
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert len(scores) == len(mixed_df) and np.isfinite(scores["log_prob"]).all()


def test_sample_where_and_same_seed(tmp_path, model_file):
    outs = []
    for name in ("a.csv", "b.csv"):
        code, text = run("sample", model_file, "-n", "50", "-o", tmp_path / name,
                         "--where", "group=b", "--where", "flag=True", "--seed", "3", "-q")
        assert code == 0, text
        outs.append(pd.read_csv(tmp_path / name))
    pd.testing.assert_frame_equal(outs[0], outs[1])
    assert (outs[0]["group"] == "b").all() and outs[0]["flag"].all()


def test_fit_with_params_and_kinds(tmp_path, table):
    out = tmp_path / "mix.genlab"
    code, text = run("fit", table, "--model", "mixture", "-p", "n_components=2",
                     "--kind", "count=categorical", "-o", out, "-q")
    assert code == 0, text
    import genlab

    m = genlab.load(out)
    assert m.n_components_ == 2 and m.schema_.kinds["count"] == "categorical"


def test_models_lists_every_family():
    code, text = run("models")
    assert code == 0
    for name in ("gaussian", "mixture", "copula"):
        assert name in text


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (("fit", "{tmp}/nope.csv", "-o", "{tmp}/bad.genlab"), "file not found"),
        (("fit", "{tmp}/data.xlsx", "-o", "{tmp}/bad.genlab"), "file extension '.xlsx'"),
        (("fit", "{tmp}/empty.csv", "-o", "{tmp}/bad.genlab"), "is empty"),
        (("fit", "{tmp}/header.csv", "-o", "{tmp}/bad.genlab"), "header but no rows"),
        (("fit", "{tmp}/one.csv", "-o", "{tmp}/bad.genlab"), "at least 2 rows"),
        (("fit", "{tmp}/allmissing.csv", "-o", "{tmp}/bad.genlab"), "column 'b' has no values"),
        (("fit", "{tmp}/latin1.csv", "-o", "{tmp}/bad.genlab"), "not UTF-8"),
        (("fit", "{train}", "--model", "vea", "-o", "{tmp}/bad.genlab"), "unknown model 'vea'"),
        (("sample", "{model}", "-n", "0", "-o", "{tmp}/s.csv"), "n must be a positive integer"),
        (("sample", "{model}", "-o", "{tmp}/s.csv", "--where", "nope=1"), "unknown column 'nope'"),
        (("sample", "{model}", "-o", "{tmp}/s.csv", "--where", "group=zz"), "never seen"),
        (("sample", "{model}", "-o", "{tmp}/s.txt"), "unsupported output extension '.txt'"),
        (("sample", "{tmp}/fake.genlab", "-o", "{tmp}/s.csv"), "not a genlab model file"),
        (("score", "{model}", "{tmp}/fewer.csv"), "missing columns ['city']"),
        (("score", "{model}", "{tmp}/more.csv"), "unexpected columns ['extra']"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, table, model_file, mixed_df, args, phrase):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "data.xlsx").write_bytes(b"PK")
    (tmp_path / "header.csv").write_text("a,b\n")
    (tmp_path / "one.csv").write_text("a,b\n1,2\n")
    (tmp_path / "allmissing.csv").write_text("a,b\n1,\n2,\n3,\n")
    (tmp_path / "latin1.csv").write_bytes("name,v\nJos\xe9,1\nAna,2\n".encode("latin-1"))
    (tmp_path / "fake.genlab").write_text("not a model")
    mixed_df.drop(columns="city").to_csv(tmp_path / "fewer.csv", index=False)
    mixed_df.assign(extra=1).to_csv(tmp_path / "more.csv", index=False)
    filled = [a.format(tmp=tmp_path, train=table, model=model_file) for a in args]
    code, text = run(*filled)
    assert code == 2, text
    assert phrase in " ".join(text.split())
    assert "Traceback" not in text
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "bad.genlab").exists()


def test_failed_write_leaves_no_partial_file(tmp_path, model_file, monkeypatch):
    target = tmp_path / "s.csv"

    def boom(self, *a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(OSError, match="disk full"):
        runner.invoke(app, ["sample", str(model_file), "-o", str(target)], catch_exceptions=False)
    assert list(tmp_path.glob("s.csv*")) == []


def test_report_shows_bayesnet_graph(tmp_path, table):
    model = tmp_path / "bn.genlab"
    assert run("fit", table, "--model", "bayesnet", "-o", model, "-q")[0] == 0
    assert run("sample", model, "-n", "300", "-o", tmp_path / "s.csv", "-q")[0] == 0
    code, text = run("report", "--real", table, "--synthetic", tmp_path / "s.csv",
                     "--model", model, "-o", tmp_path / "r.html")
    assert code == 0, text
    html = (tmp_path / "r.html").read_text()
    assert "Learned dependency graph" in html and "BayesianNetwork" in html
