"""Command-line comforts: `--version`, `genlab models` in 80 columns with the defaults marked,
and `genlab demo --export DIR` (the README's adult.csv / adult_test.csv), with bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from genlab import ParameterError, __version__
from genlab.cli import app
from genlab.datasets import ADULT_FILES, adult_sample_path, load_adult_sample
from genlab.models.registry import DEFAULT_FAMILY, MODALITIES, families

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def genlab_cli(*args: str, columns: int) -> subprocess.CompletedProcess[str]:
    """`genlab ...` in a fresh interpreter with the terminal width set by COLUMNS."""
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-c", "from genlab.cli import main; main()", *args],
                          capture_output=True, text=True, env=env, check=False)


def test_version():
    code, text = run("--version")
    assert code == 0 and text.strip() == f"genlab {__version__}"


def test_models_fits_80_columns_and_marks_defaults():
    done = genlab_cli("models", columns=80)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    too_long = [line for line in lines if len(line) > 80]
    assert not too_long, too_long
    assert "…" not in done.stdout  # nothing cut short
    for modality in MODALITIES:
        default = DEFAULT_FAMILY[modality]
        plural = "tables" if modality == "table" else modality
        assert f"genlab model families: {plural} (default: {default})" in lines
        for name, cls in families(modality).items():
            head = f"{name}  {cls.__name__}"
            assert (f"{head}  (default)" if name == default else head) in lines
        # every family's "when to use" survives the wrapping, word for word
        for cls in families(modality).values():
            assert " ".join(cls.when_to_use.split()) in " ".join(done.stdout.split())


def test_models_wide_terminal_gets_the_table():
    done = genlab_cli("models", columns=400)
    assert done.returncode == 0, done.stderr
    assert "┃ name" in done.stdout and "copula (default)" in done.stdout


def test_export_writes_the_readme_files(tmp_path):
    folder = tmp_path / "new" / "data"
    code, text = run("demo", "--export", folder)
    assert code == 0, text
    assert sorted(p.name for p in folder.iterdir()) == sorted(ADULT_FILES)
    for name in ADULT_FILES:
        assert f"{folder / name}: " in text
    assert (folder / "adult_sample.csv").read_bytes() == adult_sample_path().read_bytes()
    train, test = pd.read_csv(folder / "adult.csv"), pd.read_csv(folder / "adult_test.csv")
    pd.testing.assert_frame_equal(train, load_adult_sample("train"))
    pd.testing.assert_frame_equal(test, load_adult_sample("test"))
    assert (len(train), len(test)) == (3000, 1000)
    whole = load_adult_sample()
    both = pd.concat([train, test]).sort_values(list(whole.columns)).reset_index(drop=True)
    pd.testing.assert_frame_equal(both, whole.sort_values(list(whole.columns))
                                  .reset_index(drop=True))
    attribution = (folder / "adult_ATTRIBUTION.md").read_text()
    assert "CC BY 4.0" in attribution and "adult_test.csv" in attribution
    # again: the same files are there already, nothing changes
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    code, text = run("demo", "--export", folder, "-q")
    assert code == 0 and text == ""
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_export_to_a_file_is_one_line_and_writes_nothing(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine\n")
    code, text = run("demo", "--export", target)
    assert code == 2
    assert text.strip().count("\n") == 0
    assert text.startswith("error: cannot export to ") and "is a file, not a folder" in text
    assert "Traceback" not in text
    assert target.read_text() == "mine\n" and sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_export_never_replaces_the_users_own_file(tmp_path):
    (tmp_path / "adult.csv").write_text("my,own\n1,2\n")
    code, text = run("demo", "--export", tmp_path)
    assert code == 2 and text.strip().count("\n") == 0
    assert "adult.csv' exists and is not genlab's adult.csv" in text
    assert (tmp_path / "adult.csv").read_text() == "my,own\n1,2\n"
    assert sorted(os.listdir(tmp_path)) == ["adult.csv"]  # all or nothing


def test_load_adult_sample_parts():
    assert load_adult_sample().shape == (4000, 15)
    with pytest.raises(ParameterError, match="part must be 'all', 'train' or 'test', got 'dev'"):
        load_adult_sample("dev")


def test_readme_says_how_to_get_a_cpu_torch():
    readme = (ROOT / "README.md").read_text()
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in readme
    assert "genlab demo --export ." in readme
