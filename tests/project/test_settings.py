"""Every environment variable that configures deepnet is read in one module, backends/settings.py, which lists
them all in its docstring."""
import re
from pathlib import Path

from deepnet.backends import settings

ROOT = Path(__file__).resolve().parents[2]


def sources():
    return [p for folder in ("deepnet", "backends") for p in (ROOT / folder).rglob("*.py")]


def test_only_the_settings_module_reads_deepnets_variables():
    # os.environ.get("DEEPNET_X") or os.environ["DEEPNET_X"] not followed by an assignment (a write is allowed:
    # distributed.py chooses each rank's device before the backend opens)
    reads = re.compile(r"""os\.environ(?:\.get\(\s*["'](DEEPNET_\w+)|\[\s*["'](DEEPNET_\w+)["']\](?!\s*=[^=]))""")
    elsewhere = [f"{p.relative_to(ROOT)}: {m.group(1) or m.group(2)}" for p in sources() if p.name != "settings.py"
                 for m in reads.finditer(p.read_text())]
    assert not elsewhere, elsewhere


def test_the_settings_docstring_lists_every_variable_the_code_names():
    named = {m for p in sources() for m in re.findall(r"\bDEEPNET_[A-Z_]+\b", p.read_text())}
    listed = set(re.findall(r"^(DEEPNET_[A-Z_]+)", settings.__doc__, re.M))
    assert named <= listed, sorted(named - listed)
    assert {"DEEPNET_BACKEND", "DEEPNET_THREADS", "DEEPNET_DATA", "DEEPNET_MNIST_MIRRORS"} <= listed


def test_the_thread_count_is_checked_where_it_is_read(monkeypatch):
    import pytest

    from deepnet.backends.errors import ConfigError

    monkeypatch.setenv("DEEPNET_THREADS", "two")
    with pytest.raises(ConfigError, match="DEEPNET_THREADS='two' is not a thread count"):
        settings.threads()
    monkeypatch.setenv("DEEPNET_THREADS", " 3 ")
    assert settings.threads() == 3
    monkeypatch.delenv("DEEPNET_THREADS")
    assert settings.threads() is None
    monkeypatch.setenv("DEEPNET_MNIST_MIRRORS", "none")
    assert settings.mnist_mirrors(["a"]) == []
