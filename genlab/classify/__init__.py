"""Generative models put to work for other tasks: Bayes classifiers, learned features
and fine-tuned pre-trained encoders."""

from __future__ import annotations

from typing import Any

from genlab.classify.classifier import GenerativeClassifier, likelihood_families
from genlab.classify.features import GenerativeFeatures, latent_families

__all__ = ["FineTunedClassifier", "GenerativeClassifier", "GenerativeFeatures", "finetune",
           "latent_families", "likelihood_families"]


def __getattr__(name: str) -> Any:
    # fine-tuning imports torch: only when asked for
    if name in ("FineTunedClassifier", "finetune"):
        from genlab.classify import finetuning as module

        return getattr(module, name)
    raise AttributeError(f"module 'genlab.classify' has no attribute {name!r}")
