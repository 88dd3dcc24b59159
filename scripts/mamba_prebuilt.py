"""Bring mamba-ssm's built package back from the GPU machine once, so later sessions unpack it instead of building.

    there, after a build:  python3 scripts/mamba_prebuilt.py save $OUT/mamba_built
    here, after the call:  python scripts/mamba_prebuilt.py join FILES_AT/mamba_built .cache/gpu/mamba_ssm_built.tar.xz
    there, next session:   python3 scripts/mamba_prebuilt.py restore .cache/gpu/mamba_ssm_built.tar.xz

The build takes 2.3 minutes of every session's first call (8% of its held time). `save` tars the installed
distribution's files (importlib.metadata's list, relative to its site-packages), xz-compresses them and splits the
result into parts under 16 MiB, the most a file `$OUT` brings back; the parts appear only once the archive is
whole. `join` checks the parts form one readable archive. `restore` unpacks into the running interpreter's
site-packages (or `--target`); scripts/gpu_setup.sh then imports the scan, and builds as before if that fails (a
new torch or CUDA on the machine).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import io
import lzma
import os
import sys
import sysconfig
import tarfile
from pathlib import Path

PART_BYTES = 15 * 2**20
PART_NAME = "mamba_ssm_built.tar.xz.part"


def distribution_files(dist: str) -> tuple[Path, list[str]]:
    """(site-packages folder, the distribution's files relative to it), leaving out what lies outside (scripts)."""
    d = md.distribution(dist)
    base = Path(d.locate_file("")).resolve()
    names = []
    for f in d.files or []:
        path = Path(d.locate_file(f)).resolve()
        if path.is_file() and path.is_relative_to(base):
            names.append(str(path.relative_to(base)))
    if not names:
        raise SystemExit(f"mamba_prebuilt: distribution {dist} lists no files under {base}")
    return base, sorted(names)


def save(out_dir: Path, dist: str = "mamba_ssm") -> list[Path]:
    base, names = distribution_files(dist)
    buf = io.BytesIO()
    with lzma.open(buf, "wb", preset=6) as xz, tarfile.open(fileobj=xz, mode="w") as tar:
        for name in names:
            tar.add(base / name, arcname=name)
    data = buf.getvalue()
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = []
    for i in range(0, len(data), PART_BYTES):
        part = out_dir / f"{PART_NAME}{i // PART_BYTES:02d}"
        tmp = part.with_name(part.name + ".tmp")
        tmp.write_bytes(data[i:i + PART_BYTES])
        parts.append((tmp, part))
    for tmp, part in parts:  # every part written before any appears under its final name
        os.replace(tmp, part)
    return [p for _, p in parts]


def join(parts_dir: Path, archive: Path) -> list[str]:
    parts = sorted(parts_dir.glob(PART_NAME + "[0-9][0-9]"))
    if not parts:
        raise SystemExit(f"mamba_prebuilt: no {PART_NAME}NN files in {parts_dir}")
    data = b"".join(p.read_bytes() for p in parts)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:xz") as tar:  # reads it all: xz checks its CRCs
        names = tar.getnames()
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(archive.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, archive)
    return names


def restore(archive: Path, target: Path | None = None) -> list[str]:
    target = target or Path(sysconfig.get_paths()["purelib"])
    with tarfile.open(archive, mode="r:xz") as tar:
        tar.extractall(target, filter="data")
        return tar.getnames()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("save", help="tar.xz the installed distribution into parts under OUT_DIR")
    s.add_argument("out_dir", type=Path)
    s.add_argument("--dist", default="mamba_ssm")
    j = sub.add_parser("join", help="join the parts into one checked archive")
    j.add_argument("parts_dir", type=Path)
    j.add_argument("archive", type=Path)
    r = sub.add_parser("restore", help="unpack the archive into site-packages")
    r.add_argument("archive", type=Path)
    r.add_argument("--target", type=Path)
    args = ap.parse_args(argv)
    if args.command == "save":
        parts = save(args.out_dir, args.dist)
        print(f"saved {args.dist} in {len(parts)} part(s), {sum(p.stat().st_size for p in parts) / 1e6:.1f} MB")
    elif args.command == "join":
        names = join(args.parts_dir, args.archive)
        print(f"joined {args.archive} ({args.archive.stat().st_size / 1e6:.1f} MB, {len(names)} files)")
    else:
        if not args.archive.is_file():
            print(f"mamba_prebuilt: {args.archive} does not exist", file=sys.stderr)
            return 1
        names = restore(args.archive, args.target)
        print(f"restored {len(names)} files from {args.archive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
