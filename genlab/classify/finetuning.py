"""Pre-training, then fine-tuning: a classifier from a generative model's encoder.

`FineTunedClassifier(pretrained=model)` takes a genlab model fitted generatively (on
unlabelled data), copies its encoder (see `genlab.classify._heads`), adds a
classification head (a layer norm, then a linear layer) and trains both on the labelled
examples with cross-entropy through genlab's one training loop (`genlab.train.fit_loop`:
a step budget, seeded batches).
`init="scratch"` trains the same architecture from a fresh initialisation, the baseline
that shows what pre-training buys. `freeze=True` trains the head only (a linear probe).

It is a scikit-learn classifier (fit / predict / predict_proba / score), so it sits next
to `GenerativeClassifier` and goes into `cross_val_score` or a `Pipeline`. Like other
scikit-learn estimators it lives in memory; the pre-trained `.genlab` file is what is
kept, and `fit` reproduces the classifier from it (same data, same seed, same weights).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn import functional as F

from genlab.classify._heads import ENCODER_FAMILIES, adapter_for
from genlab.classify._params import seed_of
from genlab.classify.classifier import _check_labels
from genlab.config import TrainConfig
from genlab.errors import DataError, ParameterError
from genlab.seeding import draw_seed, torch_seeded

__all__ = ["ENCODER_FAMILIES", "FineTunedClassifier", "finetune"]

_PREDICT_BATCH = 512


class _Classifier(nn.Module):
    def __init__(self, trunk: nn.Module, width: int, n_classes: int) -> None:
        super().__init__()
        self.trunk = trunk
        # a pre-trained encoder's features can sit at any scale (a VAE's hidden layer grows
        # large under the KL term); normalising them lets one learning rate fit the head
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, n_classes)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.trunk(*inputs)))


def _load(pretrained: Any) -> Any:
    if pretrained is None:
        raise ParameterError("FineTunedClassifier needs pretrained=: a fitted genlab model or "
                             "the path of its .genlab file (one of "
                             f"{', '.join(ENCODER_FAMILIES)})")
    if isinstance(pretrained, (str, os.PathLike)):
        from genlab.models.registry import load

        return load(pretrained)
    return pretrained


def _class_index(y: Any) -> tuple[np.ndarray, np.ndarray]:
    y = _check_labels(y)
    classes, index, counts = np.unique(y, return_inverse=True, return_counts=True)
    if classes.size < 2:
        raise DataError(f"y holds 1 class ({classes[0]!r} only); a classifier needs at "
                        "least 2 classes")
    if (counts < 2).any():
        lone = [repr(c.item() if isinstance(c, np.generic) else c) for c in classes[counts < 2]]
        raise DataError(f"class {', '.join(lone[:5])} has only one example (1 sample); "
                        "give at least 2 examples of every class or drop that class")
    return classes, index.reshape(-1).astype(np.int64)


class FineTunedClassifier(ClassifierMixin, BaseEstimator):
    """A classifier whose feature extractor is a pre-trained generative model's encoder.

    Args:
        pretrained: a fitted genlab model with an encoder, or the path of its `.genlab`
            file: image `ImageVAE` (unconditional), text `Transformer` (characters) or
            table `VAE` (`ENCODER_FAMILIES`).
        init: "pretrained" (start from the model's encoder) or "scratch" (the same
            architecture, freshly initialised: the baseline).
        steps: optimiser steps (the budget; never the clock).
        lr: learning rate (Adam), for encoder and head alike.
        batch_size: labelled items per step (at most the number of items).
        freeze: train the head only (a linear probe on the encoder's features).
        weight_decay: decoupled weight decay.
        random_state: seed of the head's initialisation, the batches and dropout (None:
            a fresh one each fit).

    Example:
        >>> import genlab
        >>> vae = genlab.ImageVAE(max_steps=200, seed=0).fit(unlabelled)  # doctest: +SKIP
        >>> clf = FineTunedClassifier(vae, steps=300, random_state=0)     # doctest: +SKIP
        >>> clf.fit(images, labels).score(test_images, test_labels)       # doctest: +SKIP
    """

    def __init__(self, pretrained: Any = None, *, init: str = "pretrained", steps: int = 500,
                 lr: float = 1e-3, batch_size: int = 64, freeze: bool = False,
                 weight_decay: float = 1e-4, random_state: int | None = None) -> None:
        self.pretrained = pretrained
        self.init = init
        self.steps = steps
        self.lr = lr
        self.batch_size = batch_size
        self.freeze = freeze
        self.weight_decay = weight_decay
        self.random_state = random_state

    def __sklearn_clone__(self) -> FineTunedClassifier:
        # scikit-learn would clone a genlab model into an unfitted one; the pre-trained
        # model is shared instead (fit copies its encoder and never changes it)
        return type(self)(**self.get_params(deep=False))

    def _config(self, n: int) -> TrainConfig:
        if self.init not in ("pretrained", "scratch"):
            raise ParameterError(f"init must be 'pretrained' or 'scratch', got {self.init!r}")
        if self.freeze and self.init == "scratch":
            raise ParameterError("freeze=True with init='scratch' trains a head on random "
                                 "features; use init='pretrained' or freeze=False")
        batch = max(2, min(int(self.batch_size), n))
        steps = int(self.steps) if isinstance(self.steps, (int, np.integer)) else self.steps
        # epochs enough for the step budget, which ends training (the progress bar counts
        # epochs); no validation split: with few labels every one of them trains
        whole = isinstance(steps, int) and steps > 0
        epochs = min(1_000_000, -(-steps // max(1, n // batch))) if whole else 1
        return TrainConfig(epochs=epochs, max_steps=steps, lr=self.lr,
                           batch_size=batch, optimizer="adam",
                           weight_decay=self.weight_decay, val_fraction=0.0,
                           warmup_steps=min(50, steps // 10) if whole else 0, device="cpu")

    def fit(self, X: Any, y: Any, *, eval_set: tuple[Any, Any] | None = None,
            eval_every: int = 50) -> FineTunedClassifier:
        """Fine-tune on items `X` (as the pre-trained model reads them) and labels `y`.

        `eval_set=(X_test, y_test)` records the accuracy on it every `eval_every` steps in
        `curve_` (step, accuracy); it does not change the training."""
        from genlab.train import _Update, fit_loop

        model = _load(self.pretrained)
        adapter = adapter_for(model)
        if y is None:
            raise DataError("labels are missing: give y (one label per item), or target= "
                            "naming the label column")
        classes, index = _class_index(y)
        config = self._config(index.size)
        tensors = adapter.inputs(X)
        if int(tensors[0].shape[0]) != index.size:
            raise DataError(f"{int(tensors[0].shape[0])} items but {index.size} labels; give "
                            "one label per item")
        seed = seed_of(self.random_state)
        rng = np.random.default_rng(draw_seed() if seed is None else seed)
        trunk = adapter.trunk(scratch=self.init == "scratch", rng=rng)
        with torch_seeded(rng):
            net = _Classifier(trunk, adapter.width, classes.size)
        for p in net.trunk.parameters():
            p.requires_grad_(not self.freeze)
        self.classes_, self.model_, self.net_, self.adapter_ = classes, model, net, adapter
        self.curve_: list[tuple[int, float]] = []

        def loss_fn(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            return F.cross_entropy(net(*batch[:-1]), batch[-1], reduction="none")

        update = _Update(net, loss_fn, config)
        if eval_set is not None and not (isinstance(eval_every, int) and eval_every >= 1):
            raise ParameterError(f"eval_every must be a whole number of steps >= 1, got "
                                 f"{eval_every!r}")
        held = None if eval_set is None else (adapter.inputs(eval_set[0]),
                                              np.asarray(eval_set[1], dtype=object))

        def train_step(batch: tuple[torch.Tensor, ...], step: int) -> float:
            loss = update(batch, step)
            if held is not None and (step + 1) % eval_every == 0:
                self.curve_.append((step + 1, self._accuracy(*held)))
                net.train()
            return loss

        data = [*tensors, torch.from_numpy(index)]
        with torch_seeded(rng):  # dropout inside the trunk
            result = fit_loop(net, loss_fn, data, config, seed=int(rng.integers(2**62)),
                              description="fine-tuning", train_step=train_step)
        if held is not None and (not self.curve_ or self.curve_[-1][0] != result.steps):
            self.curve_.append((result.steps, self._accuracy(*held)))
        self.history_, self.steps_trained_ = result.history, result.steps
        net.eval()
        return self

    def _accuracy(self, inputs: list[torch.Tensor], y: np.ndarray) -> float:
        proba = self._proba(inputs)
        return float(np.mean(self.classes_.astype(object)[proba.argmax(1)] == y))

    def _proba(self, inputs: list[torch.Tensor]) -> np.ndarray:
        self.net_.eval()
        n = int(inputs[0].shape[0])
        with torch.no_grad():
            out = [F.softmax(self.net_(*(t[s:s + _PREDICT_BATCH] for t in inputs)), 1)
                   for s in range(0, n, _PREDICT_BATCH)]
        return torch.cat(out).double().numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, (n, n_classes) in the order of `classes_`."""
        check_is_fitted(self, "net_")
        return self._proba(self.adapter_.inputs(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each item."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def transform(self, X: Any) -> np.ndarray:
        """The fine-tuned encoder's features, (n, width)."""
        check_is_fitted(self, "net_")
        inputs = self.adapter_.inputs(X)
        with torch.no_grad():
            out = [self.net_.trunk(*(t[s:s + _PREDICT_BATCH] for t in inputs))
                   for s in range(0, int(inputs[0].shape[0]), _PREDICT_BATCH)]
        return torch.cat(out).double().numpy()


def finetune(model: Any, labelled: Any, y: Any = None, *, target: str | None = None,
             **params: Any) -> FineTunedClassifier:
    """Fine-tune a pre-trained model's encoder on labelled data; returns the fitted
    `FineTunedClassifier` (`params`: its arguments: steps, lr, freeze, init, ...; `seed=`
    is taken as `random_state`).

    `labelled` is the items (images, strings, a table) with labels `y`, or a table holding
    the labels in column `target`."""
    if "seed" in params:
        params["random_state"] = params.pop("seed")
    if target is not None:
        if not isinstance(labelled, pd.DataFrame):
            raise DataError(f"target={target!r} names a column, but the labelled data is "
                            f"{type(labelled).__name__}, not a table; give y= instead")
        if target not in labelled.columns:
            raise DataError(f"target {target!r} is not a column of the labelled table; "
                            f"columns are {list(labelled.columns)}")
        labelled, y = labelled.drop(columns=target), labelled[target]
    return FineTunedClassifier(model, **params).fit(labelled, y)
