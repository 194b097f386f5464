"""`genlab card m.genlab [-o card.html|card.md] [--test H [--train T]]`: the model card —
data fingerprint and column kinds, family, training (steps, what stopped it), evaluation
figures on held-out data when given, ε/δ when the model was fitted with differential
privacy, owner, licence, intended and out-of-scope uses. Markdown on the terminal without
-o; the file is written atomically. The sections come from `genlab._cards.card_sections`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from genlab.cli.app import ModelFile, Quiet, app, clean_errors, out

__all__ = ["card"]

CARD_SUFFIXES = (".html", ".htm", ".md")
CARD_SEED = 0  # the card's synthetic sample and scores are the same on every run


def _figures(scores: dict[str, Any], with_train: bool) -> list[tuple[str, str]]:
    """The evaluation's headline scores as card lines; without the training table the
    privacy and utility scores would compare the test table with itself, so they are left
    out and the card says so."""
    rows = []
    for key, card in (scores.get("summary") or {}).items():
        if not with_train and key in ("privacy_risk", "utility_gap"):
            continue
        value = card.get("value")
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        rows.append((key.replace("_", " "), f"{shown} ({card.get('verdict', '')}): "
                                            f"{card.get('meaning', '')}"))
    auc = ((scores.get("fidelity") or {}).get("detection") or {}).get("auc")
    if auc is not None:
        rows.append(("detection AUC", f"{auc:.3f} (0.5: indistinguishable from real)"))
    if not with_train:
        rows.append(("not measured", "privacy and utility need the training table: pass "
                                     "--train"))
    return rows


def _evaluation(model: Any, test: Path, train: Path | None, target: str | None,
                sensitive: str | None) -> list[tuple[str, str]]:
    from genlab.data.readers import read_table
    from genlab.errors import ParameterError
    from genlab.evaluate import evaluate

    if model.modality != "table":
        raise ParameterError(f"--test measures table models; this is a {model.modality} "
                             "model: leave --test out")
    real = read_table(test)
    synthetic = model.sample(len(real), seed=CARD_SEED)
    result = evaluate(train=train if train is not None else real, test=real,
                      synthetic=synthetic, target=target, sensitive=sensitive,
                      seed=CARD_SEED)
    rows = [("test data", f"{test} ({len(real):,} rows), against {len(real):,} sampled rows")]
    return rows + _figures(result.scores, train is not None)


@app.command()
@clean_errors
def card(
    model_file: ModelFile,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the card to .html or .md (default: Markdown on the "
                               "terminal).")] = None,
    test: Annotated[Path | None, typer.Option(
        "--test", help="Held-out real table: adds evaluation figures.")] = None,
    train: Annotated[Path | None, typer.Option(
        "--train", help="The training table, with --test: adds privacy and utility.")] = None,
    target: Annotated[str | None, typer.Option(
        "--target", help="Column to predict for utility and bias rates, with --test.")] = None,
    sensitive: Annotated[str | None, typer.Option(
        "--sensitive", help="Comma-separated columns checked for bias, with --test.")] = None,
    quiet: Quiet = False,
) -> None:
    """Write the model card of a model file: what it is, was fitted on, and is fit for."""
    from genlab.cli.outputs import check_input, check_output
    from genlab.errors import ParameterError

    for path, what in ((model_file, "model file"), (test, "--test table"),
                       (train, "--train table")):
        check_input(path, what, folder_ok=False)
    if test is None and any(v is not None for v in (train, target, sensitive)):
        raise ParameterError("--train, --target and --sensitive need --test (held-out real "
                             "rows to measure against)")
    check_output(output, inputs=[model_file, test, train], suffixes=CARD_SUFFIXES,
                 what="card")

    from genlab._atomic import atomic_path
    from genlab._cards import card_html, card_markdown, card_sections
    from genlab.api import load
    from genlab.provenance_files import privacy_of
    from genlab.store import read_model_file

    config, _ = read_model_file(model_file)
    model = load(model_file)
    evaluation = (_evaluation(model, test, train, target, sensitive)
                  if test is not None else None)
    recorded = getattr(model, "privacy_", None)  # a private fit's record (genlab.privacy)
    privacy = recorded if isinstance(recorded, dict) and recorded else privacy_of(config)
    sections = card_sections(model, privacy=privacy, evaluation=evaluation)
    title = f"Model card: {model_file.name}"
    if output is None:
        out.print(card_markdown(title, sections), highlight=False, markup=False)
        return
    text = (card_markdown(title, sections) if output.suffix.lower() == ".md"
            else card_html(title, sections, model))
    with atomic_path(output) as tmp:
        tmp.write_text(text, encoding="utf-8")
    if not quiet:
        out.print(f"wrote the model card -> {output}", highlight=False)
