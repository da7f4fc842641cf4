"""The entry point of the PyInstaller app (packaging/tnm-desktop.spec): ``tnm-desktop[.exe] ARGS``.

The app starts its own helper processes as ``sys.executable -m MODULE ARGS``: ``tnm_desktop``
itself (the simulator, the headless demo's agent, the MT5 connection test) and the database's
guard (``tnm_desktop.pgcluster.guard``, which stops PostgreSQL when the app is killed). Frozen,
``sys.executable`` is this program, so it accepts that form too, running the module as Python's
``-m`` would.
"""

import runpy
import sys

if len(sys.argv) > 2 and sys.argv[1] == "-m":
    module = sys.argv[2]
    del sys.argv[1:3]
    if module != "tnm_desktop":  # tnm_desktop's own __main__ is the command line below
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        sys.exit(0)  # a module that ends without sys.exit() succeeded

from tnm_desktop.cli import main

sys.exit(main())
