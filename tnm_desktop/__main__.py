"""``python -m tnm_desktop`` is ``tnm-desktop``."""

import sys

from tnm_desktop.cli import main

sys.exit(main())
