"""Series families; importing this package registers them."""

from genlab.models.series.autoregressive import SeriesModel

__all__ = ["SeriesModel"]
