"""Anomaly detection with generative models: point and contextual anomalies in tables
(`AnomalyDetector`), collective anomalies in time series (`SeriesAnomalyDetector`)."""

from genlab.anomaly.detector import AnomalyDetector
from genlab.anomaly.series import SeriesAnomalyDetector, intervals_from_flags

__all__ = ["AnomalyDetector", "SeriesAnomalyDetector", "intervals_from_flags"]
