"""Tracking backends for the training loop's ``Tracker`` protocol (MLflow is imported lazily)."""

from marlpipe.tracking.mlflow_tracker import MlflowTracker
from marlpipe.tracking.provenance import run_tags
from marlpipe.tracking.store import default_tracking_uri
from marlpipe.training.tracker import ListTracker, NullTracker, Tracker

__all__ = [
    "ListTracker",
    "MlflowTracker",
    "NullTracker",
    "Tracker",
    "default_tracking_uri",
    "run_tags",
]
