"""Every Triton kernel compiles for an sm_90 GPU (tests/triton_compile.py, in a process of its own so that
TRITON_INTERPRET is unset when the kernels are imported). Skipped where triton is not installed, like the
interpreter tests."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

if importlib.util.find_spec("triton") is None:
    pytest.skip("triton not installed (GPU machine, or pip install --target ... triton)", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent


def test_every_kernel_compiles_for_sm90():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *sys.path])  # the triton this test run found
    run = subprocess.run([sys.executable, str(ROOT / "tests" / "triton_compile.py")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    names = ("stride_scan", "deform_conv", "deform_conv_bwd", "selective_scan_fwd", "selective_scan_bwd")
    assert all(f"{name}: " in run.stdout and "registers" in run.stdout for name in names), run.stdout
