"""Training: the Trainer, its configuration, checkpoints and learning-rate schedules."""
from . import checkpoint, schedules
from .trainer import TrainConfig, Trainer, TrainingDiverged, machine_info

__all__ = ["Trainer", "TrainConfig", "TrainingDiverged", "checkpoint", "schedules", "machine_info"]
