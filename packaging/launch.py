"""The entry point of the PyInstaller app (packaging/tnm-desktop.spec): ``tnm-desktop[.exe] ARGS``.

The app starts its own helper processes (the simulator, the headless demo's agent, the MT5
connection test) as ``sys.executable -m tnm_desktop ARGS``; frozen, ``sys.executable`` is this
program, so it accepts that form too.
"""

import sys

if sys.argv[1:3] == ["-m", "tnm_desktop"]:
    del sys.argv[1:3]

from tnm_desktop.cli import main

sys.exit(main())
