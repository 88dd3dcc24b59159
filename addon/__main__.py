"""`python -m addon ...`: the headless CLI (see addon/cli.py)."""

import os
import sys

import bpy

from .cli import main

try:
    code = main()
except SystemExit as exc:  # argparse errors, --help, a failed operator
    code = exc.code
if bpy.app.version < (5, 0):
    # bpy 4.2/4.3 as a Python module segfault at interpreter exit once any Operator or Panel has been registered
    # (ours, or Rigify's for the meta-rig, even after unregistering/disabling it), and 4.5.15 hangs in its exit
    # teardown: the files are written, but the exit status would be -11 (or never come). Blender bugs, not API
    # differences, hence the version check. 4.4 and 5.0 exit cleanly.
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
sys.exit(code)
