"""The example notebook: committed without outputs, and it runs top to bottom in a kernel of
this interpreter, showing the model, the evaluation and the report inline.

The kernel spec is installed into a temporary folder at test time (JUPYTER_PATH points there),
so the test needs no Jupyter set-up on the machine: a fresh clone with the `test` extra runs it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"
KERNEL = "genlab-test"


def _code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    cells = _code_cells(nb)
    assert cells, "the notebook has no code"
    for cell in cells:
        assert cell.outputs == [], f"cell {cell.id} has outputs; strip them before committing"
        assert cell.execution_count is None, f"cell {cell.id} has an execution count"
    assert "widgets" not in nb.metadata


def _html(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs
                   if o.output_type in ("execute_result", "display_data"))


def _cell(nb: nbformat.NotebookNode, starts: str) -> nbformat.NotebookNode:
    found = [c for c in _code_cells(nb) if c.source.startswith(starts)]
    assert len(found) == 1, f"expected one cell starting with {starts!r}"
    return found[0]


@pytest.mark.slow
def test_notebook_runs_and_displays_inline(tmp_path, monkeypatch):
    from ipykernel.kernelspec import install
    from nbclient import NotebookClient

    jupyter = tmp_path / "jupyter"
    # a kernel of this very interpreter (sys.executable), whatever the machine has installed
    install(kernel_name=KERNEL, prefix=str(jupyter), display_name="genlab test")
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter / "share" / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the suite runs two workers on two cores
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # the kernel imports this checkout's genlab even where it is not installed
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    work = tmp_path / "work"
    work.mkdir()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    spec = (jupyter / "share" / "jupyter" / "kernels" / KERNEL / "kernel.json").read_text()
    assert sys.executable.replace("\\", "\\\\") in spec
    # no per-cell time limit: a slow CPU is not a failure (a hang stops the run instead)
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=None, startup_timeout=300,
                            resources={"metadata": {"path": str(work)}})
    client.execute()  # raises CellExecutionError naming the cell on any error

    card = _html(_cell(nb, "model = genlab.GaussianCopula"))
    assert "genlab-card" in card and "GaussianCopula" in card and "3,000 rows" in card
    assert "<code>capital-gain</code>" in card
    evaluation = _html(_cell(nb, "result = genlab.evaluate"))
    assert "genlab evaluation" in evaluation and "quality" in evaluation
    report = _html(_cell(nb, "report = genlab.report"))
    assert "<iframe" in report and "srcdoc=" in report
    neural = _html(_cell(nb, "neural = "))
    assert "stopped by the step budget" in neural
    assert (work / "quickstart-report.html").stat().st_size > 10_000
    assert (work / "adult.genlab").stat().st_size > 0
    loaded = _html(_cell(nb, "path = model.save"))
    assert "adult.genlab" in loaded  # the loaded model's card names its file
