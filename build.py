"""Build the Blender extension: one validated zip per platform in dist/.

    python build.py                        # linux-x64, windows-x64, macos-arm64
    python build.py --platform linux-x64   # just one

Steps: download the runtime wheels each platform needs into wheels/ (cached: a second build downloads nothing),
stage engine/ retarget/ addon/ as one extension package with a root __init__.py and a manifest listing the wheels,
build with Blender's own `blender_ext.py build --split-platforms`, then `blender_ext.py validate` every zip.
blender_ext.py is the stdlib-only tool that ships inside the `bpy` wheel, so no Blender binary is needed.

The C kernels (engine/native/: the selective scan and the deformable conv, loaded by engine/native.py) are built for
the machine running the build and go into that platform's zip only (a library named for its platform; the other
zips run their torch/numpy code). `python build.py --native` builds it into engine/native/ alone
(make test / make bench do).

Wheels: mediapipe 0.10.21 and what `mediapipe.solutions.pose` imports at run time, plus scipy. Never numpy (Blender
ships it), never torch, exactly one OpenCV (mediapipe's opencv-contrib-python). jax/jaxlib, sentencepiece and
sounddevice are declared by mediapipe but never imported by the pose solution: left out (~100 MB saved).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
WHEELS = ROOT / "wheels"
DIST = ROOT / "dist"
PACKAGES = ("engine", "retarget", "addon")
PYTHON_VERSION = "3.11"  # Blender 4.2 - 5.0

RUNTIME_WHEELS = (
    "mediapipe==0.10.21",
    "opencv-contrib-python==4.11.0.86",
    "protobuf==4.25.9",
    "absl-py==2.5.1",
    "attrs==26.1.0",
    "flatbuffers==25.12.19",
    "matplotlib==3.11.2",  # mediapipe.solutions imports drawing_utils, which imports matplotlib
    "contourpy==1.3.3",
    "cycler==0.12.1",
    "fonttools==4.68.0",
    "kiwisolver==1.5.1",
    "packaging==26.4",
    "pillow==13.0.0",
    "pyparsing==3.3.3",
    "python-dateutil==4.0.0",
    "tzdata==2026.6",
    "scipy==1.14.1",
)
FORBIDDEN = ("numpy", "torch", "jax", "jaxlib", "opencv_python", "opencv_python_headless",
             "opencv_contrib_python_headless")

# Blender platform -> pip --platform tags (pip takes exact tags, so list the ones wheels are published under)
PLATFORMS: dict[str, tuple[str, ...]] = {
    "linux-x64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"),
    "windows-x64": ("win_amd64",),
    "macos-arm64": ("macosx_15_0_arm64", "macosx_14_0_arm64", "macosx_13_0_arm64", "macosx_12_0_arm64",
                    "macosx_11_0_arm64", "macosx_10_9_universal2", "macosx_11_0_universal2"),
}
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "tests", ".pytest_cache", "*.egg-info", "_native-*")
NATIVE_DIR = ROOT / "engine" / "native"
NATIVE_KERNELS = ("scan.c", "deform.c")
# x86-64: the kernels once per instruction set, dispatch.c picks one at run time (engine/native/dispatch.c)
X86_VARIANTS = (("_avx512", ("-mavx512f", "-mavx2", "-mfma")), ("_avx2", ("-mavx2", "-mfma")), ("_sse2", ()))

ROOT_INIT = '''"""SasMamba Mocap extension root: engine/, retarget/ and addon/ are its subpackages."""

from .addon import register, unregister

__all__ = ["register", "unregister"]
'''


def blender_ext() -> Path:
    """blender_ext.py from the installed bpy wheel (found without importing bpy)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("error: the bpy wheel is not installed (make venv): it provides blender_ext.py")
    for base in spec.submodule_search_locations:
        found = sorted(Path(base).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if found:
            return found[-1]
    sys.exit("error: blender_ext.py not found inside the bpy wheel")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _wheel_name(filename: str) -> str:
    return _norm(filename.split("-")[0])


def download_wheels(platform: str) -> list[Path]:
    """The platform's wheels in wheels/<platform>/; a lock file listing them makes repeated builds offline."""
    target = WHEELS / platform
    lock = target / "lock.json"
    wanted = list(RUNTIME_WHEELS)
    if lock.is_file():
        data = json.loads(lock.read_text())
        files = [target / f for f in data.get("files", [])]
        if data.get("requirements") == wanted and files and all(f.is_file() for f in files):
            return files
    target.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
           "--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp", "-d", str(target)]
    for tag in PLATFORMS[platform]:
        cmd += ["--platform", tag]
    print(f"[build] {platform}: downloading {len(wanted)} wheels from PyPI ...", flush=True)
    proc = subprocess.run(cmd + wanted, capture_output=True, text=True)
    if proc.returncode != 0:  # pip's output only when it matters (it warns about every unused local index)
        sys.exit(f"error: pip download for {platform} failed (needs PyPI):\n{proc.stdout}{proc.stderr}")
    names = {_norm(r.split("==")[0]) for r in wanted}
    files = sorted(p for p in target.glob("*.whl") if _wheel_name(p.name) in names)
    by_name: dict[str, list[Path]] = {}
    for f in files:
        by_name.setdefault(_wheel_name(f.name), []).append(f)
    pinned = {_norm(r.split("==")[0]): r.split("==")[1] for r in wanted}
    chosen = []
    for name, candidates in sorted(by_name.items()):
        exact = [c for c in candidates if c.name.split("-")[1] == pinned[name]]
        chosen.append((exact or candidates)[-1])
    missing = names - {_wheel_name(f.name) for f in chosen}
    if missing:
        sys.exit(f"error: no {platform} wheel for: {', '.join(sorted(missing))}")
    bad = [f.name for f in chosen if _wheel_name(f.name) in FORBIDDEN]
    if bad:
        sys.exit(f"error: forbidden wheels selected: {bad}")
    lock.write_text(json.dumps({"requirements": wanted, "files": [f.name for f in chosen]}, indent=1))
    return chosen


def stage(stage_dir: Path, wheels: dict[str, list[Path]]) -> Path:
    """The extension's source tree: root __init__.py, manifest with wheels, the three packages, the wheels."""
    pkg = stage_dir / "sasmamba_mocap"
    pkg.mkdir(parents=True)
    for name in PACKAGES:
        shutil.copytree(ROOT / name, pkg / name, ignore=IGNORE)
    (pkg / "__init__.py").write_text(ROOT_INIT)
    for extra in ("README.md", "LICENSE"):
        if (ROOT / extra).is_file():
            shutil.copy2(ROOT / extra, pkg / extra)
    (pkg / "wheels").mkdir()
    rel = []
    for files in wheels.values():
        for f in files:
            dst = pkg / "wheels" / f.name
            if not dst.exists():
                try:
                    dst.hardlink_to(f)
                except OSError:
                    shutil.copy2(f, dst)
                rel.append(f"./wheels/{f.name}")
    manifest = (ROOT / "blender_manifest.toml").read_text()
    lines = [ln for ln in manifest.splitlines() if not ln.startswith(("platforms =", "wheels ="))]
    head_end = lines.index("[permissions]")
    generated = ["platforms = [" + ", ".join(f'"{p}"' for p in wheels) + "]"]
    if rel:
        generated += ["wheels = [", *(f'  "{w}",' for w in sorted(rel)), "]"]
    generated.append("")
    (pkg / "blender_manifest.toml").write_text("\n".join(lines[:head_end] + generated + lines[head_end:]) + "\n")
    return pkg


def c_compiler() -> str | None:
    """$CC, else cc, gcc or clang on PATH. The scan uses GNU C vector extensions: no MSVC."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def compile_native(out_dir: Path = NATIVE_DIR, *, force: bool = False) -> Path | None:
    """engine/native/'s C kernels built for this machine into out_dir, named as engine/native.py looks for them.
    Kept when newer than their sources (unless `force`). None, with a message, where there is no C compiler or the
    build fails: the extension then runs without them."""
    from engine.native import library_path

    target = out_dir / library_path().name
    sources = [NATIVE_DIR / name for name in (*NATIVE_KERNELS, "dispatch.c", "vec.h")]
    if not force and target.is_file() and all(target.stat().st_mtime >= s.stat().st_mtime for s in sources):
        return target
    cc = c_compiler()
    if cc is None or sys.platform == "win32":
        print("[build] no C compiler (cc/gcc/clang) here: the C kernels are not built; torch/numpy code is used",
              flush=True)
        return None
    flags = ["-O3", "-fPIC", "-fvisibility=hidden", "-Wall"]
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sasmamba-native-") as tmp:
        steps = []
        if platform.machine().lower() in ("x86_64", "amd64"):
            for suffix, isa in X86_VARIANTS:
                steps += [[*flags, *isa, f"-DISA_SUFFIX={suffix}", "-c", str(NATIVE_DIR / name),
                           "-o", f"{tmp}/{name}{suffix}.o"] for name in NATIVE_KERNELS]
            steps.append([*flags, "-c", str(NATIVE_DIR / "dispatch.c"), "-o", f"{tmp}/dispatch.o"])
        else:
            steps = [[*flags, "-c", str(NATIVE_DIR / name), "-o", f"{tmp}/{name}.o"] for name in NATIVE_KERNELS]
        built = target.with_name(target.name + ".tmp")  # then renamed: a loader never sees half a library
        for args in [*steps, ["-shared", "-o", str(built), *(step[-1] for step in steps)]]:
            proc = subprocess.run([cc, *args], capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"[build] C kernels not built ({cc} failed): {proc.stderr.strip()[:2000]}", flush=True)
                return None
        os.replace(built, target)
    print(f"[build] C kernels: {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}", flush=True)
    return target


def host_platform() -> str | None:
    """The Blender platform this machine builds native code for (None: not one we ship)."""
    return {("linux", "x86_64"): "linux-x64", ("win32", "amd64"): "windows-x64",
            ("darwin", "arm64"): "macos-arm64"}.get((sys.platform, platform.machine().lower()))


def drop_native_libraries(zip_path: Path) -> int:
    """Rewrite a zip without engine/native's compiled libraries (built for another platform, they would be dead
    weight there). Returns how many were dropped."""
    with zipfile.ZipFile(zip_path) as src:
        foreign = [i for i in src.infolist() if "/native/_native-" in "/" + i.filename]
        if not foreign:
            return 0
        tmp = zip_path.with_name(zip_path.name + ".tmp")
        with zipfile.ZipFile(tmp, "w") as dst:
            for info in src.infolist():
                if info not in foreign:
                    dst.writestr(info, src.read(info), compress_type=info.compress_type)
    os.replace(tmp, zip_path)
    return len(foreign)


def run_blender_ext(*args: str) -> str:
    proc = subprocess.run([sys.executable, str(blender_ext()), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"error: blender_ext.py {args[0]} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def build(platforms: list[str], *, out_dir: Path = DIST) -> list[Path]:
    wheels = {p: download_wheels(p) for p in platforms}
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sasmamba-build-") as tmp:
        pkg = stage(Path(tmp), wheels)
        compile_native(pkg / "engine" / "native", force=True)
        run_blender_ext("validate", str(pkg))
        for old in out_dir.glob("sasmamba_mocap-*.zip"):
            if any(old.stem.endswith(p.replace("-", "_")) for p in platforms):
                old.unlink()
        print("[build] zipping ...", flush=True)
        run_blender_ext("build", "--source-dir", str(pkg), "--output-dir", str(out_dir), "--split-platforms")
    zips = sorted(z for z in out_dir.glob("sasmamba_mocap-*.zip")
                  if any(z.stem.endswith(p.replace("-", "_")) for p in platforms))
    for z in zips:
        if not z.stem.endswith(str(host_platform()).replace("-", "_")):
            drop_native_libraries(z)
        run_blender_ext("validate", str(z))
        print(f"[build] {z.relative_to(ROOT) if z.is_relative_to(ROOT) else z}: {z.stat().st_size / 2**20:.1f} MiB, "
              "validated")
    return zips


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", action="append", choices=sorted(PLATFORMS),
                        help="build only this platform (repeatable); default: all")
    parser.add_argument("--out", type=Path, default=DIST, help="output folder (default dist/)")
    parser.add_argument("--native", action="store_true",
                        help="only build the C kernels into engine/native/ for this machine (if out of date)")
    args = parser.parse_args(argv)
    if args.native:
        compile_native()
        return 0
    zips = build(args.platform or list(PLATFORMS), out_dir=args.out)
    return 0 if zips else 1


if __name__ == "__main__":
    sys.exit(main())
