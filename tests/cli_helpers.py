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
