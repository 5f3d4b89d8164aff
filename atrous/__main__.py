"""``python -m atrous``: the command line."""

import os
import sys

# ``python -m`` puts the working directory first on sys.path, where a folder named like a
# library (``matplotlib/``, ``torch/``) would shadow it; atrous is already imported, so the
# entry goes. A user's MODULE:CALLABLE is still found there: its import alone sees the folder.
# (``sys.flags.safe_path``, i.e. ``-P``, exists from Python 3.11 on.)
if not getattr(sys.flags, "safe_path", False) and sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from atrous.cli import main

sys.exit(main())
