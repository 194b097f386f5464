"""Generative models put to work for other tasks: Bayes classifiers and learned features."""

from __future__ import annotations

from genlab.classify.classifier import GenerativeClassifier, likelihood_families
from genlab.classify.features import GenerativeFeatures, latent_families

__all__ = ["GenerativeClassifier", "GenerativeFeatures", "latent_families",
           "likelihood_families"]
