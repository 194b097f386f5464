"""Bayes classifiers for images and text: the non-table halves of GenerativeClassifier.

Images: one class-conditional model (`fit(images, conditions=["label"])`), scored as
log p(x | y = k) per class. Text: one sequence model per class (a character model for
strings), scored as log p(x | y = k). Either way the prior is the class frequencies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from genlab.errors import DataError

__all__ = ["fit_image", "fit_text", "image_joint", "text_joint"]


def _images(X: Any) -> np.ndarray:
    array = np.asarray(X)
    if array.dtype != np.uint8 or array.ndim not in (3, 4):
        raise DataError(f"image X must be uint8 images (n, height, width[, channels]), got "
                        f"{array.dtype} of shape {array.shape}")
    return array[..., None] if array.ndim == 3 else array


def fit_image(model: Any, X: Any, index: np.ndarray, n_classes: int) -> Any:
    """Fit one class-conditional image model; labels are the class positions."""
    from genlab.data.images import ImageSet

    ds = ImageSet(_images(X), index.astype(np.int64), [str(k) for k in range(n_classes)])
    return model.fit(ds, conditions=["label"])


def image_joint(model: Any, X: Any, log_prior: np.ndarray) -> np.ndarray:
    """log p(x | y = k) + log p(y = k), (n, n_classes)."""
    images = _images(X)
    return np.stack([model.log_prob(images, conditions={"label": str(k)}) + log_prior[k]
                     for k in range(log_prior.size)], axis=1)


def _texts(X: Any) -> list[str]:
    items = list(X)
    if not all(isinstance(x, str) for x in items):
        raise DataError("text X must be a list of strings (one item per example)")
    return items


def fit_text(make: Callable[[], Any], X: Any, index: np.ndarray, n_classes: int) -> list[Any]:
    """One sequence model per class, each fitted on that class's items."""
    items = _texts(X)
    return [make().fit([items[i] for i in np.flatnonzero(index == k)])
            for k in range(n_classes)]


def text_joint(models: list[Any], X: Any, log_prior: np.ndarray) -> np.ndarray:
    """log p(x | y = k) + log p(y = k), (n, n_classes). Characters that some class model
    never saw would score -inf under it alone; they are dropped from the text before it
    is scored, so every class scores the same text."""
    items = _texts(X)
    tokens = [set(getattr(m.codec_, "tokens", [])) for m in models]
    shared = set.intersection(*tokens) if all(tokens) else None
    if shared is not None:
        items = ["".join(ch for ch in x if ch in shared) for x in items]
    return np.stack([m.log_prob(items) + log_prior[k] for k, m in enumerate(models)], axis=1)
