"""The main job on the embedded data: fit, sample, report (what `genlab demo` runs)."""

from __future__ import annotations

import os
from pathlib import Path

from genlab.api import make_model, report
from genlab.data.writers import write_output
from genlab.datasets import adult_sample_path, load_adult_sample

__all__ = ["DEMO_FAMILIES", "run_demo"]

DEMO_FAMILIES = ("gaussian", "copula")


def run_demo(outdir: str | os.PathLike[str] = "genlab-demo", *, seed: int = 0) -> dict[str, Path]:
    """Fit each demo family to the embedded Adult sample, sample as many rows, and write
    the synthetic CSV, the model file and an HTML report per family into `outdir`."""
    out = Path(outdir)
    real = load_adult_sample()
    written: dict[str, Path] = {}
    for name in DEMO_FAMILIES:
        model = make_model(name, seed=seed).fit(adult_sample_path())
        synthetic = model.sample(len(real), seed=seed)
        written[f"{name} synthetic"] = write_output(synthetic, out / f"synthetic-{name}.csv")
        written[f"{name} model"] = model.save(out / f"{name}.genlab")
        written[f"{name} report"] = report(
            real, synthetic, out / f"report-{name}.html", model=model,
            title=f"genlab demo: {type(model).__name__} on the UCI Adult sample",
        )
    return written
