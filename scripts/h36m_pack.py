"""Pack Human3.6M's 3D joints small enough to travel to the GPU machine beside a prebuilt mamba-ssm, and unpack them.

    python scripts/h36m_pack.py pack ../shared/data/h36m/poses3d_17j.npz H36M/poses3d_17j.pack.xz     # here
    python3 scripts/h36m_pack.py unpack H36M/poses3d_17j.pack.xz H36M/poses3d_17j.npz               # there

with H36M = .cache/shared/data/h36m (scripts/gpu_prepare.sh and gpu_setup.sh run these).

`carry` sends at most 64 MiB. The npz (int16 mm, deflated) is 31 MB and xz gains nothing on it; stored as
frame-to-frame differences the same integers xz to 9 MB, which leaves room for mamba-ssm's built package
(scripts/mamba_prebuilt.py) and saves the 2.3-minute build every session. The round trip is exact: integer
differences and their running sum wrap the same way. Needs numpy only (the GPU machine has no checkout venv).
"""

from __future__ import annotations

import json
import lzma
import os
import struct
import sys
from pathlib import Path

import numpy as np

FORMAT = "h36m-delta-xz-1"


def delta_encode(a: np.ndarray) -> np.ndarray:
    """Integer arrays as differences along the first axis (frames), the first row kept; others unchanged."""
    if not np.issubdtype(a.dtype, np.integer) or a.shape[0] < 2:
        return a
    d = a.copy()
    d[1:] = a[1:] - a[:-1]  # wraps around in the array's own dtype, as the running sum below does
    return d


def delta_decode(d: np.ndarray) -> np.ndarray:
    if not np.issubdtype(d.dtype, np.integer) or d.shape[0] < 2:
        return d
    return np.cumsum(d, axis=0, dtype=d.dtype)


def pack(npz: Path, out: Path) -> dict:
    """npz -> one xz stream: an 8-byte header length, a JSON header (names, dtypes, shapes), then each array's
    differences in C order. Written to a temporary name first, so a stopped run leaves no half file."""
    with np.load(npz) as data:
        arrays = {name: data[name] for name in data.files}
    header = {"format": FORMAT, "arrays": [{"name": n, "dtype": a.dtype.str, "shape": list(a.shape)}
                                           for n, a in arrays.items()]}
    head = json.dumps(header).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with lzma.open(tmp, "wb", preset=6) as fh:
        fh.write(struct.pack("<Q", len(head)) + head)
        for a in arrays.values():
            fh.write(np.ascontiguousarray(delta_encode(a)).tobytes())
    os.replace(tmp, out)
    return header


def unpack(src: Path, npz: Path) -> int:
    """The packed stream -> an npz holding the same arrays under the same names (stored, not deflated: the GPU
    machine reads it at once). Returns the number of arrays."""
    with lzma.open(src, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
        if header.get("format") != FORMAT:
            raise ValueError(f"{src} is not a {FORMAT} pack (format {header.get('format')!r})")
        arrays = {}
        for spec in header["arrays"]:
            dtype = np.dtype(spec["dtype"])
            count = int(np.prod(spec["shape"]))
            raw = fh.read(count * dtype.itemsize)
            if len(raw) != count * dtype.itemsize:
                raise ValueError(f"{src} ends inside array {spec['name']!r}: truncated")
            arrays[spec["name"]] = delta_decode(np.frombuffer(raw, dtype).reshape(spec["shape"]))
    npz.parent.mkdir(parents=True, exist_ok=True)
    tmp = npz.with_name(npz.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, npz)
    return len(arrays)


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("pack", "unpack"):
        print(__doc__, file=sys.stderr)
        return 2
    src, dst = Path(argv[1]), Path(argv[2])
    if not src.is_file():
        print(f"h36m_pack: {src} does not exist", file=sys.stderr)
        return 1
    if argv[0] == "pack":
        header = pack(src, dst)
        print(f"packed {len(header['arrays'])} arrays: {src} ({src.stat().st_size / 1e6:.1f} MB) -> {dst} "
              f"({dst.stat().st_size / 1e6:.1f} MB)")
    else:
        print(f"unpacked {unpack(src, dst)} arrays: {src} -> {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
