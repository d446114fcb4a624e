"""Models: the Sequential container and the chapter's networks."""
from .convnets import MODELS, AlexNet, DeepConvNet, SimpleConvNet, create
from .sequential import Sequential

__all__ = ["Sequential", "SimpleConvNet", "DeepConvNet", "AlexNet", "MODELS", "create"]
