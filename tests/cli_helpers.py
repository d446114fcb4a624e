"""What the command-line tests share."""


def one_line(capsys, code, expected):
    """A user's mistake: exit status 2 and one line on stderr saying `expected`, no traceback. Returns stderr."""
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and expected in err, err
    return err


def drawn(capsys, argv, picture):
    """The standard output of `deepnet ARGV`, which must succeed and write the PNG `picture`."""
    from deepnet.cli import main

    capsys.readouterr()
    assert main([str(a) for a in argv]) == 0
    out = capsys.readouterr().out
    assert picture.stat().st_size > 1000
    return out


#: `deepnet train` options for a run of a few seconds: SimpleConvNet on 200 digits, one batch an epoch
TINY = ["--model", "simpleconvnet", "--limit", "200", "--batch-size", "100", "--no-progress", "--no-plots",
        "--no-test-eval"]
#: a classifier's run of one epoch at the book's settings, as the commands that read a trained model need one
CLF = ["--model", "simpleconvnet", "--limit", "200", "--batch-size", "100", "--no-progress", "--no-plots",
       "--no-test-eval", "--epochs", "1", "--recipe", "book"]
#: `deepnet gan` options for a run of a few seconds: 64 digits, narrow networks
GAN = ["--limit", "64", "--batch-size", "32", "--width", "4", "--g-hidden", "8", "--d-hidden", "8", "--no-progress"]


def run_cli(*argv, env=None, timeout=300, **kwargs):
    """`python -m deepnet ARGS` in a fresh process, without this process's DEEPNET_ settings (for settings read
    when the backend is made)."""
    import os
    import subprocess
    import sys

    full = {k: v for k, v in os.environ.items() if not k.startswith("DEEPNET_")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "deepnet", *map(str, argv)], capture_output=True, text=True,
                          env=full, timeout=timeout, **kwargs)


def gan(*argv):
    """`deepnet gan ARGS` on the CPU in float32."""
    from deepnet import backends
    from deepnet.cli import main

    with backends.use("cpu", dtype="float32"):
        return main(["gan", *argv])


def copy(run, tmp_path, name="copy"):
    """A copy of a run directory to change."""
    import shutil

    dst = tmp_path / name
    shutil.copytree(run, dst)
    return dst


def rewrite(path, meta_changes=None, drop=(), arrays_changes=None, meta_drop=()):
    """Rewrite a checkpoint with some metadata or arrays changed (what a hostile or damaged file holds)."""
    from deepnet import io

    arrays, meta = io.load_arrays(path)
    meta.update(meta_changes or {})
    for k in meta_drop:
        meta.pop(k)
    arrays = {k: a for k, a in arrays.items() if k not in drop}
    arrays.update(arrays_changes or {})
    io.save_arrays(path, arrays, meta)
