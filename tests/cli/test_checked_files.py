"""A file deepnet reads is checked before anything is built from it: pickles that would hang or crash the
reader, headers and metadata that ask for huge memory, weights that are not finite, checkpoints of every
kind damaged or written for another job, each refused in one line naming the file."""

import gzip
import json
import pickle
import shutil
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

from deepnet import backends, io, models
from deepnet.cli import main
from deepnet.datasets import idx
from deepnet.models import SimpleConvNet
from deepnet.safe_pickle import UnsafePickleError, loads

from ..cli_helpers import CLF, copy, gan, one_line, rewrite


def _weights_file(path, meta_update):
    model = SimpleConvNet()
    meta = {"model": "SimpleConvNet", "model_name": "simpleconvnet", "input_shape": [1, 28, 28], "num_classes": 10}
    meta.update(meta_update)
    io.save_arrays(path, model.state_numpy(), meta)
    return path


def _npz_bomb(path, name, shape):
    """A valid .npz whose one array is all zeros: a few hundred KB on disk, `shape` in memory."""
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open(f"{name}.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_2_0(f, header)
            block = bytes(1 << 22)
            for _ in range(int(np.prod(shape)) * 4 // len(block)):
                f.write(block)
    return path


def damaged(run, tmp_path, meta=None, drop_meta=(), config=None):
    dst = tmp_path / "damaged"
    shutil.copytree(run, dst)
    if meta is not None or drop_meta:
        arrays, m = io.load_arrays(dst / "last.npz")
        m.update(meta or {})
        for k in drop_meta:
            m.pop(k)
        io.save_arrays(dst / "last.npz", arrays, m)
    if config is not None:
        saved = json.loads((dst / "config.json").read_text())
        (dst / "config.json").write_text(json.dumps({**saved, **config}))
    return dst


def test_a_shared_list_pickle_does_not_hang():
    x = []
    for _ in range(60):
        x = [x, x]  # 426 bytes; a walk that revisits shared objects takes 2^60 steps
    data = pickle.dumps(x, protocol=2)
    start = time.perf_counter()
    loads(data)  # nothing hostile in it: it loads, at once
    assert time.perf_counter() - start < 1.0


def test_a_pickle_nested_200000_deep_is_a_clear_error():
    n = 200_000
    data = b"\x80\x02" + b"(" * n + b"]" + b"l" * n + b"."  # [[[...]]] without any recursion to build it
    with pytest.raises(UnsafePickleError, match="nested more than 100 levels"):
        loads(data, "deep.pkl")


def test_deep_pickle_through_the_cli(tmp_path, capsys):
    (tmp_path / "deep.pkl").write_bytes(b"\x80\x02" + b"(" * 5000 + b"]" + b"l" * 5000 + b".")
    code = main(["import-book-weights", str(tmp_path / "deep.pkl"), str(tmp_path / "w.npz")])
    one_line(capsys, code, "nested more than 100 levels")


@pytest.mark.parametrize("meta, expected", [
    ({"model_name": "resnet600000002"}, "depth above 1202"),
    ({"input_shape": [1, 200000, 200000]}, "beyond what deepnet builds"),
    ({"input_shape": "1x28x28"}, "three positive integers"),
    ({"num_classes": 10**9}, "'num_classes' must be a whole number from 1"),
    ({"model_name": "alexnet", "input_shape": [3, 4096, 4096]}, "beyond what deepnet builds"),
])
def test_hostile_metadata_is_refused_before_building(tmp_path, capsys, meta, expected):
    path = _weights_file(tmp_path / "w.npz", meta)
    start = time.perf_counter()
    code = main(["eval", str(path)])
    one_line(capsys, code, expected)
    assert time.perf_counter() - start < 10


def test_metadata_naming_another_model_is_refused_from_the_headers(tmp_path, capsys):
    path = _weights_file(tmp_path / "w.npz", {"model_name": "alexnet", "input_shape": [3, 227, 227],
                                              "num_classes": 1000})
    code = main(["eval", str(path)])
    one_line(capsys, code, "arrays of the wrong shape: conv1.W: (30, 1, 5, 5) (expected (96, 3, 11, 11))")


def test_npz_bomb_is_refused_from_its_header(tmp_path, capsys):
    bomb = _npz_bomb(tmp_path / "bomb.npz", "model/fc.W", (65536, 1024))  # 256 MiB declared
    assert bomb.stat().st_size < 2 << 20
    code = main(["eval", str(bomb)])
    one_line(capsys, code, "belongs to no parameter")
    with pytest.raises(ValueError, match="would take 0.2 GiB in memory"):
        io.load_arrays(bomb, max_bytes=64 << 20)
    with pytest.raises(ValueError, match=r"arrays of the wrong shape: model/fc.W: \(65536, 1024\)"):
        io.load_arrays(bomb, expect={"model/fc.W": (10, 10)})


def test_a_gzip_bomb_given_as_idx_is_refused_from_its_header(tmp_path):
    huge = bytes([0, 0, 8, 1]) + (1 << 31).to_bytes(4, "big")
    (tmp_path / "huge.gz").write_bytes(gzip.compress(huge + bytes(1 << 20)))
    with pytest.raises(idx.IdxError, match="at most"):
        idx.read(tmp_path / "huge.gz")
    # a small header followed by far more data than it promises: read only up to the promise
    small = bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big")
    (tmp_path / "long.gz").write_bytes(gzip.compress(small + bytes(50 << 20)))
    with pytest.raises(idx.IdxError, match="has more bytes"):
        idx.read(tmp_path / "long.gz")


def test_non_finite_weights_are_refused_on_load(tmp_path, cpu32, capsys):
    model = SimpleConvNet()
    state = model.state_numpy()
    state["affine2.b"][3] = np.nan
    io.save_arrays(tmp_path / "w.npz", state, {"model_name": "simpleconvnet"})
    with pytest.raises(ValueError, match="parameter 'affine2.b' holds 1 NaN or infinite values"):
        SimpleConvNet().load(tmp_path / "w.npz")
    code = main(["eval", str(tmp_path / "w.npz")])
    one_line(capsys, code, "'affine2.b' holds 1 NaN")


def test_init_from_a_gan_run_is_refused(gan_run, tmp_path, capsys):
    one_line(capsys, main(["train", *CLF, "--out", str(tmp_path / "t"), "--init-from", str(gan_run)]),
                   "is a deepnet gan checkpoint")
    assert not (tmp_path / "t" / "config.json").exists()


def test_init_from_a_packed_file_is_refused(binarynet, tmp_path, capsys):
    assert main(["binarize", str(binarynet), "--limit", "20", "--out", str(tmp_path / "packed.npz")]) == 0
    one_line(capsys, main(["train", *CLF, "--model", "binarynet", "--out", str(tmp_path / "t"),
                                 "--init-from", str(tmp_path / "packed.npz")]), "is a packed BinaryNet")


def test_init_from_a_file_sharing_no_parameter_is_refused(tmp_path, capsys):
    io.save_arrays(tmp_path / "other.npz", {"something.W": np.zeros((3, 3), np.float32)}, {"model": "Other"})
    one_line(capsys, main(["train", *CLF, "--out", str(tmp_path / "t"), "--init-from",
                                 str(tmp_path / "other.npz")]), "shares no parameter with the model")


def test_init_from_a_partial_match_says_what_was_copied(clf, tmp_path, capsys):
    arrays, meta = io.load_arrays(clf / "best.npz")
    io.save_arrays(tmp_path / "part.npz", {k: a for k, a in arrays.items() if k.startswith("model/conv1.")}, meta)
    assert main(["train", *CLF, "--out", str(tmp_path / "t"), "--init-from", str(tmp_path / "part.npz")]) == 0
    out = capsys.readouterr().out
    assert "copied 2 of the model's 6 arrays; not copied (fresh): affine1.W" in out


@pytest.mark.parametrize("change, expected", [
    (dict(meta_changes={"g_hidden": 200_000_000}), "'g_hidden' must be a whole number from 0 to 65,536"),
    (dict(meta_drop=["optG"]), "'optG' must be an Adam optimizer's settings"),
    (dict(drop=["optG/m/fc.W"]), "arrays missing: optG/m/fc.W"),
    (dict(arrays_changes={"optD/v/fc.W": np.zeros((3, 3), np.float32)}), "arrays of the wrong shape: optD/v/fc.W"),
    (dict(meta_changes={"history": 5}), "'history' must be a list of 2 epoch records"),
    (dict(meta_changes={"rng": [1, 2]}), "'rng' must be a random generator's state"),
    (dict(meta_changes={"limit": -1}), "'limit' must be a whole number from 2 to 60,000"),
    (dict(meta_changes={"epoch": "2"}), "'epoch' must be a whole number from 0 to 100,000; got '2'"),
    (dict(arrays_changes={"G/extra": np.zeros(3, np.float32)}), "arrays that belong to no part of this DCGAN: G/extra"),
])
def test_a_damaged_gan_checkpoint_is_refused_before_building(gan_run, tmp_path, capsys, change, expected):
    run = copy(gan_run, tmp_path)
    rewrite(run / "last.npz", **change)
    tracemalloc.start()
    try:
        err = one_line(capsys, gan("--out", str(run), "--resume", "--epochs", "3"), expected)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 << 20  # nothing large was built
    assert str(run / "last.npz") in err


def test_a_bad_rng_state_in_a_gan_checkpoint_is_one_line(gan_run, tmp_path, capsys):
    run = copy(gan_run, tmp_path)
    rewrite(run / "last.npz", meta_changes={"rng": {"bit_generator": "nonsense"}})
    one_line(capsys, gan("--out", str(run), "--resume", "--epochs", "3"), "random generator state")


def test_eval_of_a_packed_file_says_what_reads_it(binarynet, tmp_path, capsys):
    assert main(["binarize", str(binarynet), "--limit", "20", "--out", str(tmp_path / "packed.npz")]) == 0
    one_line(capsys, main(["eval", str(tmp_path / "packed.npz")]), "binary_inference.load_packed reads it")


def test_gan_checkpoint_records_its_dtype_and_settings(gan_run):
    meta = io.read_index(gan_run / "last.npz")[1]
    config = json.loads((gan_run / "config.json").read_text())
    assert meta["dtype"] == config["dtype"] == "float32" and config["command"] == "gan"
    assert {k: config[k] for k in ("width", "g_hidden", "d_hidden", "limit")} == dict(width=4, g_hidden=8, d_hidden=8,
                                                                                        limit=64)


@pytest.mark.parametrize("change, expected", [
    (dict(drop_meta=("optimizer",)), "'optimizer' must be the settings of the run's rmsprop"),
    (dict(meta={"rng": "garbage"}), "'rng' must be a random generator's state"),
    (dict(meta={"rng": {"bit_generator": "PCG64", "state": "x"}}), "random generators' states are not ones"),
    (dict(meta={"frame": -3}), "'frame' must be a whole number"),
    (dict(meta={"replay": {"size": 10**9, "position": 0}}), "'replay' must be the size and position of a buffer"),
    (dict(config={"gamma": "0.99"}), "'gamma' must be a number in [0, 1]; got '0.99'"),
    (dict(config={"hidden": [1000000000]}), "'hidden' must be 1 to 64 widths"),
])
def test_a_damaged_dqn_run_is_refused_before_it_is_built(dqn_run, tmp_path, capsys, change, expected):
    run = damaged(dqn_run, tmp_path, **change)
    with backends.use("cpu", dtype="float32"):
        code = main(["dqn", "--out", str(run), "--resume", "--frames", "400", "--no-progress"])
    one_line(capsys, code, expected)


def test_a_nic_saved_with_model_save_captions(saved, capsys):
    capsys.readouterr()
    with backends.use("cpu", dtype="float32"):
        assert main(["caption", str(saved / "nic.npz"), "--count", "2", "--beam", "1", "--out", ""]) == 0
    out = capsys.readouterr().out
    assert "test scene 0:" in out and "test scene 1:" in out
    _, meta = io.read_index(saved / "nic.npz")
    assert meta["model_name"] == "nic" and meta["input_shape"] == [1, 64, 64] and "vocabulary" in meta


def test_a_resnet_saved_with_model_save_loads_at_its_depth(tmp_path):
    from deepnet.loading import load_model

    with backends.use("cpu", dtype="float32"):
        models.create("resnet8", input_shape=(3, 16, 16)).save(tmp_path / "r.npz")
        model, _ = load_model(tmp_path / "r.npz")
    assert model.input_shape == (3, 16, 16) and model.registry_name == "resnet8"


@pytest.mark.parametrize("command", [["eval"], ["export", "{out}"], ["caption"]])
def test_a_dqn_run_where_a_model_is_expected_names_what_reads_it(dqn_run, tmp_path, capsys, command):
    argv = [c.format(out=tmp_path / "x.onnx") for c in command]
    one_line(capsys, main([argv[0], str(dqn_run), *argv[1:]]), "is a deepnet dqn checkpoint")
