"""What a model is for (deepnet/tasks.py): each model's task, the data sets a task trains on, and a task refusing
a model of another."""
import pytest

from deepnet import models, tasks
from deepnet.errors import InvalidValue


@pytest.mark.parametrize("name,task", [("deepconvnet", tasks.CLASSIFY), ("resnet8", tasks.CLASSIFY),
                                       ("fcn", tasks.SEGMENT), ("segnet", tasks.SEGMENT),
                                       ("fasterrcnn", tasks.DETECT), ("nic", tasks.CAPTION)])
def test_each_model_has_its_task(cpu32, name, task):
    assert tasks.of(models.create(name)) is task


def test_a_plain_chain_classifies_or_segments_as_its_output_says(cpu32):
    from deepnet.layers import Convolution
    from deepnet.models import Sequential

    chain = Sequential([Convolution(1, 3, 3, pad=1)], input_shape=(1, 8, 8))  # a score map: a class per pixel
    assert chain.task is None and tasks.of(chain) is tasks.SEGMENT
    assert tasks.of(models.create("simpleconvnet")) is tasks.CLASSIFY


@pytest.mark.parametrize("task,dataset,message", [
    (tasks.CAPTION, "mnist", "`model` m writes captions and trains on `dataset` mnist-captions"),
    (tasks.DETECT, "mnist-scenes", "`model` m finds objects and trains on `dataset` mnist-boxes or mnist-clutter"),
    (None, "mnist-captions", "`dataset` mnist-captions labels each scene with a caption: train `model` nic"),
    (tasks.SEGMENT, "mnist-boxes", "`dataset` mnist-boxes labels each scene with boxes: train `model` fasterrcnn"),
    (tasks.CAPTION, "mnist-boxes", "`model` m writes captions"),
])
def test_a_task_refuses_data_sets_that_are_not_its_own(task, dataset, message):
    with pytest.raises(InvalidValue, match=message.replace("(", r"\(")):
        tasks.check_dataset(task, "m", dataset)


def test_a_task_takes_its_own_data_sets():
    for task, dataset in ((tasks.DETECT, "mnist-clutter"), (tasks.CAPTION, "mnist-captions"), (None, "mnist"),
                          (tasks.SEGMENT, "mnist-scenes"), (tasks.CLASSIFY, "fashion_mnist")):
        tasks.check_dataset(task, "m", dataset)  # no error


def test_a_task_refuses_a_model_of_another(cpu32):
    with pytest.raises(InvalidValue, match="run is a DeepConvNet, not a detector; train one with deepnet train "
                                           "--model fasterrcnn"):
        tasks.DETECT.require(models.create("deepconvnet"), "run")
    tasks.CAPTION.require(models.create("nic"), "run")  # its own: no error
    with pytest.raises(ValueError, match="unknown task 'dance'"):
        tasks.named("dance")


def test_no_model_flags_remain():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    flagged = [str(p) for folder in ("deepnet", "backends", "benchmarks") for p in (root / folder).rglob("*.py")
               if 'getattr(model, "is_' in p.read_text() or "is_detector" in p.read_text()
               or "is_captioner" in p.read_text()]
    assert not flagged, flagged


def test_a_model_that_is_not_a_chain_is_not_a_sequential(cpu32):
    import numpy as np

    from deepnet.models import Model, Sequential

    for name, what in (("fasterrcnn", "detect"), ("nic", "caption")):
        model = models.create(name)
        assert isinstance(model, Model) and not isinstance(model, Sequential)
        with pytest.raises(TypeError, match=f"use model.{what}"):
            model.forward(np.zeros((1, *model.input_shape), np.float32))
    assert isinstance(models.create("deepconvnet"), Sequential)
