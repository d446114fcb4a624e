"""The exceptions that are the user's to fix, and the test the CLI uses to tell them from bugs.

A user error (a bad option, a wrong or hostile file, a missing dataset) prints as one line and
exits with status 2; anything else is a bug in deepnet and keeps its full traceback. Each class
also derives from the built-in exception a library caller would expect (ValueError for a bad value,
FileNotFoundError for a missing file), so `except ValueError` keeps working.

The backend package cannot import this module (it imports nothing from deepnet), so its two user
errors (ConfigError, BackendUnavailable) mark themselves with the same class attribute.
"""
from __future__ import annotations

import errno


class UserError(Exception):
    """Something the user can fix; the message says what was expected and what came.

    A library message names the parameters it is about, each written `name`, and lists them in `parameters`:
    `render` spells them as the caller knows them (a command as its flags, a file's checker as its keys)."""

    deepnet_user_error = True
    parameters: tuple = ()

    def __init__(self, *args, parameters=()):
        super().__init__(*args)
        if parameters:
            self.parameters = tuple(parameters)

    def render(self, spell) -> str:
        """The message with each `name` of `parameters` written spell(name)."""
        text = str(self)
        for name in self.parameters:
            text = text.replace(f"`{name}`", spell(name))
        return text


class InvalidValue(UserError, ValueError):
    """An option or argument outside what deepnet accepts."""


class MissingFile(UserError, FileNotFoundError):
    """A file or directory the user named does not exist."""


class BadFile(UserError, ValueError):
    """A file exists but is not what deepnet can read (corrupt, hostile, or for another model)."""


class MissingDependency(UserError, ImportError):
    """An optional package is needed; the message says which extra installs it."""


class RunDirectoryError(UserError, RuntimeError):
    """A run directory is in use, already holds a run, or cannot be written."""


#: OS errors that describe the user's environment (a full disk, a read-only or missing directory),
#: not a bug: printed as one line when they carry the file name they concern.
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR,
                      errno.EISDIR, errno.EEXIST, errno.ELOOP, errno.ENAMETOOLONG, errno.EDQUOT, errno.EFBIG,
                      errno.EIO, errno.ENOTEMPTY, errno.EBUSY}


def is_user_error(exc: BaseException) -> bool:
    if getattr(type(exc), "deepnet_user_error", False):
        return True
    return isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS and exc.filename is not None


def describe(exc: BaseException, spell=None) -> str:
    """The one line printed for a user error; `spell(name)` writes a parameter as the command's flag."""
    if isinstance(exc, OSError) and not getattr(type(exc), "deepnet_user_error", False):
        target = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
        return f"cannot use {target}: {exc.strerror}"
    if spell is not None and isinstance(exc, UserError):
        return exc.render(spell)
    return str(exc)
