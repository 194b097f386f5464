"""`GenerativeOversampler`: generative augmentation with imbalanced-learn's interface.

It is an imblearn over-sampler (`BaseOverSampler`): `fit_resample(X, y)` fits a
class-conditional table model on `(X, y)` and appends rows sampled for each class as
`sampling_strategy` asks (imblearn's meanings: "auto", "minority", a ratio, a dict...).
Inside `imblearn.pipeline.Pipeline` it runs on the training part of each cross-validation
split only; validation folds are scored on real rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.utils import check_target_type

from genlab.augment.generative import table_samples

__all__ = ["GenerativeOversampler"]

_TARGET = "__genlab_target__"


class GenerativeOversampler(BaseOverSampler):
    """Over-sample with a genlab table model conditioned on the class.

    Args:
        model: a table family name ("bayesnet", "copula", "mixture", ...), an unfitted
            genlab table model (cloned per fit), or None for the default family.
        sampling_strategy: imblearn's: how many rows each class should end with.
        filter_share: share of extra samples drawn and then dropped as least likely.
        seed: seed of the model and the sampling (same data + seed -> same rows).
    """

    _parameter_constraints: dict = {  # noqa: RUF012 - sklearn's convention
        **BaseOverSampler._parameter_constraints,
        "filter_share": [float, int],
        "seed": [int, None],
        "model": "no_validation",
    }

    def __init__(self, model: Any = None, sampling_strategy: Any = "auto", *,
                 filter_share: float = 0.0, seed: int | None = 0) -> None:
        super().__init__(sampling_strategy=sampling_strategy)
        self.model = model
        self.filter_share = filter_share
        self.seed = seed

    def _check_X_y(self, X: Any, y: Any) -> tuple[Any, Any, bool]:
        # keep a DataFrame's column types: a table model needs categories as categories
        y, binarize_y = check_target_type(y, indicate_one_vs_all=True)
        return X, y, binarize_y

    def _fit_resample(self, X: Any, y: Any) -> tuple[Any, np.ndarray]:
        from genlab.models.base import Model

        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(
            np.asarray(X), columns=[f"x{i}" for i in range(np.asarray(X).shape[1])])
        frame = frame.reset_index(drop=True)
        labels = np.asarray(y)
        data = frame.assign(**{_TARGET: labels})
        model = self.model
        if isinstance(model, Model):  # a fresh copy per fit: folds never share a model
            model = type(model).build(**model.get_params())
        extra = {k: int(n) for k, n in self.sampling_strategy_.items()}
        self.synthetic_, self.model_ = table_samples(data, _TARGET, extra, model,
                                        seed=0 if self.seed is None else self.seed,
                                        filter_share=float(self.filter_share))
        new_y = self.synthetic_[_TARGET].to_numpy(dtype=labels.dtype)
        new_x = self.synthetic_.drop(columns=[_TARGET])
        if isinstance(X, pd.DataFrame):
            out = pd.concat([frame, new_x], ignore_index=True)
            out.index = range(len(out))
        else:
            out = np.concatenate([np.asarray(X), new_x.to_numpy(dtype=np.asarray(X).dtype)])
        return out, np.concatenate([labels, new_y])
