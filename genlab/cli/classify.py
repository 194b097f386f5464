"""`genlab classify`: fit a generative (Bayes) classifier on a labelled table and predict
another, with an optional HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genlab.cli.app import Params, Quiet, Seed, app, clean_errors, out, parameter_values
from genlab.cli.outputs import MakeDirs, check_input, check_output
from genlab.errors import DataError, ParameterError

__all__ = ["classify"]


@app.command()
@clean_errors
def classify(
    train: Annotated[Path, typer.Argument(help="Labelled table to fit on (CSV / Parquet).")],
    target: Annotated[str, typer.Option("--target", "-t", help="The label column.")],
    predict: Annotated[Path, typer.Option(
        "--predict", help="Table to predict (its label column, if present, is scored).")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Predictions table: predicted, then p_<class> per class.")] = None,
    model: Annotated[str, typer.Option(
        "--model", "-m", help="Table family with a likelihood.")] = "bayesnet",
    param: Params = [],  # noqa: B006 (typer reads the default, never mutates it)
    report: Annotated[Path | None, typer.Option(
        help="HTML report (confusion matrix, calibration); needs the labels in --predict.")
    ] = None,
    seed: Seed = 0,
    mkdir: MakeDirs = False,
    quiet: Quiet = False,
) -> None:
    """Fit p(x, label) on TRAIN and classify --predict by Bayes' rule."""
    import numpy as np
    import pandas as pd

    from genlab.classify.classifier import GenerativeClassifier
    from genlab.data.readers import TABLE_SUFFIXES, read_table, write_table

    for path, what in ((train, "training table"), (predict, "table to predict")):
        check_input(path, what, folder_ok=False)
    check_output(output, inputs=[train, predict], suffixes=TABLE_SUFFIXES,
                 what="predictions table", mkdir=mkdir)
    check_output(report, inputs=[train, predict], suffixes=[".html"], what="report",
                 mkdir=mkdir)
    if output is None and report is None and quiet:
        raise ParameterError("nothing to do: give --output, --report or drop --quiet")
    table, new = read_table(train), read_table(predict)
    if target not in table.columns:
        raise DataError(f"--target {target!r} is not a column of {str(train)!r}; columns are "
                        f"{list(table.columns)}")
    truth = new[target].to_numpy() if target in new.columns else None
    if report is not None and truth is None:
        raise DataError(f"--report needs the true labels: {str(predict)!r} has no column "
                        f"{target!r}")
    clf = GenerativeClassifier(model, random_state=seed, **parameter_values(param))
    clf.fit(table.drop(columns=target), table[target])
    proba = clf.predict_proba(new.drop(columns=[target], errors="ignore"))
    pred = clf.classes_[proba.argmax(axis=1)]
    if output is not None:
        frame = pd.DataFrame({"predicted": pred}).assign(
            **{f"p_{c}": proba[:, i] for i, c in enumerate(clf.classes_)})
        write_table(frame, output)
    labelled = truth is not None and not pd.isna(pd.Series(truth, dtype=object)).any()
    if report is not None:
        if not labelled:
            raise DataError(f"--report needs every label: column {target!r} of "
                            f"{str(predict)!r} has missing values")
        from genlab.classify.report import write_classify_report

        write_classify_report(report, truth, proba, list(clf.classes_), {
            "model": model, "target": target, "training rows": f"{len(table):,}",
            "training table": str(train), "predicted table": str(predict)})
    if not quiet:
        hit = f", accuracy {np.mean(pred == truth):.4f}" if labelled else ""
        where = " -> " + ", ".join(str(p) for p in (output, report) if p is not None)
        out.print(f"{len(new)} rows classified by {model} ({len(clf.classes_)} classes){hit}"
                  f"{where if output or report else ''}", highlight=False)
