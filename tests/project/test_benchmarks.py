"""The benchmark scripts in smoke mode (tiny batch, one repeat, CPU): they run and their JSON has its fields."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


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
    assert res["backend"] == "cpu" and res["summary"]["groups"]["conv"]["ms"] > 0
    assert res["layers"]["conv1"]["group"] == "conv" and res["layers"]["conv1"]["backward_ms"] > 0
    assert res["layers"]["update"]["group"] == "update" and res["summary"]["groups"]["update"]["ms"] > 0
    assert (tmp_path / "layer_breakdown_deepconvnet_train.png").stat().st_size > 1000
    assert "convolution's share on the CPU" in capsys.readouterr().out


def test_conv_split_smoke(tmp_path, capsys):
    cs = load("conv_split")
    cs.main(["--smoke", "--backward", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "conv_split_resnet20.json").read_text())
    assert all(r["dw_gemm_ms"] > 0 and r["dx_gemm_ms"] > 0 and r["col2im_ms"] > 0 for r in data["rows"])
    assert data["total_col2im_ms"] == pytest.approx(sum(r["col2im_ms"] * r["count"] for r in data["rows"]))
    # ResNet-20: the stem, the three stages' 3x3 shapes (two of them strided) and the two 1x1 projections
    assert len(data["rows"]) == 8 and sum(r["count"] for r in data["rows"]) == 21
    assert all(r["im2col_ms"] > 0 and r["gemm_ms"] > 0 and r["gemm_gflops"] > 0 for r in data["rows"])
    assert data["total_gemm_ms"] == pytest.approx(sum(r["gemm_ms"] * r["count"] for r in data["rows"]))
    assert "% im2col" in capsys.readouterr().out


def test_train_time_smoke(tmp_path, capsys):
    tt = load("train_time")
    tt.main(["--smoke", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    data = json.loads((tmp_path / "train_time.json").read_text())
    assert {"rows", "machine", "dtype", "deepnet_over_pytorch", "gpu_over_cpu", "method"} <= set(data)
    deepnet_rows = [r for r in data["rows"] if r["library"] == "deepnet"]
    assert deepnet_rows[0]["epoch_s"] > 0 and deepnet_rows[0]["images_per_s"] > 0
    assert deepnet_rows[0]["peak_rss_bytes"] > 0 and "openblas_env" in deepnet_rows[0]
    if data["torch"] is None:
        assert "PyTorch comparison skipped" in out
    else:
        assert data["deepnet_over_pytorch"][0]["train_throughput_ratio"] > 0
    assert (tmp_path / "train_time.png").stat().st_size > 1000


def test_the_torch_side_starts_as_deepnet_does():
    torch = pytest.importorskip("torch")
    import math

    tt = load("train_time")
    model = tt.torch_model(torch, "deepconvnet")
    tt.he_init(torch, model)
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            std = math.sqrt(2.0 / m.weight[0].numel())
            w, b = m.weight.detach(), m.bias.detach()
            assert abs(float(w.std()) / std - 1) < 0.2 and float(b.abs().max()) == 0.0
    from deepnet.models import DeepConvNet

    ours = [a.shape for k, a in DeepConvNet().params().items() if k.endswith(".W")]
    theirs = [tuple(m.weight.shape) if isinstance(m, torch.nn.Conv2d) else tuple(m.weight.shape[::-1])
              for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert ours == theirs


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


def test_each_gpu_check_stage_fits_eight_minutes():
    """The GPU machine runs one command for at most 10 minutes: each stage's caps, the device probe and the
    installs included, add up to at most 8; correctness and figures together (the two calls a lent session
    plans, with about 12 minutes of device time) to under 12 of caps, and every stage packs its results into
    one archive after every step."""
    import re

    text = (BENCH / "gpu_check.sh").read_text()
    fixed = sum(int(s) for s in re.findall(r"timeout (\d+) (?:python -m pip|env DEEPNET_BACKEND=gpu python -c)", text))
    stages = dict(re.findall(r"^(\w+)\)  #(.*?);;", text, re.M | re.S))
    assert set(stages) == {"correctness", "figures", "apps"}
    caps = {}
    for stage, body in stages.items():
        caps[stage] = fixed + sum(int(s) for s in re.findall(r"^\s*run (\d+) ", body, re.M))
        assert caps[stage] <= 480, f"stage {stage}: {caps[stage]} s of caps"
    assert caps["correctness"] + caps["figures"] <= 700, caps
    assert "pack\n  return 0" in text and "tar -czf \"$OUT/$stage.tar.gz\"" in text


def gpu_check(tmp_path, *argv, env=None):
    import os
    import subprocess

    out = tmp_path / "back"
    full = {k: v for k, v in os.environ.items() if not k.startswith("DEEPNET_")}
    full.update({"OUT": str(out), "GPU_CHECK_NO_INSTALL": "1", **(env or {})})
    r = subprocess.run(["bash", str(BENCH / "gpu_check.sh"), *argv], capture_output=True, text=True, env=full,
                       timeout=600, cwd=str(BENCH.parent))
    return r, out


def archive(out, stage) -> set:
    import tarfile

    with tarfile.open(out / f"{stage}.tar.gz") as t:
        return {m.name for m in t.getmembers() if m.isfile()}


def test_the_gpu_check_dry_run_returns_each_stages_files(tmp_path):
    """The stages' mechanics on the strict CuPy stand-in (benchmarks/gpu_check.sh --dry-run): every step exits 0,
    each stage returns its log and one archive (6 files for the three, under the 8 a lent machine returns), and
    the archives hold the results. The apps stage runs its four quick steps here (its training steps decode
    whole test sets, minutes on the stand-in: they ran in full when the dry run was written)."""
    for stage, env in (("correctness", None), ("figures", None),
                       ("apps", {"GPU_CHECK_ONLY": "gan dqn roofline breakdown_train"})):
        r, out = gpu_check(tmp_path, "--dry-run", stage, env=env)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
        assert "DRY RUN on the strict CuPy stand-in" in (out / f"{stage}.log").read_text()
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == sorted(
        f"{s}.{e}" for s in ("correctness", "figures", "apps") for e in ("log", "tar.gz"))
    assert {"correctness/gpu_tests.txt", "correctness/gpu_tests.xml", "correctness/every_backend.txt"} <= \
        archive(out, "correctness")
    assert {"figures/layer_breakdown_alexnet_cpu_gpu.json", "figures/train_time_cpu_gpu.json",
            "figures/train_time_gpu_batches.json"} <= archive(out, "figures")
    data = json.loads((out / "figures" / "train_time_cpu_gpu.json").read_text())
    assert {r["device"] for r in data["rows"]} == {"cpu", "gpu"}
    assert "apps/gan/history.json" in archive(out, "apps") and not any(n.endswith(".npz") for n in archive(out, "apps"))


def test_the_gpu_check_fails_when_no_device_answers(tmp_path):
    """Without the stand-in and without a GPU (this machine), every stage stops at the device probe with exit 3,
    says so, and still returns its log and archive: a check that cannot pass green without a device."""
    r, out = gpu_check(tmp_path, "correctness")
    assert r.returncode == 3, r.stdout[-2000:]
    assert "no CUDA device answered" in (out / "correctness.log").read_text()
    assert (out / "correctness.tar.gz").is_file() and "correctness/device.txt" in archive(out, "correctness")


def test_gpu_unpack_takes_only_the_stage_folder(tmp_path):
    import subprocess
    import tarfile

    src = tmp_path / "back"
    (src / "correctness").mkdir(parents=True)
    (src / "correctness" / "info.txt").write_text("ok")
    with tarfile.open(src / "correctness.tar.gz", "w:gz") as t:
        t.add(src / "correctness", arcname="correctness")
    evil = tmp_path / "evil"
    evil.mkdir()
    with tarfile.open(evil / "figures.tar.gz", "w:gz") as t:
        t.add(src / "correctness" / "info.txt", arcname="../escaped.txt")
    r = subprocess.run(["bash", str(BENCH / "gpu_unpack.sh"), str(evil)], capture_output=True, text=True)
    assert r.returncode == 2 and "outside figures/" in r.stderr


def test_roofline_smoke(tmp_path):
    rl = load("roofline")
    data = rl.main(["--smoke", "--out", str(tmp_path)])
    conv = [r for r in data["rows"] if r["type"] == "Convolution+Relu"]  # each step as training runs it
    # conv1 of DeepConvNet on a batch of 4: 2 * 4 * 16 * 28 * 28 * 1 * 3 * 3 FLOPs forward, twice that backward
    assert conv[0]["forward_flops"] == 2 * 4 * 16 * 28 * 28 * 9
    assert conv[0]["backward_flops"] == 2 * conv[0]["forward_flops"]
    assert data["gemm_peak_gflops_s"] > 0 and all(r["forward_gflops_s"] > 0 for r in conv)
    assert (tmp_path / "roofline_deepconvnet_b4_smoke.md").read_text().count("| conv") == 6


def test_epoch_time_smoke(tmp_path):
    et = load("epoch_time")
    rows = et.main(["--rounds", "1", "--limit", "200", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "epoch_time_limit200.json").read_text())
    assert rows["deepnet"]["epoch_s"] > 0 and rows["deepnet"]["wall_s"] >= rows["deepnet"]["epoch_s"]
    assert 0 <= data["rows"]["deepnet"]["rounds"][0]["test_acc"] <= 1


def test_dqn_profile_smoke(tmp_path, capsys):
    pytest.importorskip("minatar", reason="the rl extra (minatar) is not installed")
    prof = load("dqn_profile")
    prof.main(["--frames", "150", "--replay-start", "50", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "dqn_profile.json").read_text())
    assert data["frames"] >= 150 and data["updates"] > 0 and data["machine"]["cpu"]
    phases = data["phases_s"]
    assert set(prof.TOP) <= set(phases) and phases["learn"] > 0 and phases["game"] > 0
    # the phases and the rest of the loop make up the whole run; learning's parts lie inside "learn"
    assert sum(phases.values()) == pytest.approx(data["seconds"])
    assert sum(data["learn_s"].values()) == pytest.approx(phases["learn"])
    assert "frames/s" in capsys.readouterr().out


def test_adam_step_smoke(tmp_path):
    data = load("adam_step").main(["--sizes", "1000", "3000", "--repeats", "2", "--out", str(tmp_path)])
    assert [r["elements"] for r in data["rows"]] == [1000, 3000]
    assert all(r[k] > 0 for r in data["rows"] for k in ("compiled_ms", "compiled_one_thread_ms", "numpy_ms"))
    assert (tmp_path / "adam_step.json").is_file() and data["machine"]["cpu"]


@pytest.mark.parametrize("path", ["winograd", "direct"])
def test_winograd_smoke(tmp_path, capsys, path):
    pytest.importorskip("numba")
    from deepnet import backends
    from deepnet.backends.cpu import blas, tuning

    if blas.addresses() is None:
        pytest.skip("Winograd runs with the one-call chunks only (NumPy's OpenBLAS called from Numba)")
    wg = load("winograd")
    gates = [name for names in wg.GATES.values() for name in names]
    before = [getattr(tuning, name) for name in gates], backends.current().chunked_conv.direct
    wg.main(["--smoke", "--path", path, "--out", str(tmp_path)])
    after = [getattr(tuning, name) for name in gates], backends.current().chunked_conv.direct
    assert after == before  # forced for the run only
    data = json.loads((tmp_path / f"{path}_deepconvnet.json").read_text())
    assert data["benchmark"] == path
    assert len(data["rows"]) == 6  # DeepConvNet's six 3x3 stride-1 convolutions
    for row in data["rows"]:
        assert all(row[f"{m}_{p}_ms"] > 0 for m in ("im2col", path) for p in ("forward", "backward"))
        assert row["forward_speedup"] == pytest.approx(row["im2col_forward_ms"] / row[f"{path}_forward_ms"])
    assert "backward" in capsys.readouterr().out
