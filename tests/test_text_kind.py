"""Free-text columns: detected as kind `text`, left out of the joint model with a one-line
notice, never copied into samples; the other columns are modelled exactly as without it;
`evaluate` reports synthetic values that occur once in training."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import genlab
from genlab.data.kinds import infer_kinds
from genlab.evaluate.privacy import unique_value_copies

WORDS = "the customer asked about billing refund delay login error password reset".split()


def _table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "pro", "team"], n, p=[0.5, 0.3, 0.2])
    active = np.where(plan == "basic", rng.random(n) < 0.4, rng.random(n) < 0.9)
    comments = [f"ticket #{100000 + i}: " + " ".join(rng.choice(WORDS, rng.integers(4, 12)))
                for i in range(n)]
    return pd.DataFrame({"plan": plan, "active": active,
                         "spend": np.round(rng.gamma(2.0, 20.0, n), 2), "comment": comments})


def test_free_text_is_detected_and_said_in_one_line() -> None:
    df = _table()
    assert infer_kinds(df)["comment"] == "text"
    assert infer_kinds(df)["plan"] == "categorical"
    with pytest.warns(UserWarning, match=r"column 'comment' looks like free text") as record:
        genlab.Gaussian(seed=0).fit(df)
    assert all("\n" not in str(w.message) for w in record)


@pytest.mark.parametrize("family", ["bayesnet", "copula", "gaussian"])
def test_text_never_copied_and_other_columns_unchanged(family: str) -> None:
    df = _table()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with_text = genlab.fit(df, family, seed=0).sample(500, seed=1)
    without = genlab.fit(df.drop(columns="comment"), family, seed=0).sample(500, seed=1)
    assert with_text["comment"].isna().all()  # 0 verbatim copies of the unique comments
    assert unique_value_copies(df, with_text, {"comment": "categorical"}) == {}
    pd.testing.assert_frame_equal(with_text.drop(columns="comment"), without)


def test_explicit_text_kind_and_categorical_override() -> None:
    df = _table(60)
    m = genlab.Gaussian(seed=0).fit(df, kinds={"comment": "text", "plan": "categorical"})
    assert m.schema_.kinds["comment"] == "text"
    assert np.isfinite(m.log_prob(df)).all()  # scored on the modelled columns
    short = df.assign(note=["ok"] * 60)
    assert infer_kinds(short)["note"] == "constant"


def test_evaluate_reports_copies_of_values_unique_in_training() -> None:
    df = _table(200)
    copied = df.sample(100, random_state=0)  # a "synthesizer" that copies rows
    found = unique_value_copies(df, copied, {"comment": "categorical", "plan": "categorical",
                                             "spend": "numerical"})
    assert found == {"comment": 100}


def _conditioned_table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Comments whose first word depends on the plan, so conditioning can be checked."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "pro"], n)
    opener = np.where(plan == "basic", "cheap", "fast")
    comments = [f"{o} #{1000 + i} " + " ".join(rng.choice(WORDS, rng.integers(2, 5)))
                for i, o in enumerate(opener)]
    comments[3] = None  # a missing comment is modelled as one
    return pd.DataFrame({"plan": plan, "spend": np.round(rng.gamma(2.0, 20.0, n), 2),
                         "comment": comments})


@pytest.fixture(scope="module")
def text_model() -> tuple[pd.DataFrame, genlab.models.base.Model]:
    df = _conditioned_table()
    return df, genlab.Gaussian(seed=0).fit(df, kinds={"comment": "text"})


def test_declared_text_is_modelled_given_the_row_and_never_copied(text_model) -> None:
    df, m = text_model
    s = m.sample(400, seed=1)
    texts = s["comment"].dropna()
    assert len(texts) > 300  # modelled, not left missing
    assert not texts.isin(set(df["comment"].dropna())).any()  # 0 verbatim copies
    first = texts.str.split().str[0]
    expected = s.loc[texts.index, "plan"].map({"basic": "cheap", "pro": "fast"})
    assert (first == expected).mean() > 0.8  # the text follows its row's plan


def test_declared_text_leaves_the_other_columns_as_without_it(text_model) -> None:
    df, m = text_model
    without = genlab.Gaussian(seed=0).fit(df.drop(columns="comment"))
    pd.testing.assert_frame_equal(m.sample(300, seed=2).drop(columns="comment"),
                                  without.sample(300, seed=2))


def test_declared_text_scores_and_round_trips(text_model, tmp_path) -> None:
    df, m = text_model
    without = genlab.Gaussian(seed=0).fit(df.drop(columns="comment"))
    lp = m.log_prob(df)
    assert np.isfinite(lp).all()
    assert (lp < without.log_prob(df.drop(columns="comment"))).all()  # the text is scored
    odd = df.head(3).assign(comment=["cheap ~~~ €", "fast", None])
    assert np.isfinite(m.log_prob(odd)).all()  # unseen characters: smoothed
    assert np.isneginf(m.log_prob(odd, strict=True)[0])
    path = m.save(tmp_path / "m.genlab")
    loaded = genlab.load(path)
    np.testing.assert_allclose(loaded.log_prob(df), lp, rtol=1e-6)
    pd.testing.assert_frame_equal(loaded.sample(50, seed=3), m.sample(50, seed=3))


def test_cli_kind_text_models_the_column(tmp_path) -> None:
    from typer.testing import CliRunner

    from genlab.cli import app

    data = tmp_path / "t.csv"
    _conditioned_table(120).to_csv(data, index=False)
    runner = CliRunner()
    model = tmp_path / "m.genlab"
    r = runner.invoke(app, ["fit", str(data), "--model", "gaussian", "--kind", "comment=text",
                            "-o", str(model), "--seed", "0", "--quiet"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "s.csv"
    r = runner.invoke(app, ["sample", str(model), "-n", "50", "-o", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert pd.read_csv(out)["comment"].notna().sum() > 30
