"""``python -m codexrs``: the codexrs command line."""

import sys

from .cli import main

sys.exit(main())
