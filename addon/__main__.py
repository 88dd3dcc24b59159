"""`python -m addon ...`: the headless CLI (see addon/cli.py)."""

import sys

from .cli import main

sys.exit(main())
