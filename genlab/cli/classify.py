"""`genlab classify`: fit a generative (Bayes) classifier on a labelled table and predict
another, with an optional HTML report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

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
    pretrained: Annotated[Path | None, typer.Option(
        help="Fine-tune this pre-trained model's encoder instead (a table VAE, or a text "
             "Transformer for a table of one text column); --param then sets steps, lr, "
             "freeze, init.")] = None,
    param: Params = [],  # noqa: B006 (typer reads the default, never mutates it)
    report: Annotated[Path | None, typer.Option(
        help="HTML report (confusion matrix, calibration); needs the labels in --predict.")
    ] = None,
    learning_curve: Annotated[bool, typer.Option(
        "--learning-curve", help="Also fit on stratified subsamples of TRAIN and score "
                                 "each on --predict (in the report and printed).")] = False,
    seed: Seed = 0,
    mkdir: MakeDirs = False,
    quiet: Quiet = False,
) -> None:
    """Fit p(x, label) on TRAIN and classify --predict by Bayes' rule (or, with
    --pretrained, fine-tune a pre-trained encoder on TRAIN's labels)."""
    import numpy as np
    import pandas as pd

    from genlab.data.readers import read_table, write_table

    _check_paths(train, predict, output, report, mkdir=mkdir, quiet=quiet)
    table, new = read_table(train), read_table(predict)
    if target not in table.columns:
        raise DataError(f"--target {target!r} is not a column of {str(train)!r}; columns are "
                        f"{list(table.columns)}")
    truth = new[target].to_numpy() if target in new.columns else None
    if report is not None and truth is None:
        raise DataError(f"--report needs the true labels: {str(predict)!r} has no column "
                        f"{target!r}")
    make = _factory(model, pretrained, seed, parameter_values(param))
    features = _reader(make())
    if truth is None and learning_curve:
        raise DataError(f"--learning-curve needs the true labels: {str(predict)!r} has no "
                        f"column {target!r}")
    clf = make().fit(features(table.drop(columns=target)), table[target].to_numpy())
    proba = clf.predict_proba(features(new.drop(columns=[target], errors="ignore")))
    pred = clf.classes_[proba.argmax(axis=1)]
    if output is not None:
        frame = pd.DataFrame({"predicted": pred}).assign(
            **{f"p_{c}": proba[:, i] for i, c in enumerate(clf.classes_)})
        write_table(frame, output)
    labelled = truth is not None and not pd.isna(pd.Series(truth, dtype=object)).any()
    curve = None
    if learning_curve and labelled:
        from genlab.classify.report import learning_curve as measure

        curve = measure(make, features(table.drop(columns=target)), table[target].to_numpy(),
                        features(new.drop(columns=[target])), truth, seed=seed or 0)
    if report is not None:
        if not labelled:
            raise DataError(f"--report needs every label: column {target!r} of "
                            f"{str(predict)!r} has missing values")
        from genlab.classify.report import write_classify_report

        write_classify_report(report, truth, proba, list(clf.classes_), {
            "model": model if pretrained is None else f"fine-tuned {pretrained}",
            "target": target, "training rows": f"{len(table):,}",
            "training table": str(train), "predicted table": str(predict)}, curve=curve)
    if not quiet:
        hit = f", accuracy {np.mean(pred == truth):.4f}" if labelled else ""
        where = " -> " + ", ".join(str(p) for p in (output, report) if p is not None)
        by = model if pretrained is None else "a fine-tuned encoder"
        out.print(f"{len(new)} rows classified by {by} ({len(clf.classes_)} classes){hit}"
                  f"{where if output or report else ''}", highlight=False)
        for n, acc in curve or []:
            out.print(f"learning curve: {n:,} training rows, accuracy {acc:.4f}",
                      highlight=False)


def _check_paths(train: Path, predict: Path, output: Path | None, report: Path | None, *,
                 mkdir: bool, quiet: bool) -> None:
    """Refuse unreadable inputs and unwritable outputs before any work."""
    from genlab.data.readers import TABLE_SUFFIXES

    for path, what in ((train, "training table"), (predict, "table to predict")):
        check_input(path, what, folder_ok=False)
    check_output(output, inputs=[train, predict], suffixes=TABLE_SUFFIXES,
                 what="predictions table", mkdir=mkdir)
    check_output(report, inputs=[train, predict], suffixes=[".html"], what="report",
                 mkdir=mkdir)
    if output is None and report is None and quiet:
        raise ParameterError("nothing to do: give --output, --report or drop --quiet")


def _factory(model: str, pretrained: Path | None, seed: int | None,
             params: dict[str, object]) -> Callable[[], Any]:
    """A maker of fresh (unfitted) classifiers, one per fit."""
    if pretrained is None:
        from genlab.classify.classifier import GenerativeClassifier

        return lambda: GenerativeClassifier(model, random_state=seed, **params)
    from genlab.classify.finetuning import FineTunedClassifier
    from genlab.models.registry import load

    check_input(pretrained, "pre-trained model", folder_ok=False)
    base = load(pretrained)
    return lambda: FineTunedClassifier(base, random_state=seed, **params)


def _reader(clf: Any) -> Callable[[Any], Any]:
    """How a table's feature columns reach the classifier: as the table itself, or (for a
    text model) its one text column as a list of strings."""
    base = getattr(clf, "pretrained", None)
    if getattr(base, "modality", "table") != "sequence":
        return lambda frame: frame

    def texts(frame: Any) -> list[str]:
        if frame.shape[1] != 1:
            raise DataError(f"a text model reads one text column besides the target; the "
                            f"table has {list(frame.columns)}")
        return frame.iloc[:, 0].astype(str).tolist()

    return texts
