"""The README's library example runs as written, and its links point at files that exist."""
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def test_the_library_example_runs_as_written(tmp_path, monkeypatch, cpu32):
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## As a library"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)  # it saves weights.npz
    scope = {}
    exec(compile(code, "README.md (As a library)", "exec"), scope)
    assert np.isfinite(scope["bk"].item(scope["loss"]))
    assert (tmp_path / "weights.npz").is_file()


def test_the_readme_and_docs_link_to_files_that_exist():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert len(pages) >= 7
    missing = []
    for page in pages:
        for m in re.finditer(r"\]\(([^)#\s]+)(#[^)]*)?\)", page.read_text()):
            if not m.group(1).startswith("http") and not (page.parent / m.group(1)).exists():
                missing.append(f"{page.name}: {m.group(1)}")
    assert not missing, missing
