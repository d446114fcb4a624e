"""Every file deepnet writes names its format and version (deepnet.io.FORMATS), and a reader refuses a version
newer than it knows, or another format, naming it."""
import numpy as np
import pytest

from deepnet import io, models, optimizers
from deepnet.errors import BadFile
from deepnet.loading import load_model
from deepnet.training import checkpoint


def test_weights_and_checkpoints_name_their_format(cpu32, tmp_path):
    model = models.create("simpleconvnet")
    model.save(tmp_path / "w.npz")
    checkpoint.save(tmp_path / "c.npz", model, optimizers.Adam(), {"epoch": 1})
    for name, fmt in (("w.npz", "deepnet-weights"), ("c.npz", "deepnet-checkpoint")):
        meta = io.read_index(tmp_path / name)[1]
        assert meta["format"] == fmt and meta["version"] == io.FORMAT_VERSION
        load_model(tmp_path / name)  # reads back


@pytest.mark.parametrize("meta,message", [
    ({"version": 2}, "written by a newer deepnet \\(its format version 2; this one reads up to 1\\)"),
    ({"version": "one"}, "'version' should be a format version"),
    ({"format": "deepnet-gan"}, "is a deepnet gan checkpoint"),
    ({"format": "deepnet-dqn-weights"}, "is a deepnet dqn checkpoint"),
    ({"format": "someone-else"}, "'format' 'someone-else' is none of deepnet's"),
])
def test_a_reader_refuses_a_newer_version_or_another_format(cpu32, tmp_path, meta, message):
    model = models.create("simpleconvnet")
    path = tmp_path / "w.npz"
    io.save_arrays(path, {k: np.asarray(a) for k, a in model.state_numpy().items()},
                   {**model.file_meta(), **meta})
    with pytest.raises(BadFile, match=message):
        load_model(path)


def test_every_format_is_named_by_a_writer():
    with pytest.raises(ValueError, match="unknown file format"):
        io.stamp("deepnet-nothing")
    assert io.stamp("deepnet-gan") == {"format": "deepnet-gan", "version": io.FORMAT_VERSION}
