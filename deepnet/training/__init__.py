"""Training: the Trainer, its configuration, checkpoints and learning-rate schedules."""
from . import checkpoint, recipes, schedules
from .config import TrainConfig
from .trainer import Trainer, TrainingDiverged, machine_info

__all__ = ["Trainer", "TrainConfig", "TrainingDiverged", "checkpoint", "recipes", "schedules", "machine_info"]
