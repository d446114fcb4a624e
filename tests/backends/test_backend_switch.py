"""The backend switch, run in subprocesses: each child picks its backend at import."""
import os
import subprocess
import sys

import pytest

PROBE = "import deepnet.backends as b; bk = b.current(); print(bk.name, bk.dtype.name)"


def run(code, **env):
    full = {k: v for k, v in os.environ.items() if not k.startswith("DEEPNET_")}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=120)


def cupy_installed():
    try:
        import cupy  # noqa: F401
    except Exception:
        return False
    return True


def gpu_answers():
    r = run("import cupy; cupy.zeros(1).sum().item()")
    return r.returncode == 0


@pytest.mark.parametrize("value", [None, "", "cpu", "CPU"])
def test_cpu_is_the_default(value):
    env = {} if value is None else {"DEEPNET_BACKEND": value}
    r = run(PROBE, **env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["cpu", "float32"]
    assert r.stderr == ""


def test_gpu_without_cupy_says_how_to_install():
    r = run("import sys; sys.modules['cupy'] = None\n" + PROBE, DEEPNET_BACKEND="gpu")
    assert r.returncode != 0
    assert "CuPy is not installed" in r.stderr
    assert "pip install 'deepnet[gpu]'" in r.stderr


@pytest.mark.skipif(not cupy_installed(), reason="CuPy is not installed here (CI installs cupy-cuda12x)")
def test_gpu_with_cupy_but_no_device_says_so():
    if gpu_answers():
        pytest.skip("a GPU answers on this machine")
    r = run(PROBE, DEEPNET_BACKEND="gpu")
    assert r.returncode != 0
    assert "CuPy" in r.stderr and "is installed but no CUDA device answered" in r.stderr
    assert "cudaError" in r.stderr or "CUDA" in r.stderr.split("answered:", 1)[1]
    assert "cpu" not in r.stdout.split()  # never a silent fall back to the CPU


def test_auto_falls_back_to_numpy_with_one_warning_line():
    code = "import sys; sys.modules['cupy'] = None\n" + PROBE
    r = run(code, DEEPNET_BACKEND="auto")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["cpu", "float32"]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "warning" in lines[0] and "CuPy is not installed" in lines[0]


def test_unknown_backend_lists_the_choices():
    r = run(PROBE, DEEPNET_BACKEND="tpu")
    assert r.returncode != 0
    assert "DEEPNET_BACKEND='tpu'" in r.stderr and "cpu, cpu-reference, gpu, auto" in r.stderr


@pytest.mark.parametrize("dtype", ["float64", "float16", " Float64 "])
def test_dtype_from_environment(dtype):
    r = run(PROBE, DEEPNET_DTYPE=dtype)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[1] == dtype.strip().lower()


def test_bad_dtype_lists_the_choices():
    r = run(PROBE, DEEPNET_DTYPE="int8")
    assert r.returncode != 0
    assert "DEEPNET_DTYPE='int8'" in r.stderr and "float32, float64, float16" in r.stderr


def test_bad_device_ordinal():
    r = run("import sys; sys.modules['cupy'] = None\n" + PROBE, DEEPNET_BACKEND="auto", DEEPNET_DEVICE="x")
    assert r.returncode != 0 and "DEEPNET_DEVICE='x'" in r.stderr


def test_cli_reports_backend_errors_in_one_line():
    r = run("import sys; from deepnet.cli import main; sys.exit(main(['info']))", DEEPNET_BACKEND="tpu")
    assert r.returncode == 2
    assert r.stderr.strip().startswith("deepnet: error: DEEPNET_BACKEND='tpu'")
    assert "Traceback" not in r.stderr


def test_info_reports_the_backend():
    r = run("import sys; from deepnet.cli import main; sys.exit(main(['info']))")
    assert r.returncode == 0, r.stderr
    assert "backend      cpu" in r.stdout and "numpy        " in r.stdout and "dtype        float32" in r.stdout


def test_bad_thread_count_stops_at_import():
    r = run(PROBE, DEEPNET_THREADS="two")
    assert r.returncode != 0
    assert "DEEPNET_THREADS='two' is not a thread count" in r.stderr


def test_a_source_checkout_imports_without_installing(tmp_path):
    # backends/ sits beside deepnet/ in the tree and is mapped to deepnet.backends only at install:
    # an uninstalled copy must still find it, and must not expose the rest of its root as deepnet.*
    import shutil

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for part in ("deepnet", "backends", "tests"):
        shutil.copytree(os.path.join(root, part), tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import deepnet, deepnet.backends as b, deepnet.layers\n"
            "print(deepnet.__file__); print(b.__file__); print(b.current().name)\n"
            "try:\n    import deepnet.tests\nexcept ImportError:\n    print('no deepnet.tests')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                       env={k: v for k, v in os.environ.items() if not k.startswith("DEEPNET_")})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[0] == str(tmp_path / "deepnet" / "__init__.py")
    assert lines[1] == str(tmp_path / "backends" / "__init__.py")
    assert lines[2:] == ["cpu", "no", "deepnet.tests"]
