"""`python -m ml_intern_jupyter [jupyter lab options]`: open the quickstart in JupyterLab."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path


def lab_arguments(args: list[str]) -> list[str]:
    """`args` for `jupyter lab`, opening the quickstart unless a path was given."""
    args = list(args)
    quickstart = Path(__file__).resolve().parent.parent / "examples" / "quickstart.ipynb"
    if quickstart.is_file() and all(a.startswith("-") for a in args):
        args.insert(0, str(quickstart))
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in args:
        args.append("--allow-root")  # containers and CI machines often run as root
    return args


def main(argv: list[str] | None = None, launch: Callable[[list[str]], object] | None = None) -> int:
    args = lab_arguments(sys.argv[1:] if argv is None else argv)
    if launch is None:
        try:
            from jupyterlab.labapp import LabApp
        except ImportError:
            print(
                "JupyterLab is not installed. Install it with: "
                "python -m pip install 'ml-intern-jupyter[lab]'",
                file=sys.stderr,
            )
            return 2
        launch = lambda a: LabApp.launch_instance(argv=a)  # noqa: E731
    launch(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
