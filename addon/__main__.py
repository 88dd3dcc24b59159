"""`python -m addon ...`: the headless CLI (see addon/cli.py)."""

import os
import sys

import bpy

from .cli import main

try:
    code = main()
except SystemExit as exc:  # argparse errors, --help, a failed operator
    code = exc.code
if bpy.app.version < (4, 4):
    # bpy 4.2 as a Python module segfaults at interpreter exit once any Operator or Panel has been registered
    # (ours, or Rigify's for the meta-rig, even after unregistering/disabling it): the files are written, but the
    # exit status would be -11. A Blender bug, not an API difference, hence the version check. 4.4+ exit cleanly.
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
sys.exit(code)
