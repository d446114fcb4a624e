"""Datasets as uint8 images and int64 labels, and the one place they become model input."""
from . import detection  # noqa: F401  (datasets.detection: boxes in COCO's format)
from .loaders import (LOADERS, Dataset, DatasetError, Split, cache_dir, captioned_test_scenes, fashion_mnist,
                      fetch_mnist, load, mnist)
from .prepare import SCALE, to_model_input

__all__ = ["Dataset", "DatasetError", "Split", "LOADERS", "load", "mnist", "fashion_mnist", "fetch_mnist",
           "cache_dir", "captioned_test_scenes", "to_model_input", "SCALE"]
