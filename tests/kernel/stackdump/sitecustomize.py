"""Test-only: lets the kernel tests see what a kernel was doing when it hung.

`tests/kernel/helpers.py` puts this directory on the PYTHONPATH of the kernels
it starts, with MLIJ_STACK_FILE set. Such a kernel then writes every thread's
stack to that file on SIGUSR1 (the runner sends it when a notebook fails)
and every MLIJ_STACK_AFTER seconds (default 60) while it lives.
"""

import faulthandler
import os
import signal

_path = os.environ.get("MLIJ_STACK_FILE")
if _path:
    _file = open(_path, "a")  # noqa: SIM115 - kept open for the process's lifetime
    faulthandler.register(signal.SIGUSR1, file=_file, all_threads=True)
    faulthandler.dump_traceback_later(
        float(os.environ.get("MLIJ_STACK_AFTER", "60")), repeat=True, file=_file
    )
