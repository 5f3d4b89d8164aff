"""``python -m atrous``: the command line."""

import sys

from atrous.cli import main

sys.exit(main())
