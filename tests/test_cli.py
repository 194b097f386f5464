"""The command line: the main jobs end to end, and bad input as one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
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
    result = runner.invoke(app, ["sample", str(model_file), "-o", str(target)],
                           catch_exceptions=False)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip() == f"error: disk full on {str(target)!r}; check the path and " \
        "try again"
    assert list(tmp_path.glob("s.csv*")) == [] and list(tmp_path.glob(".s.csv*")) == []


def test_report_shows_bayesnet_graph(tmp_path, table):
    model = tmp_path / "bn.genlab"
    assert run("fit", table, "--model", "bayesnet", "-o", model, "-q")[0] == 0
    assert run("sample", model, "-n", "300", "-o", tmp_path / "s.csv", "-q")[0] == 0
    code, text = run("report", "--real", table, "--synthetic", tmp_path / "s.csv",
                     "--model", model, "-o", tmp_path / "r.html")
    assert code == 0, text
    html = (tmp_path / "r.html").read_text()
    assert "Learned dependency graph" in html and "BayesianNetwork" in html


def test_score_writes_item_and_log_prob(tmp_path, table, model_file, mixed_df):
    code, text = run("score", model_file, table, "-o", tmp_path / "scores.parquet")
    assert code == 0, text
    assert f"{len(mixed_df)} rows scored" in text
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    assert list(scores.columns) == ["item", "log_prob"]
    assert scores["item"].tolist() == list(range(len(mixed_df)))


def test_models_lists_every_modality():
    from genlab.models import registry

    code, text = run("models")
    assert code == 0, text
    for modality in registry.MODALITIES:
        assert f"genlab model families: {'tables' if modality == 'table' else modality}" in text
        for name in registry.families(modality):
            assert name in text


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (("sample", "{model}", "-o", "{tmp}/s.csv", "--where", "group=a", "--where", "group=b"),
         "--where group= is given twice ('a' and 'b'); give it once"),
        (("sample", "{model}", "-o", "{tmp}/s.csv", "--where", "group"),
         "--where must look like name=value, got 'group'"),
        (("sample", "{model}", "-o", "{tmp}/s.csv", "--prompt", "ab"),
         "--prompt applies to models with a prompt option"),
        (("sample", "{model}", "-o", "{tmp}/s.csv", "-n", "abc"),
         "Invalid value for '-n'"),
        (("fit", "{tmp}/t.csv", "-o", "{tmp}/s.csv", "--bogus"), "No such option: --bogus"),
        (("nocommand",), "No such command 'nocommand'"),
        (("fit", "{tmp}/t.csv", "-o", "{tmp}/s.csv", "--data-kind", "sound"),
         "unknown kind of data 'sound'"),
        (("score", "{model}", "{tmp}/t.csv", "-o", "{tmp}/s.txt"),
         "unsupported output extension '.txt'"),
        (("report", "-o", "{tmp}/r.html", "--real", "{tmp}/t.csv"),
         "a table report needs --real and --synthetic tables"),
    ],
)
def test_usage_errors_are_one_line_exit_2(tmp_path, model_file, args, phrase):
    filled = [a.format(tmp=tmp_path, model=model_file) for a in args]
    code, text = run(*filled)
    assert code == 2, text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    assert phrase in lines[0]
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "s.txt").exists()


def test_repeating_the_same_where_value_is_fine(tmp_path, model_file):
    code, text = run("sample", model_file, "-n", "20", "-o", tmp_path / "s.csv",
                     "--where", "group=b", "--where", "group=b", "--seed", "0")
    assert code == 0, text
    assert "wrote 20 rows" in text and (pd.read_csv(tmp_path / "s.csv")["group"] == "b").all()


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)


def test_help_does_not_import_torch():
    done = _python(
        "import sys\n"
        "sys.argv = ['genlab', '--help']\n"
        "import genlab.cli\n"
        "try:\n"
        "    genlab.cli.main()\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "assert 'torch' not in sys.modules, 'genlab --help imported torch'\n"
        "heavy = ('genlab.models.table', 'genlab.models.image', 'genlab.models.sequence',\n"
        "         'genlab.models.series', 'genlab.nets')\n"
        "mods = [m for m in sys.modules if m.startswith(heavy)]\n"
        "assert not mods, f'genlab --help imported modalities: {mods}'\n")
    assert done.returncode == 0, done.stderr
    assert "fit" in done.stdout and "sample" in done.stdout


def test_import_genlab_does_not_import_torch():
    done = _python("import sys, genlab\nassert 'torch' not in sys.modules\n")
    assert done.returncode == 0, done.stderr


def test_main_turns_bad_values_into_one_line(tmp_path):
    done = _python(
        "import sys\n"
        f"sys.argv = ['genlab', 'sample', {str(tmp_path / 'm.genlab')!r}, '-o', 'x.csv', "
        "'-n', 'abc']\n"
        "import genlab.cli\n"
        "genlab.cli.main()\n")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().startswith("error: Invalid value for '-n'")
    assert len(done.stderr.strip().splitlines()) == 1 and "╭" not in done.stderr


TEXT = "ROMEO: But soft, what light through yonder window breaks?\n" * 40


def test_sequence_model_sample_prompt_where_and_score(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    model = tmp_path / "text.genlab"
    code, text = run("fit", corpus, "--data-kind", "text", "-o", model, "--seed", "0",
                     "-p", "layers=1", "-p", "d_model=16", "-p", "heads=2", "-p", "context=24",
                     "-p", "epochs=1", "-p", "epoch_size=32", "-p", "batch_size=16")
    assert code == 0, text
    assert "items" in text
    out = tmp_path / "samples.txt"
    code, text = run("sample", model, "-n", "2", "--prompt", "ROMEO:", "--where", "length=20",
                     "-o", out, "--seed", "1")
    assert code == 0, text
    assert str(out) in text
    prov = json.loads((tmp_path / "samples.txt.provenance.json").read_text())
    assert prov["seed"] == 1 and prov["n"] == 2
    code, text = run("score", model, corpus, "-o", tmp_path / "scores.csv")
    assert code == 0, text
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert list(scores.columns) == ["item", "log_prob"] and np.isfinite(scores["log_prob"]).all()
