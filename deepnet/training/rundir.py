"""A run directory holds one run, of one command: refused when it already holds one, locked while a run
writes to it, resumed only by the command that made it and only with that run's own settings.

Every command that writes a run directory (`deepnet train`, `deepnet gan`) opens it here, so the rules
are the same for all of them:

- `--out R` into a directory holding any of RUN_FILES stops and names the command that continues it
  (`deepnet train --out R --resume`, `deepnet gan --out R --resume`) and `--overwrite`; `--overwrite`
  deletes those files first, every command's pictures and reports included.
- While a run writes, the directory itself is locked (flock on the directory, released when the process
  ends however it ends), so a second run into it fails at once instead of mixing two runs' files.
- `config.json` names the command (`"command"`; a file without it is `deepnet train`'s) and is written
  with the first checkpoint, so a directory with a config.json or a checkpoint has a run to resume.
  A run killed between its first checkpoint and its config.json is resumed from the settings kept
  in the checkpoint itself.
- `--resume` continues with the saved settings; options given again may differ only where the command
  allows it (`check_changes`), every other difference is refused with the list.
- Temporary files left by a killed write (.NAME.*.tmp) are removed when a run starts.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .. import io
from ..errors import BadFile, InvalidValue, MissingFile, RunDirectoryError

#: Every file a run of any command writes into its directory (checkpoints, settings, history, pictures and
#: reports): what makes a directory "hold a run", and what --overwrite deletes.
RUN_FILES = ("config.json", "history.json", "last.npz", "best.npz", "curves.png", "misclassified.png",
             "segmentation.png", "samples.png", "progress.png", "judge.json", "detections.png", "curve.png",
             "frames.png")

#: How each command continues a run in `{path}`.
RESUME_HINTS = {"train": "deepnet train --out {path} --resume", "gan": "deepnet gan --out {path} --resume",
                "dqn": "deepnet dqn --out {path} --resume"}

try:
    import fcntl
except ImportError:  # not POSIX: no lock (the existing-run check still holds)
    fcntl = None


class RunDirectory:
    def __init__(self, path, command: str = "train"):
        self._fd = None
        if not str(path).strip():
            raise InvalidValue("`out` must name a directory; got an empty string", parameters=("out",))
        if command not in RESUME_HINTS:
            raise ValueError(f"unknown command {command!r}")
        self.path = Path(path)
        self.command = command

    def existing(self) -> list[str]:
        return [name for name in RUN_FILES if (self.path / name).exists()]

    def kind(self) -> str | None:
        """The command whose run the directory holds ('train', 'gan'), or None when it holds no run to
        resume (no config.json and no checkpoint)."""
        cfg = self.path / "config.json"
        if cfg.is_file():
            raw = _read_json(cfg)
            command = raw.get("command", "train")
            if command not in RESUME_HINTS:
                raise BadFile(f"{cfg}: 'command' should be one of {', '.join(RESUME_HINTS)}; got {command!r}")
            return command
        last = self.path / "last.npz"
        if last.is_file():
            _, meta = io.read_index(last)
            return {"dcgan": "gan", "dqn": "dqn"}.get(meta.get("model"), "train")
        return None

    def resume_hint(self, kind: str | None = None) -> str:
        return RESUME_HINTS[kind or self.command].format(path=self.path)

    def require_run(self) -> None:
        """Before resuming: the directory must hold a run of this command (else say what continues it)."""
        if not self.path.is_dir():
            raise MissingFile(f"no run directory {self.path} to resume; start a run with "
                              f"`deepnet {self.command} --out {self.path}`")
        kind = self.kind()
        if kind is None:
            found = self.existing()
            start = f"deepnet {self.command} --out {self.path}" + (" --overwrite" if found else "")
            raise MissingFile(f"{self.path} holds no run to resume (no config.json and no last.npz"
                              f"{'; only ' + ', '.join(found) if found else ''}); start a new run with `{start}`")
        if kind != self.command:
            raise RunDirectoryError(f"{self.path} holds a deepnet {kind} run, not a deepnet {self.command} one; "
                                    f"continue it with `{self.resume_hint(kind)}`, or choose another directory")

    def open(self, resume: bool = False, overwrite: bool = False) -> RunDirectory:
        """Create and lock the directory; refuse a finished or started run unless resuming or overwriting."""
        if resume and overwrite:
            raise InvalidValue("`resume` continues a run and `overwrite` replaces one: give only one of them",
                               parameters=("resume", "overwrite"))
        if self.path.exists() and not self.path.is_dir():
            raise RunDirectoryError(f"`out` {self.path} is a file, not a directory", parameters=("out",))
        if resume:
            self.require_run()
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            found = self.existing()
            if found and not resume:
                if not overwrite:
                    kind = self.kind()
                    what = (f"a deepnet {kind} run" if kind else "files of an earlier run") + f" ({', '.join(found)})"
                    cont = f"Continue it with `{self.resume_hint(kind)}`, replace" if kind else "Replace"
                    raise RunDirectoryError(f"{self.path} already holds {what}. {cont} it with `overwrite`, "
                                            f"or choose another `out`", parameters=("overwrite", "out"))
                for name in found:
                    (self.path / name).unlink()
            for stale in self.path.glob(".*.tmp"):  # a write killed half-way (deepnet.io.atomic_open)
                stale.unlink(missing_ok=True)
        except BaseException:
            self.close()
            raise
        return self

    def read_config(self) -> tuple[dict, str]:
        """(the run's saved settings, the file they came from): config.json, or (a run killed before
        writing it) those kept in last.npz's metadata under 'config'."""
        cfg = self.path / "config.json"
        if cfg.is_file():
            return _read_json(cfg), str(cfg)
        last = self.path / "last.npz"
        _, meta = io.read_index(last)
        saved = meta.get("config")
        if not isinstance(saved, dict):
            raise BadFile(f"{last}: no settings in its metadata, and no config.json beside it")
        return saved, str(last)

    def check_changes(self, saved: dict, given: dict, resumable) -> None:
        """Settings given again on resume: those in `resumable` may differ, any other must equal the
        saved value; every difference is listed in one error, naming the parameters."""
        differ = [k for k, v in given.items() if k not in resumable and k != "out" and v != saved.get(k)]
        conflicts = [f"`{k}` {given[k]!r} (the run has {saved.get(k)!r})" for k in differ]
        if "out" in given and Path(given["out"]) != self.path:
            differ.append("out")
            conflicts.append(f"`out` {given['out']!r} (resuming writes to {self.path})")
        if conflicts:
            raise InvalidValue(
                f"`resume` continues {self.path} with its saved settings, but these settings differ: "
                f"{'; '.join(conflicts)}. Only {', '.join(f'`{k}`' for k in resumable)} may change on resume; "
                f"for other settings start a new run in another `out`",
                parameters=("resume", "out", *differ, *resumable))

    def _lock(self) -> None:
        if fcntl is None:
            return
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunDirectoryError(f"another deepnet run is writing to {self.path}; wait for it to finish or "
                                    f"choose another `out`", parameters=("out",)) from None
        self._fd = fd

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None


def _read_json(path: Path) -> dict:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadFile(f"{path} is not a readable run configuration (truncated or not JSON: {exc})") from None
    if not isinstance(raw, dict):
        raise BadFile(f"{path}: expected a JSON object of settings; got {type(raw).__name__}")
    return raw
