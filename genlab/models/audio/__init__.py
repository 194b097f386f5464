"""The audio families; importing this package registers them (`registry.families`).

Each family module is also importable alone (`registry.FAMILY_MODULES["audio"]`), so loading
a model file imports only its own family."""

from __future__ import annotations

from genlab.models.audio.base import AudioModel
from genlab.models.audio.wavenet import WaveNet

__all__ = ["AudioModel", "WaveNet"]
