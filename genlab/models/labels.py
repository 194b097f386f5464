"""Class-label conditioning, shared by the modalities whose items carry one label (images,
audio): the `label` condition, class names or codes, and labels for a batch of samples.

The modality's codec has `classes` (names) and `conditional`; the class counts of the
training data sit in `meta_["class_counts"]`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genlab.errors import ParameterError

__all__ = ["LABEL", "ClassLabels"]

LABEL = "label"


class ClassLabels:
    """Mixin of a modality base whose codec (`codec_`) holds class names."""

    codec_: Any
    meta_: dict[str, Any]
    modality: str

    @property
    def n_classes_(self) -> int:
        """Number of classes the model conditions on (0 when unconditional)."""
        return len(self.codec_.classes or []) if self.codec_.conditional else 0

    @property
    def class_counts_(self) -> list[int] | None:
        """Training items per class (None without labels)."""
        return self.meta_.get("class_counts")

    def label_code(self, label: int | str) -> int:
        """Code of a class given by name ("7") or by code (7); one-line error if unknown."""
        classes = self.codec_.classes or []
        if not self.codec_.conditional:
            raise ParameterError(f"this {type(self).__name__} is not class-conditional; fit it "
                                 "with conditions=['label'] (--condition label)")
        if str(label) in classes:  # names first: class "3" need not have code 3
            return classes.index(str(label))
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool) and (
                0 <= label < len(classes)):
            return int(label)
        raise ParameterError(f"unknown label {label!r}; the classes are {', '.join(classes)}")

    def _label_of(self, conditions: dict[str, Any] | None) -> Any:
        """The `label` condition (None when absent); any other name is refused."""
        extra = sorted(set(conditions or {}) - {LABEL})
        if extra:
            raise ParameterError(f"{self.modality} models condition only on 'label', got "
                                 f"{extra}; use conditions={{'label': ...}} (command line: "
                                 "--where label=...)")
        return (conditions or {}).get(LABEL)

    def _condition_from_text(self, name: str, text: str) -> Any:
        self._label_of({name: text})
        return text

    def _label_codes(self, n: int, label: Any, rng: np.random.Generator) -> np.ndarray | None:
        """One class code per sample: `label` for all, one per sample, or (None) drawn in
        the training proportions; None for an unconditional model."""
        if not self.codec_.conditional:
            if label is not None:
                self.label_code(label)  # raises the "not conditional" message
            return None
        if label is None:
            counts = np.asarray(self.class_counts_ or [1] * self.n_classes_, np.float64)
            return rng.choice(len(counts), size=n, p=counts / counts.sum()).astype(np.int64)
        if isinstance(label, (list, tuple, np.ndarray)):
            codes = np.asarray([self.label_code(v) for v in label], np.int64)
            if codes.size != n:
                raise ParameterError(f"{codes.size} labels given for {n} samples; give one "
                                     "label, or one per sample")
            return codes
        return np.full(n, self.label_code(label), np.int64)
