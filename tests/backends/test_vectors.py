"""The compiled kernels' vector width (backends/cpu/vectors.py), each case in a fresh process: Numba's target
features are fixed once per process, when its first function is made."""
import os
import subprocess
import sys

import pytest

pytest.importorskip("numba")

NOT_256 = "-prefer-256-bit"

# A loop LLVM vectorises, compiled afresh (no cache), and what its machine code and Numba's features say.
PROBE = """
import re, numba, numpy as np
from numba.core import config
from deepnet.backends.cpu import vectors
@numba.njit
def axpy(a, x, y):
    for i in range(y.shape[0]):
        y[i] += a * x[i]
x = np.ones(1000, np.float32)
axpy(np.float32(2), x, x.copy())
asm = next(iter(axpy.inspect_asm().values()))
print(config.CPU_FEATURES is not None and vectors.NOT_256 in config.CPU_FEATURES.split(","), vectors.wide(),
      bool(re.search(r"\\bzmm", asm)))
"""


def run(code, **env):
    full = {k: v for k, v in os.environ.items() if not k.startswith(("DEEPNET_", "NUMBA_CPU"))}
    full.update(env)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=300)
    return r


def avx512() -> bool:
    from numba.core import codegen

    return "+avx512f" in codegen.get_host_cpu_features().split(",")


def test_avx512_hosts_get_512_bit_vectors():
    r = run(PROBE)
    assert r.returncode == 0, r.stderr
    if avx512():
        assert r.stdout.split() == ["True", "True", "True"]
    else:
        assert r.stdout.split() == ["False", "False", "False"]


def test_switched_off_keeps_llvms_default():
    r = run(PROBE, DEEPNET_WIDE_VECTORS="off")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[:2] == ["False", "False"]


def test_a_program_that_used_numba_first_keeps_its_features():
    first = "import numba\nnumba.njit(lambda v: v + 1)(1)\n"
    r = run(first + PROBE)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[:2] == ["False", "False"]


def test_the_users_own_features_are_kept():
    from numba.core import codegen

    mine = codegen.get_host_cpu_features()
    r = run("from numba.core import config\nfrom deepnet.backends.cpu import vectors\n"
            "print(config.CPU_FEATURES == " + repr(mine) + ")", NUMBA_CPU_FEATURES=mine)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True"]


def test_deepnet_info_names_the_setting():
    code = "from deepnet import backends\nprint(backends.current().describe()['kernels'])"
    on, off = run(code), run(code, DEEPNET_WIDE_VECTORS="0")
    assert on.returncode == 0 and off.returncode == 0, on.stderr + off.stderr
    assert ("512-bit vectors preferred" in on.stdout) == avx512()
    assert "512-bit" not in off.stdout


def test_a_bad_value_says_what_was_expected():
    r = run("from deepnet.backends.cpu import vectors", DEEPNET_WIDE_VECTORS="wide")
    assert r.returncode != 0
    assert "DEEPNET_WIDE_VECTORS='wide' is not on or off" in r.stderr
