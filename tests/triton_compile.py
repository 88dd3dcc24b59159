"""Compile every Triton kernel of the engine for a Hopper GPU (sm_90) without one: Triton to PTX, then the ptxas
that ships inside the triton wheel. The CPU interpreter the other Triton tests use accepts code the GPU compiler
rejects (session 6: a module-level float read inside a kernel), so passing those tests does not show that a kernel
compiles. Run as a script, in a process of its own: TRITON_INTERPRET must be unset when the kernels are imported.
Prints one line per kernel: name, registers, spills; exits 1 if any fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from engine import triton_kernels, triton_ssm_kernels

TARGET = GPUTarget("cuda", 90, 32)


def pointers(names: str, dtype: str) -> dict:
    """'x y:fp32' -> {'x_ptr': '*<dtype>', 'y_ptr': '*fp32'}."""
    out = {}
    for name in names.split():
        base, _, own = name.partition(":")
        out[f"{base}_ptr"] = f"*{own or dtype}"
    return out


def ints(names: str) -> dict:
    return {n: "i32" for n in names.split()}


# kernel, its run-time signature (bf16 activations, as under autocast), its compile-time constants, warps
KERNELS = (
    ("stride_scan", triton_kernels.stride_scan_kernel,
     {**pointers("xa xc pa pc a:fp32 dtw:fp32 dtb:fp32 d:fp32 out:fp32", "bf16"), **ints("T J d out_dir_stride")},
     {"N": 16, "N_PAD": 16, "R": 4, "R_PAD": 4, "BLOCK_D": 32, "HAS_D": True, "ATOMIC": True, "PREFETCH": 1}, 1),
    ("deform_conv", triton_kernels.deform_conv_kernel,
     {**pointers("x off w:fp32 b:fp32 out", "bf16"), **ints("H W C xs_b xs_h xs_w os_b os_h os_w os_c")},
     {"K": 3, "BLOCK_P": 16, "BLOCK_C": 128, "HAS_BIAS": True, "SILU": True, "UNROLL": 1}, 4),
    ("deform_conv_bwd", triton_kernels.deform_conv_bwd_kernel,
     {**pointers("x off w:fp32 g gx:fp32 goff:fp32 part:fp32", "bf16"),
      **ints("H W C xs_b xs_h xs_w os_b os_h os_w os_c gs_b gs_h gs_w")},
     {"K": 3, "BLOCK_P": 8, "BLOCK_C": 128, "OFF_ATOMIC": False}, 8),
    ("selective_scan_fwd", triton_ssm_kernels.selective_scan_fwd_kernel,
     {**pointers("u dl a:fp32 b c d:fp32 bias:fp32 y h:fp32", "bf16"), **ints("Dch L G DG")},
     {"N": 16, "N_PAD": 16, "BLOCK_D": 32, "HAS_D": True, "HAS_BIAS": True, "SOFTPLUS": True, "STORE_STATES": True},
     1),
    ("selective_scan_bwd", triton_ssm_kernels.selective_scan_bwd_kernel,
     {**pointers("u dl a:fp32 b c d:fp32 bias:fp32 h:fp32 dy du:fp32 ddl:fp32 dbc:fp32 da:fp32 ddb:fp32", "bf16"),
      **ints("Dch L G DG")},
     {"N": 16, "N_PAD": 16, "BLOCK_D": 32, "HAS_D": True, "HAS_BIAS": True, "SOFTPLUS": True}, 1),
)


def compile_kernel(fn, signature: dict, constants: dict, num_warps: int, workdir: Path) -> str:
    """PTX for sm_90, assembled by the bundled ptxas: its register and spill report (raises on any failure)."""
    sig = {**signature, **{k: "constexpr" for k in constants}}
    kernel = triton.compile(ASTSource(fn=fn, signature=sig, constexprs=constants), target=TARGET,
                            options={"num_warps": num_warps})
    ptx = workdir / "k.ptx"
    ptx.write_text(kernel.asm["ptx"])
    ptxas = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
    run = subprocess.run([str(ptxas), "--gpu-name", "sm_90a", "-v", str(ptx), "-o", str(workdir / "k.cubin")],
                         capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"ptxas: {run.stderr.strip()}")
    return " ".join(line.split(":", 1)[-1].strip() for line in run.stderr.splitlines()
                    if "registers" in line or "spill" in line)


def main() -> int:
    if os.environ.get("TRITON_INTERPRET") == "1":
        print("TRITON_INTERPRET=1: the kernels were imported for the interpreter; run without it", file=sys.stderr)
        return 2
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn, signature, constants, warps in KERNELS:
            try:
                print(f"{name}: {compile_kernel(fn, signature, constants, warps, Path(tmp))}")
            except Exception as exc:  # noqa: BLE001 - report every kernel, then fail
                failed += 1
                print(f"{name}: FAILED {type(exc).__name__}: {exc}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
