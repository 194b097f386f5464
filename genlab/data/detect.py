"""What kind of data an input is: the API's and the command line's one rule.

Cheap by design: it looks at names, folder listings and at most a table's header, and
imports no model code (no torch), so telling that a CSV is a table costs nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genlab.data.audio import Clips, is_audio_input
from genlab.data.images import is_image_input
from genlab.data.sequences.readers import detect as is_sequence_input
from genlab.errors import ParameterError

__all__ = ["DATA_KINDS", "detect_kind"]

# --data-kind NAME -> (modality, parameters that kind implies)
DATA_KINDS: dict[str, tuple[str, dict[str, Any]]] = {
    "table": ("table", {}),
    "image": ("image", {}),
    "text": ("sequence", {"codec": "char"}),
    "molecules": ("sequence", {"codec": "smiles"}),
    "music": ("sequence", {"codec": "music"}),
    "sequence": ("sequence", {}),
    "series": ("series", {}),
    "audio": ("audio", {}),
}


def detect_kind(data: Any, kind: str | None = None) -> tuple[str, dict[str, Any]]:
    """(modality, implied parameters) of `data`: a path, a DataFrame, a uint8 image array,
    a list of strings or audio `Clips`. `kind` (one of `DATA_KINDS`) overrides the detection."""
    if kind is not None:
        if kind not in DATA_KINDS:
            raise ParameterError(
                f"unknown kind of data {kind!r}; choose one of {', '.join(DATA_KINDS)}")
        modality, implied = DATA_KINDS[kind]
        return modality, dict(implied)
    if isinstance(data, pd.DataFrame):
        return "table", {}
    if isinstance(data, Clips):
        return "audio", {}
    if isinstance(data, np.ndarray):
        return ("image", {}) if data.ndim in (3, 4) else ("table", {})
    if isinstance(data, (list, tuple)) and data and all(isinstance(x, str) for x in data):
        return "sequence", {}
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if is_image_input(path):
            return "image", {}
        if is_audio_input(path):
            return "audio", {}
        if is_sequence_input(path):
            return "sequence", {}
    return "table", {}
