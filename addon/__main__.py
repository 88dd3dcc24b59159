"""`python -m addon ...`: the headless CLI (see addon/cli.py)."""

import sys

from . import unregister
from .cli import main

code = main()
# bpy 4.2-4.4 as a Python module segfault at interpreter exit while add-on classes are still registered (the
# output is complete, but the exit status becomes -11): unregister first. Harmless on 5.0.
unregister()
sys.exit(code)
