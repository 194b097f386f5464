"""The main job: `genlab demo` on the embedded data writes outputs and a report that renders."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from genlab.cli import app
from genlab.datasets import load_adult_sample
from tests.test_report import assert_renders_in_chromium


def test_demo_writes_everything_and_report_renders(tmp_path):
    out = tmp_path / "genlab-demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "report-copula.html" in result.output
    real = load_adult_sample()
    for family in ("gaussian", "copula"):
        synth = pd.read_csv(out / f"synthetic-{family}.csv")
        assert list(synth.columns) == list(real.columns) and len(synth) == len(real)
        for col in ("workclass", "education", "income"):
            assert set(synth[col].dropna()) <= set(real[col].dropna())
        prov = json.loads((out / f"synthetic-{family}.csv.provenance.json").read_text())
        assert prov["family"] == family and prov["training_items"] == len(real)
        assert (out / f"{family}.genlab").stat().st_size > 0
    images = assert_renders_in_chromium(out / "report-copula.html")
    assert images >= len(real.columns)


def test_embedded_sample_has_attribution():
    from genlab.datasets import adult_sample_path

    path = adult_sample_path()
    assert len(load_adult_sample()) == 4000
    assert "CC BY 4.0" in (path.parent / "ATTRIBUTION.md").read_text()
