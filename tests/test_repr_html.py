"""Notebook cards: `_repr_html_` of models (fitted or not, every family) and of evaluation
results, with user text (column names, categories, paths) escaped."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import genlab
from genlab._cards import MAX_COLUMNS_SHOWN, evaluation_card
from genlab.evaluate import EvaluationResult
from genlab.models import registry

HOSTILE = "<script>alert('x')</script>"
ALLOWED_TAGS = {"div", "span", "table", "thead", "tbody", "tr", "th", "td", "code", "b"}


class _Tags(HTMLParser):
    """Collects start tags and checks every opened tag is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.seen.add(tag)
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()


def check_markup(text: str) -> None:
    """Only the card's own tags, balanced: user text cannot open a tag or a script."""
    parser = _Tags()
    parser.feed(text)
    parser.close()
    assert parser.seen <= ALLOWED_TAGS, parser.seen - ALLOWED_TAGS
    assert not parser.open
    assert "<script" not in text.lower()


@pytest.fixture
def hostile_df(mixed_df: pd.DataFrame) -> pd.DataFrame:
    df = mixed_df.rename(columns={"group": HOSTILE, "x1": 'x1" onmouseover="alert(1)'})
    df[HOSTILE] = df[HOSTILE].map({"a": "<b>a</b>", "b": "b&b", "c": "c"})
    return df


def test_fitted_table_card_shows_family_rows_seed_and_columns(mixed_df):
    model = genlab.GaussianCopula(seed=7).fit(mixed_df)
    card = model._repr_html_()
    check_markup(card)
    assert "GaussianCopula" in card and "(copula, table model)" in card
    assert f"fitted on {len(mixed_df):,} rows" in card and "exact log_prob" in card
    assert ">7<" in card  # the seed
    for name in mixed_df.columns:
        assert f"<code>{name}</code>" in card
    assert "categorical" in card and "3 categories" in card
    assert f"{mixed_df['x2'].isna().mean():.1%}" in card  # its missing rate


def test_hostile_column_names_and_categories_are_escaped(hostile_df):
    model = genlab.Gaussian(seed=0).fit(hostile_df, conditions=[HOSTILE])
    card = model._repr_html_()
    check_markup(card)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in card
    assert 'onmouseover="' not in card and "&quot; onmouseover=&quot;" in card


def test_unfitted_card_of_every_family_of_every_modality():
    for modality in registry.MODALITIES:
        for name, cls in registry.families(modality).items():
            card = cls()._repr_html_()
            check_markup(card)
            assert "not fitted" in card and cls.__name__ in card, (modality, name)
            assert "defaults" in card


def test_unfitted_card_lists_changed_parameters():
    card = genlab.GaussianMixture(n_components=3, seed=1)._repr_html_()
    assert "n_components=3" in card and "seed=1" in card


def test_saved_and_loaded_models_show_their_file(tmp_path, mixed_df):
    model = genlab.Gaussian(seed=0).fit(mixed_df)
    assert model.file_path_ is None and ">file<" not in model._repr_html_()
    path = model.save(tmp_path / "m.genlab")
    size = path.stat().st_size
    card = model._repr_html_()
    assert str(path) in card and ("KB" in card or "bytes" in card)
    loaded = genlab.load(path)
    assert loaded.file_path_ == str(path) and str(path) in loaded._repr_html_()
    assert f"{size / 1000:.1f} KB" in card or f"{size:,} bytes" in card
    path.unlink()
    assert "no longer there" in loaded._repr_html_()
    model.fit(mixed_df)  # a refit model is no longer the saved file
    assert model.file_path_ is None


def test_neural_card_says_why_training_stopped(mixed_df):
    from genlab.train import ConvergenceWarning

    model = genlab.Autoregressive(max_steps=3, batch_size=64, seed=0)
    with pytest.warns(ConvergenceWarning):
        model.fit(mixed_df)
    card = model._repr_html_()
    check_markup(card)
    assert model.stopped_by_ == "steps"
    assert "stopped by the step budget (max_steps)" in card and "(3 steps)" in card
    assert "train_loss" in card


def test_classical_history_is_summarised(mixed_df):
    model = genlab.GaussianMixture(seed=0).fit(mixed_df)
    card = model._repr_html_()
    assert f"{len(model.history_)} record(s) in history_" in card and "bic" in card


def test_wide_table_card_is_capped():
    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(60, MAX_COLUMNS_SHOWN + 10)).round(3),
                        columns=[f"c{i}" for i in range(MAX_COLUMNS_SHOWN + 10)])
    card = genlab.Gaussian(seed=0, covariance="diag").fit(wide)._repr_html_()
    assert f"<code>c{MAX_COLUMNS_SHOWN - 1}</code>" in card
    assert f"<code>c{MAX_COLUMNS_SHOWN}</code>" not in card and "… 10 more" in card


def test_evaluation_card_has_scores_and_verdicts(hostile_df):
    train, test = hostile_df.iloc[:200], hostile_df.iloc[200:]
    synth = genlab.Gaussian(seed=0).fit(train).sample(200, seed=1)
    result = genlab.evaluate(train=train, test=test, synthetic=synth, sensitive=[HOSTILE])
    card = result._repr_html_()
    check_markup(card)
    summary = result.scores["summary"]
    assert f"{summary['quality']['value']:.3f}" in card
    for key in ("quality", "privacy_risk", "bias"):
        assert f">{summary[key]['verdict']}</b>" in card
    assert "not measured" in card  # utility: no target was given
    assert "200 train, 100 test, 200 synthetic" in card
    assert "&lt;script&gt;" in card  # the sensitive column, escaped


def test_evaluation_card_of_scores_only_with_missing_values():
    scores = {"summary": {
        "quality": {"value": None, "verdict": "not measured", "meaning": "<i>none</i>"},
        "privacy_risk": {"value": 0.5, "verdict": "high risk", "meaning": "a & b"},
        "bias": {"value": 2, "verdict": "2 flags", "meaning": "shifted"}}}
    card = EvaluationResult(scores)._repr_html_()
    check_markup(card)
    assert card == evaluation_card(scores)
    assert "–" in card and "0.500" in card and "&lt;i&gt;none&lt;/i&gt;" in card
    assert "a &amp; b" in card and "#cf222e" in card  # high risk and flags read red


@pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")
@pytest.mark.parametrize(("modality", "family", "phrase"), [
    ("image", "vae", "images 8×8×1"),
    ("sequence", "autoregressive", "char tokens, vocabulary of"),
    ("series", "autoregressive", "series &#x27;value&#x27;, seasons"),
])
def test_fitted_card_of_other_modalities(modality, family, phrase):
    from tests.test_contract import _fit

    card = _fit(modality, family)._repr_html_()
    check_markup(card)
    assert phrase in card and "fitted on" in card and "trained 1 epoch" in card
