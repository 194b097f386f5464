"""Hostile command lines: outputs that would destroy inputs, OS errors, partial outputs and
temp files, unbounded work. Each case is one line `error: ...`, exit code 2, and every input
file byte for byte unchanged (hashed before and after)."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from genlab import _atomic
from genlab.cli import app

runner = CliRunner()


def run(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train.csv, a gaussian model m.genlab, a synthetic s.csv and a series ts.csv."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("base")
    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame({"x1": rng.normal(size=n).round(3), "x2": rng.normal(size=n).round(3),
                       "group": rng.choice(["a", "b"], size=n)})
    df.to_csv(folder / "train.csv", index=False)
    code, text = run("fit", folder / "train.csv", "--model", "gaussian", "-o",
                     folder / "m.genlab", "--seed", "0", "-q")
    assert code == 0, text
    df.sample(frac=1.0, random_state=1).to_csv(folder / "s.csv", index=False)
    (folder / "imgs").mkdir()
    for i in range(2):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(folder / "imgs" / f"{i}.png")
    return folder


@pytest.fixture
def ws(base: Path, tmp_path: Path) -> Path:
    """A fresh copy of `base` per test."""
    shutil.copytree(base, tmp_path, dirs_exist_ok=True)
    return tmp_path


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(ws: Path, args: list[str | Path], phrase: str) -> str:
    """Run, and check: exit 2, one `error:` line holding `phrase`, every file unchanged,
    no new file and no temp file left."""
    before = _hashes(ws)
    code, text = run(*args)
    lines = [line for line in text.splitlines() if line.strip()]
    assert code == 2, text
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    assert phrase in lines[0], lines[0]
    assert _hashes(ws) == before, "an input or an existing file was changed"
    assert not list(ws.rglob("*.tmp")), "a temp file stayed behind"
    return lines[0]


# -- 1. outputs never overwrite inputs -------------------------------------------------------
OVERWRITE = {
    "fit_o_is_the_training_csv": (["fit", "{ws}/train.csv", "-o", "{ws}/train.csv"],
                                  "unsupported output extension '.csv' for model file"),
    "fit_o_wrong_extension_txt": (["fit", "{ws}/train.csv", "-o", "{ws}/m.txt"],
                                  "unsupported output extension '.txt'"),
    "fit_o_inside_the_image_folder": (["fit", "{ws}/imgs", "-o", "{ws}/imgs/m.genlab"],
                                      "is inside the input folder"),
    "fit_o_existing_non_model_genlab": (["fit", "{ws}/train.csv", "-o", "{ws}/notzip.genlab"],
                                        "exists and is not a .genlab file"),
    "sample_o_is_the_model": (["sample", "{ws}/m.genlab", "-o", "{ws}/m.genlab"],
                              "ends in .genlab, the extension of model files"),
    "sample_o_symlink_to_the_model": (["sample", "{ws}/m.genlab", "-o", "{ws}/link.csv"],
                                      "is also an input of this command"),
    "sample_o_existing_non_parquet": (["sample", "{ws}/m.genlab", "-o", "{ws}/text.parquet"],
                                      "exists and is not a .parquet file"),
    "sample_o_dev_null_device": (["sample", "{ws}/m.genlab", "-o", "/dev/null"],
                                 "exists and is not a regular file"),
    "score_o_is_the_data": (["score", "{ws}/m.genlab", "{ws}/train.csv", "-o", "{ws}/train.csv"],
                            "is also an input of this command"),
    "score_o_hard_link_of_the_data": (["score", "{ws}/m.genlab", "{ws}/train.csv", "-o",
                                       "{ws}/hard.csv"], "is also an input of this command"),
    "score_o_is_the_model": (["score", "{ws}/m.genlab", "{ws}/train.csv", "-o", "{ws}/m.genlab"],
                             "unsupported output extension '.genlab'"),
    "report_o_is_the_real_csv": (["report", "--real", "{ws}/train.csv", "--synthetic",
                                  "{ws}/s.csv", "-o", "{ws}/train.csv"],
                                 "unsupported output extension '.csv' for report"),
    "report_o_is_the_model": (["report", "--real", "{ws}/train.csv", "--synthetic", "{ws}/s.csv",
                               "--model", "{ws}/m.genlab", "-o", "{ws}/m.genlab"],
                              "unsupported output extension '.genlab' for report"),
    "evaluate_o_is_the_train_csv": (["evaluate", "--train", "{ws}/train.csv", "--test",
                                     "{ws}/s.csv", "--synthetic", "{ws}/s.csv", "-o",
                                     "{ws}/train.csv"], "unsupported output extension '.csv'"),
    "detect_o_is_the_data": (["detect", "{ws}/train.csv", "-o", "{ws}/train.csv"],
                             "is also an input of this command"),
    "detect_o_is_the_fit_on_data": (["detect", "{ws}/s.csv", "--fit-on", "{ws}/train.csv", "-o",
                                     "{ws}/train.csv"], "is also an input of this command"),
    "detect_o_is_the_saved_model": (["detect", "{ws}/train.csv", "--model", "{ws}/m.genlab",
                                     "-o", "{ws}/m.genlab"], "unsupported output extension"),
    "detect_points_is_the_data": (["detect", "{ws}/train.csv", "--time", "t", "-o",
                                   "{ws}/out.csv", "--points", "{ws}/train.csv"],
                                  "--points table"),
    "detect_report_is_a_csv": (["detect", "{ws}/train.csv", "-o", "{ws}/out.csv", "--report",
                                "{ws}/r.csv"], "unsupported output extension '.csv' for report"),
    "detect_o_and_points_same_file": (["detect", "{ws}/train.csv", "--time", "t", "-o",
                                       "{ws}/out.csv", "--points", "{ws}/out.csv"],
                                      "two outputs of this command are the same file"),
}


@pytest.mark.parametrize("case", list(OVERWRITE), ids=list(OVERWRITE))
def test_output_never_overwrites_an_input(ws, case):
    (ws / "notzip.genlab").write_text("my notes, not a model")
    (ws / "text.parquet").write_text("not parquet")
    (ws / "link.csv").symlink_to(ws / "m.genlab")
    os.link(ws / "train.csv", ws / "hard.csv")
    args, phrase = OVERWRITE[case]
    refused(ws, [a.format(ws=ws) for a in args], phrase)


# -- 2. detect never overwrites an input column ----------------------------------------------
@pytest.mark.parametrize("column", ["anomaly_score", "anomaly_flag", "anomaly_columns"])
def test_detect_refuses_input_column_it_would_overwrite(ws, column):
    df = pd.read_csv(ws / "train.csv").assign(**{column: 1.0})
    df.to_csv(ws / "with_col.csv", index=False)
    line = refused(ws, ["detect", ws / "with_col.csv", "--model", "gaussian", "-o",
                        ws / "out.csv"], f"already has column(s) ['{column}']")
    assert "rename or drop them" in line and not (ws / "out.csv").exists()


# -- 3. OS errors are one line ---------------------------------------------------------------
def test_output_folder_read_only_is_refused_before_work(ws, monkeypatch):
    (ws / "ro").mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if Path(p) == ws / "ro"
                        else real_access(p, mode, **k))
    refused(ws, ["sample", ws / "m.genlab", "-o", ws / "ro" / "s.csv"],
            f"cannot write in folder '{ws / 'ro'}' (read-only or no permission)")


@pytest.mark.parametrize(("code", "phrase"), [
    (errno.EROFS, "is on a read-only file system; write somewhere else"),
    (errno.EACCES, "permission denied on"),
], ids=["read_only_file_system_at_write", "permission_denied_at_write"])
def test_os_error_at_write_is_one_line_naming_the_output(ws, monkeypatch, code, phrase):
    def deny(*a, **k):
        raise OSError(code, os.strerror(code), str(ws / ".s.csv.abcdefgh.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", deny)
    line = refused(ws, ["sample", ws / "m.genlab", "-o", ws / "s2.csv"], phrase)
    assert str(ws / "s2.csv") in line and ".tmp" not in line


def test_output_path_that_is_a_folder(ws):
    (ws / "dir.csv").mkdir()
    refused(ws, ["score", ws / "m.genlab", ws / "train.csv", "-o", ws / "dir.csv"],
            "is a folder; give a file path")


def test_output_parent_that_is_a_file(ws):
    refused(ws, ["score", ws / "m.genlab", ws / "train.csv", "-o", ws / "train.csv" / "o.csv"],
            f"'{ws / 'train.csv'}' is a file, not a folder")


def test_output_into_a_missing_folder_is_refused(ws):
    refused(ws, ["sample", ws / "m.genlab", "-o", ws / "nope" / "deeper" / "s.csv"],
            "does not exist; create it or pass --mkdir")
    assert not (ws / "nope").exists()


def test_mkdir_creates_the_missing_folder(ws):
    code, text = run("sample", ws / "m.genlab", "-n", "10", "-o", ws / "new" / "s.csv", "--mkdir")
    assert code == 0, text
    assert len(pd.read_csv(ws / "new" / "s.csv")) == 10


def test_full_disk_writing_the_table(ws, monkeypatch):
    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    line = refused(ws, ["sample", ws / "m.genlab", "-o", ws / "s2.csv"],
                   "no space left on the device while writing")
    assert str(ws / "s2.csv") in line and not list(ws.glob("s2.csv*"))


def test_full_disk_at_the_provenance_sidecar_leaves_no_table(ws, monkeypatch):
    real_write = Path.write_text

    def full(self, *a, **k):
        if ".provenance.json" in self.name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", full)
    line = refused(ws, ["sample", ws / "m.genlab", "-o", ws / "s2.csv"], "no space left")
    assert "s2.csv.provenance.json" in line
    assert not list(ws.glob("s2.csv*")), "a table was left without its provenance"


def test_full_disk_saving_the_model(ws, monkeypatch):
    import zipfile

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", full)
    line = refused(ws, ["fit", ws / "train.csv", "--model", "gaussian", "-o", ws / "m2.genlab"],
                   "no space left on the device while writing")
    assert str(ws / "m2.genlab") in line and not (ws / "m2.genlab").exists()


def test_permission_denied_on_the_input(ws, monkeypatch):
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if Path(p) == ws / "train.csv"
                        else real_access(p, mode, **k))
    refused(ws, ["fit", ws / "train.csv", "-o", ws / "m2.genlab"], "is not readable")


def test_permission_denied_while_reading_the_input(ws, monkeypatch):
    def deny(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(ws / "train.csv"))

    monkeypatch.setattr(pd, "read_csv", deny)
    refused(ws, ["score", ws / "m.genlab", ws / "train.csv", "-o", ws / "sc.csv"],
            "Permission denied")


# -- 4. partial outputs and temp files -------------------------------------------------------
def test_detect_report_failure_leaves_no_table(ws, monkeypatch):
    import genlab.report.anomaly as anomaly_report

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(ws / "r.html"))

    monkeypatch.setattr(anomaly_report, "write_anomaly_report", full)
    refused(ws, ["detect", ws / "train.csv", "--model", "gaussian", "-o", ws / "out.csv",
                 "--report", ws / "r.html"], "no space left")
    assert not list(ws.glob("out.csv*")) and not (ws / "r.html").exists()


def test_stale_temp_files_are_swept_on_the_next_write(ws, monkeypatch):
    stale = ws / ".s2.csv.abcd1234.tmp"
    fresh = ws / ".s2.csv.zzzz9999.tmp"
    other = ws / ".not-genlab.tmp"
    for p in (stale, fresh, other):
        p.write_bytes(b"x" * 100)
    old = time.time() - 2 * _atomic.STALE_SECONDS
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    monkeypatch.setattr(_atomic, "_SWEPT", {})
    code, text = run("sample", ws / "m.genlab", "-n", "5", "-o", ws / "s2.csv")
    assert code == 0, text
    assert not stale.exists(), "a day-old genlab temp file was not swept"
    assert fresh.exists() and other.exists(), "a fresh temp or another program's file was removed"


# -- 5. bounded work and inputs that are not files -------------------------------------------
NOT_FILES = {
    "sample_model_is_dev_zero": (["sample", "/dev/zero", "-o", "{ws}/s2.csv"],
                                 "is not a regular file"),
    "sample_model_is_a_fifo": (["sample", "{ws}/fifo", "-o", "{ws}/s2.csv"],
                               "is not a regular file"),
    "sample_model_is_a_folder": (["sample", "{ws}/imgs", "-o", "{ws}/s2.csv"], "is a folder"),
    "fit_data_is_dev_zero": (["fit", "/dev/zero", "-o", "{ws}/m2.genlab"],
                             "is not a regular file"),
    "score_data_is_dev_zero": (["score", "{ws}/m.genlab", "/dev/zero"], "is not a regular file"),
    "detect_data_is_a_fifo": (["detect", "{ws}/fifo", "-o", "{ws}/out.csv"],
                              "is not a regular file"),
}


@pytest.mark.parametrize("case", list(NOT_FILES), ids=list(NOT_FILES))
def test_input_that_is_not_a_regular_file(ws, case):
    os.mkfifo(ws / "fifo")
    args, phrase = NOT_FILES[case]
    # a FIFO without a writer blocks whoever opens it and /dev/zero never ends: the refusal
    # returning at all shows neither was read (a hang would stop the run, not pass it)
    refused(ws, [a.format(ws=ws) for a in args], phrase)


def test_sample_a_trillion_rows_is_refused_at_once(ws):
    line = refused(ws, ["sample", ws / "m.genlab", "-n", "1000000000000", "-o", ws / "s2.csv"],
                   "-n 1000000000000 needs about")
    assert "TB of memory" in line and "--max-memory" in line
    assert not (ws / "s2.csv").exists()  # refused before any row was drawn or written


def test_sample_above_a_raised_budget_names_the_flag(ws):
    line = refused(ws, ["sample", ws / "m.genlab", "-n", "200000", "--max-memory", "2MB",
                        "-o", ws / "s2.csv"], "above the budget of 2.0 MB")
    assert "raise the budget with --max-memory" in line


def test_max_memory_that_is_not_a_size(ws):
    refused(ws, ["sample", ws / "m.genlab", "--max-memory", "lots", "-o", ws / "s2.csv"],
            "--max-memory must be a size such as 8GB or 512MB, got 'lots'")


def test_sample_within_budget_is_written(ws):
    code, text = run("sample", ws / "m.genlab", "-n", "20000", "-o", ws / "big.parquet",
                     "--seed", "0")
    assert code == 0, text
    assert len(pd.read_parquet(ws / "big.parquet")) == 20000


def test_max_columns_reaches_the_table_reader(ws):
    refused(ws, ["fit", ws / "train.csv", "--max-columns", "2", "-o", ws / "m2.genlab"],
            "--max-columns")


# -- 6. progress while reading ---------------------------------------------------------------
def test_fit_shows_progress_while_reading_the_table(ws, monkeypatch):
    import contextlib

    import genlab._progress as progress

    shown: list[str] = []
    real_task = progress.task

    @contextlib.contextmanager
    def spy(description, total):
        shown.append(description)
        with real_task(description, total) as advance:
            yield advance

    monkeypatch.setattr(progress, "task", spy)
    code, text = run("fit", ws / "train.csv", "--model", "gaussian", "-o", ws / "m2.genlab")
    assert code == 0, text
    assert "reading train.csv" in shown and "reading took" in text
    code, text = run("fit", ws / "train.csv", "--model", "gaussian", "-o", ws / "m3.genlab",
                     "-q")
    assert code == 0 and text.strip() == ""
