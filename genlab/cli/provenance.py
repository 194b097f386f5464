"""`genlab provenance FILE [--model m.genlab]`: what is known about where a genlab output came
from (the provenance inside a Parquet, PNG or MIDI file, else its JSON sidecar), and, given a
model file, whether that model made it.

An image is also searched for the invisible watermark of the model id (`genlab.watermark`),
a text (.txt) for the green-list watermark keyed on the model (`genlab.watermark_text`, z, p):
the model named by its provenance, by --model, or the key given by --key, which lets a JPEG,
a screenshot or a pasted text that lost its metadata be traced to its model.

Exit codes: 0 the provenance was found (and, with --model, matches the model: "verified"),
or, for an image without provenance, the model's watermark was found; 1 it names another
model or the image lacks the model's watermark (one `mismatch:` line); 2 bad input: no such
file, not a genlab output, no provenance found, an unreadable model file (`error:` line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from genlab.cli.app import Quiet, app, clean_errors, out

__all__ = ["EXIT_MISMATCH", "provenance"]

EXIT_MISMATCH = 1
_NOT_RECORDED = "not recorded"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
TEXT_SUFFIXES = (".txt", ".md")  # text samples: the green-list watermark (watermark_text)


def _id_of(prov: dict[str, Any]) -> str | None:
    from genlab.provenance_files import model_id

    if prov.get("model_id"):
        return str(prov["model_id"])
    keys = ("family", "training_fingerprint", "model_created_at")
    if not all(prov.get(k) for k in keys):
        return None
    return model_id(*(str(prov[k]) for k in keys))


def _privacy_text(figures: dict[str, Any]) -> str:
    if not figures:
        return "no differential-privacy figures (ε) recorded"
    def num(value: Any) -> str:
        return f"{value:g}" if isinstance(value, int | float) else str(value)

    spent = figures.get("epsilon_spent")
    parts = [f"ε = {num(spent)} spent of {num(figures.get('epsilon'))}" if spent is not None
             else f"ε = {num(figures.get('epsilon'))}"]
    if figures.get("delta") is not None:
        parts.append(f"δ = {num(figures['delta'])}")
    if figures.get("mechanism"):
        parts.append(str(figures["mechanism"]))
    if figures.get("noise_multiplier") is not None:  # DP-SGD (genlab.privacy.dpsgd)
        parts.append(f"noise multiplier {num(figures['noise_multiplier'])}, clip "
                     f"{num(figures.get('max_grad_norm'))}, {num(figures.get('steps'))} steps "
                     f"at sample rate {num(figures.get('sample_rate'))}")
    return ", ".join(parts)


def _facts(prov: dict[str, Any], model: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Label/value lines of what the provenance (and the model file, for owner and licence)
    says."""
    from genlab.provenance_files import privacy_of

    recorded = (model or {}).get("provenance") or {}
    fingerprint = prov.get("training_fingerprint")
    items = prov.get("training_items")
    data = (f"fingerprint {fingerprint}" if fingerprint else _NOT_RECORDED) + (
        f", {items:,} rows/items" if isinstance(items, int) else "")
    family = f"{prov.get('family', _NOT_RECORDED)}" + (
        f" ({prov['modality']})" if prov.get("modality") else "")
    rows = [("model id", _id_of(prov) or _NOT_RECORDED), ("family", family),
            ("training data", data),
            ("model created", str(prov.get("model_created_at") or _NOT_RECORDED)),
            ("generated", str(prov.get("generated_at") or _NOT_RECORDED)),
            ("seed", str(prov["seed"]) if prov.get("seed") is not None else _NOT_RECORDED)]
    if prov.get("n") is not None:
        rows.append(("samples", str(prov["n"])))
    for key in ("owner", "licence"):
        value = prov.get(key) or recorded.get(key)
        source = "" if prov.get(key) or not recorded.get(key) else " (from the model file)"
        rows.append((key, f"{value}{source}" if value else _NOT_RECORDED))
    rows.append(("privacy", _privacy_text(privacy_of(prov) or privacy_of(model))))
    if prov.get("generator"):
        rows.append(("generator", str(prov["generator"])))
    return rows


def _short(value: Any) -> str:
    text = str(value or "")
    return text[:16] + "…" if len(text) > 20 else text


def _mismatches(prov: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """What the output's provenance says that the model file does not."""
    training = config.get("training") or {}
    made = (config.get("provenance") or {}).get("created_at")
    pairs = (("family", prov.get("family"), config.get("family")),
             ("training-data fingerprint", prov.get("training_fingerprint"),
              training.get("fingerprint")),
             ("model creation time", prov.get("model_created_at"), made))
    return [f"{what} {_short(theirs)!r} in the output, {_short(ours)!r} in the model"
            for what, theirs, ours in pairs if str(theirs or "") != str(ours or "")]


def _text_watermark(file: Path, key: str | None) -> tuple[str | None, bool | None]:
    """(a `text watermark:` line, whether it was found) for a text file: the z-test over the
    distinct character pairs of its samples (`genlab.watermark_text`)."""
    if key is None:
        return "text watermark: not checked (no model id known: pass --model or --key)", None
    from genlab.data.sequences.writers import TEXT_SEPARATOR
    from genlab.watermark_text import detect

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return "text watermark: not checked (the file is not UTF-8 text)", None
    found = detect(text.rstrip("\n").split(TEXT_SEPARATOR), key)
    return found.line(), found.found if found.pairs else None


def _watermark(file: Path, ident: str | None) -> tuple[str | None, bool | None]:
    """(a `watermark:` line, whether the model's mark was found) for an image or a text;
    (None, None) for other files, and found None when it could not be checked."""
    if file.suffix.lower() in TEXT_SUFFIXES and file.is_file():
        return _text_watermark(file, ident)
    if file.suffix.lower() not in IMAGE_SUFFIXES or not file.is_file():
        return None, None
    from genlab import watermark

    if not watermark.available():
        return "watermark: not checked (install genlab[watermark])", None
    if ident is None:
        return "watermark: not checked (no model id known: pass --model)", None
    from genlab.data.images import read_png

    image = read_png(file)
    if not watermark.can_mark(image.shape):
        return (f"watermark: none (an image of {image.shape[0]} x {image.shape[1]} is too "
                "small to hold one)"), None
    found, acc = watermark.detect(image, ident)
    return (f"watermark: {'found' if found else 'not found'} for model id {ident} "
            f"({round(acc * watermark.BITS)} of {watermark.BITS} bits match; "
            f"{round(watermark.FOUND_AT * watermark.BITS)} needed)"), found


def _mark_key(file: Path, config: dict[str, Any] | None, prov: dict[str, Any]) -> str | None:
    """The key a watermark in `file` would carry: a text's `text_key` (from the model file,
    else the provenance's record), an image's model id."""
    if file.suffix.lower() not in TEXT_SUFFIXES:
        return _config_id(config) if config else _id_of(prov)
    if config:
        from genlab.watermark_text import text_key

        return text_key(str(config.get("family")), str((config.get("training") or {}).get(
            "fingerprint")), (config.get("provenance") or {}).get("seed"))
    mark = prov.get("watermark")
    return str(mark["key_id"]) if isinstance(mark, dict) and mark.get("key_id") else None


def _config_id(config: dict[str, Any]) -> str:
    from genlab.provenance_files import model_id

    made = str((config.get("provenance") or {}).get("created_at", ""))
    training = config.get("training") or {}
    return model_id(str(config.get("family")), str(training.get("fingerprint")), made)


@app.command()
@clean_errors
def provenance(
    file: Annotated[Path, typer.Argument(help="A genlab output: .parquet, .png, .mid, .csv, "
                                              ".txt, ... or a folder of samples.")],
    model: Annotated[Path | None, typer.Option(
        "--model", "-m", help="A .genlab model file to verify the output against.")] = None,
    key: Annotated[str | None, typer.Option(
        help="Text: the watermark key to test for without the model (its provenance's "
        "watermark key_id).")] = None,
    quiet: Quiet = False,
) -> None:
    """Show where a genlab output came from; with --model, check that model made it."""
    from genlab.cli.outputs import check_input
    from genlab.errors import DataError
    from genlab.provenance_files import read_provenance

    check_input(file, "output")
    check_input(model, "model file", folder_ok=False)
    config = None
    if model is not None:
        from genlab.store import read_model_file

        config, _ = read_model_file(model)
    try:
        prov, where = read_provenance(file)
    except DataError as error:
        suffix = file.suffix.lower()
        image = suffix in IMAGE_SUFFIXES + TEXT_SUFFIXES and file.is_file()
        if image and config is None and key is None and "no genlab provenance" in str(error):
            raise DataError(f"{error}; for an image or a text, pass --model m.genlab to look "
                            "for its watermark") from None
        if (config is None and key is None) or not image:
            raise
        prov, where = {}, ""  # an output that lost its metadata: its watermark may remain
    mark, found = _watermark(file, key or _mark_key(file, config, prov))
    if not quiet:
        if prov:
            out.print(f"{file}: genlab output (provenance in the {where})", highlight=False)
            width = max(len(k) for k, _ in _facts(prov, config))
            for key, value in _facts(prov, config):
                out.print(f"  {key:<{width}}  {value}", highlight=False)
        else:
            out.print(f"{file}: no provenance in or beside it; looking for the watermark of "
                      f"{model or key}", highlight=False)
        if mark:
            out.print(f"  {mark}", highlight=False)
    if config is None:
        if not prov and not found:  # --key alone, on a file without provenance
            raise typer.Exit(EXIT_MISMATCH)
        return
    wrong = _mismatches(prov, config) if prov else [] if found else [
        "the file has neither provenance nor this model's watermark"]
    if wrong:
        out.print(f"mismatch: {file} was not generated by {model}: {'; '.join(wrong)}",
                  highlight=False)
        raise typer.Exit(EXIT_MISMATCH)
    how = "" if prov else " (by its watermark)"
    out.print(f"verified{how}: {file} was generated by {model} (model id "
              f"{_config_id(config)})", highlight=False)
