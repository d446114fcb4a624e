"""The benchmark scripts in smoke mode (tiny batch, one repeat, CPU): they run and their JSON has its fields."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_layer_types_are_grouped_as_the_book_does():
    C = load("_common")
    from deepnet.models import AlexNet, DeepConvNet  # noqa: F401

    assert [C.group_of(n) for n in ("Convolution", "Pooling", "Affine", "LRN", "BatchNormalization", "Relu",
                                    "Dropout", "SoftmaxWithLoss", "Tanh")] == \
        ["conv", "pool", "fc", "norm", "norm", "relu", "dropout", "softmax/loss", "other"]


def test_summary_shares_add_up():
    lb = load("layer_breakdown")
    rows = {"a": {"group": "conv", "forward": [0.003, 0.001, 0.002], "backward": []},
            "b": {"group": "relu", "forward": [0.002], "backward": []}}
    s = lb.summarise(rows)
    assert s["total_ms"] == pytest.approx(4.0)
    assert s["groups"]["conv"]["share"] == pytest.approx(50.0)
    assert sum(g["share"] for g in s["groups"].values()) == pytest.approx(100.0)


def test_layer_breakdown_smoke(tmp_path, capsys):
    lb = load("layer_breakdown")
    lb.main(["--smoke", "--model", "deepconvnet", "--train", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "layer_breakdown_deepconvnet_train.json").read_text())
    assert {"model", "batch", "dtype", "machine", "results", "timestamp"} <= set(data)
    assert {"cpu", "cpu_cores", "numpy", "python"} <= set(data["machine"])
    res = data["results"][0]
    assert res["backend"] == "numpy" and res["summary"]["groups"]["conv"]["ms"] > 0
    assert res["layers"]["conv1"]["group"] == "conv" and res["layers"]["conv1"]["backward_ms"] > 0
    assert (tmp_path / "layer_breakdown_deepconvnet_train.png").stat().st_size > 1000
    assert "convolution's share on the CPU" in capsys.readouterr().out


def test_train_time_smoke(tmp_path, capsys):
    tt = load("train_time")
    tt.main(["--smoke", "--alexnet-batch", "--out", str(tmp_path)])  # no AlexNet in the smoke run
    out = capsys.readouterr().out
    data = json.loads((tmp_path / "train_time.json").read_text())
    assert {"rows", "machine", "dtype", "deepnet_over_pytorch", "gpu_over_cpu"} <= set(data)
    deepnet_rows = [r for r in data["rows"] if r["library"] == "deepnet"]
    assert deepnet_rows[0]["epoch_s"] > 0 and deepnet_rows[0]["images_per_s"] > 0
    if data["torch"] is None:
        assert "PyTorch comparison skipped" in out
    else:
        assert data["deepnet_over_pytorch"][0]["train_throughput_ratio"] > 0
    assert (tmp_path / "train_time.png").stat().st_size > 1000


def test_cpu_paths_smoke(tmp_path, capsys):
    cp = load("cpu_paths")
    cp.main(["--smoke", "--variants", "reference", "chunked", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "cpu_paths_deepconvnet_b4_smoke.json").read_text())
    assert [r["variant"] for r in data["rows"]] == ["reference", "chunked"]
    assert all(r["step_s"] > 0 and r["images_per_s"] > 0 for r in data["rows"])
    assert data["rows"][0]["speedup_over_reference"] == pytest.approx(1.0)
    assert data["machine"]["backends"][0]["threads"] >= 1 and "chunked" in capsys.readouterr().out


def test_scaling_smoke(tmp_path):
    import shutil

    pytest.importorskip("mpi4py")
    if not (shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")):
        pytest.skip("no mpiexec (pip install 'deepnet[distributed]')")
    sc = load("scaling")
    sc.main(["--ranks", "1", "2", "--model", "simpleconvnet", "--batch", "4", "--steps", "1", "--warmup", "0",
             "--out", str(tmp_path)])
    data = json.loads((tmp_path / "scaling.json").read_text())
    assert [r["ranks"] for r in data["rows"]] == [1, 2]
    assert all(r["step_s"] > 0 and r["grad_bytes"] > 0 for r in data["rows"])
