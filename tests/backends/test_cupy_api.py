"""A static check that every array-module name deepnet uses exists in CuPy (no GPU needed)."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "deepnet").rglob("*.py")) + sorted((ROOT / "backends").rglob("*.py"))
# `xp.name`, `self.xp.name`, `bk.xp.name`, `current().xp.name`
USE = re.compile(r"\bxp\.([A-Za-z_][A-Za-z0-9_]*)")


def used_names():
    names = {}
    for path in SOURCES:
        for m in USE.finditer(path.read_text()):
            names.setdefault(m.group(1), path.relative_to(ROOT).as_posix())
    return names


def test_the_scan_finds_the_layers_vocabulary():
    names = used_names()
    assert {"matmul", "where", "maximum", "take_along_axis", "zeros", "pad"} <= set(names)


def test_every_xp_name_exists_in_cupy():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed (CI installs cupy-cuda12x)")
    missing = {n: where for n, where in used_names().items() if not hasattr(cupy, n)}
    assert not missing, f"names used as xp.<name> that CuPy lacks: {missing}"


def test_cupy_is_never_imported_outside_backends():
    offenders = [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "deepnet").rglob("*.py"))
                 if re.search(r"^\s*(import cupy|from cupy)", p.read_text(), re.M)]
    assert offenders == []
