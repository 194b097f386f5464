"""What every report figure shares: colours, the figure factory, the PNG data URI.

Every figure is its own `matplotlib.figure.Figure` (never pyplot), so nothing touches
global matplotlib state and reports can be built from threads or notebooks alike.
"""

from __future__ import annotations

import base64
import io

from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["DPI", "REAL_COLOR", "SYNTH_COLOR", "figure_to_data_uri", "legend", "message",
           "new_figure", "short"]

REAL_COLOR = "#1f77b4"
SYNTH_COLOR = "#ff7f0e"
DPI = 90
MAX_LABEL_CHARS = 22


def new_figure(width: float = 4.0, height: float = 2.8) -> Figure:
    """A figure with constrained layout at the reports' resolution."""
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def figure_to_data_uri(fig: Figure) -> str:
    """Render a figure to a ``data:image/png;base64,...`` URI."""
    buf = io.BytesIO()
    # No metadata: the PNG then depends only on the pixels, which keeps reports reproducible.
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def short(label: str, limit: int = MAX_LABEL_CHARS) -> str:
    """`label` cut to `limit` characters with an ellipsis."""
    return label if len(label) <= limit else label[: limit - 1] + "…"


def legend(fig: Figure) -> None:
    """The figure's legend above the axes, so it never hides what is drawn."""
    fig.legend(loc="outside upper right", ncols=2, fontsize=7, frameon=False)


def message(ax: Axes, text: str) -> None:
    """A centred note in place of a plot."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
