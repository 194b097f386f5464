"""Learned features as a scikit-learn transformer: fit a latent genlab family on unlabelled
data, `transform` to its encoding (`Model.encode`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from genlab.classify._params import FamilyParams
from genlab.errors import UnsupportedOperation
from genlab.models import registry
from genlab.models.registry import latent_families

__all__ = ["GenerativeFeatures", "latent_families"]


class GenerativeFeatures(FamilyParams, TransformerMixin, BaseEstimator):
    """Features from a generative model: `fit` learns the model on unlabelled data (labels,
    if given, are ignored), `transform` returns `model.encode(data)` (table VAE posterior
    means, table flow base-space values, image VAE means or flow z, transformer hidden
    states averaged over positions).

    Args:
        model: a family with a latent space of `modality` (`latent_families()`).
        modality: "table" (DataFrame or array), "image" or "sequence" (data as the
            family's `fit` reads it).
        random_state: seed of the family (None: a fresh one each fit).
        **params: the family's hyperparameters (e.g. `latent_dim=8`, `epochs=20`).

    Example:
        >>> from sklearn.pipeline import make_pipeline
        >>> from sklearn.linear_model import LogisticRegression
        >>> pipe = make_pipeline(GenerativeFeatures("vae", latent_dim=8),
        ...                      LogisticRegression())  # doctest: +SKIP
    """

    _own = ("model", "modality", "random_state")

    def __init__(self, model: str = "vae", *, modality: str = "table",
                 random_state: int | None = None, **params: Any) -> None:
        self.model = model
        self.modality = modality
        self.random_state = random_state
        self._store(params)

    def _input(self, X: Any, *, reset: bool) -> Any:
        if self.modality != "table":
            return X
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, skip_check_array=True, reset=reset)
            return X.set_axis([str(c) for c in X.columns], axis=1).reset_index(drop=True)
        array = validate_data(self, X, ensure_all_finite="allow-nan", dtype="numeric",
                              reset=reset)
        return pd.DataFrame(np.asarray(array, dtype=np.float64),
                            columns=[f"x{i}" for i in range(array.shape[1])])

    def fit(self, X: Any, y: Any = None) -> GenerativeFeatures:
        """Fit the family to `X` (unlabelled; `y` is ignored)."""
        model = registry.make_model(self.model, self.modality, **self._family_values())
        if f"{self.modality}:{self.model}" not in latent_families():
            raise UnsupportedOperation(
                f"GenerativeFeatures needs a family with a latent space and {self.modality} "
                f"family {self.model!r} has none; use one of {', '.join(latent_families())}")
        data = self._input(X, reset=True)
        if self.modality == "table":
            model.fit(data, kinds={n: "continuous" for n in data.columns
                                   if pd.api.types.is_numeric_dtype(data[n])
                                   and not pd.api.types.is_bool_dtype(data[n])})
        else:
            model.fit(data)
        self.model_ = model
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The learned features of `X`, shape (n_items, k)."""
        check_is_fitted(self, "model_")
        return self.model_.encode(self._input(X, reset=False))
