import os
import sys

from ml_intern_jupyter import __main__ as entry


def test_opens_the_quickstart_and_passes_options_through():
    seen: list[list[str]] = []
    assert entry.main(["--no-browser"], launch=seen.append) == 0
    argv = seen[0]
    assert argv[0].endswith("examples/quickstart.ipynb") and os.path.isfile(argv[0])
    assert "--no-browser" in argv
    assert ("--allow-root" in argv) == (os.geteuid() == 0)


def test_an_explicit_notebook_replaces_the_quickstart():
    seen: list[list[str]] = []
    entry.main(["mine.ipynb"], launch=seen.append)
    assert seen[0][0] == "mine.ipynb" and not any("quickstart" in a for a in seen[0])


def test_without_jupyterlab_it_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "jupyterlab.labapp", None)
    assert entry.main([]) == 2
    assert "pip install 'ml-intern-jupyter[lab]'" in capsys.readouterr().err
