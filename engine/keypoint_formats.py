"""Other tools' keypoint files, read into (and written from) one layout: BlazePose-33 landmarks (T, 33, 4).

Every reader returns `Parsed`: landmarks (T, 33, 4) as (x, y, z, confidence), NaN where the format has no such
point or no person was found, plus whatever the file says about fps and image size. COCO-17 and OpenPose BODY_25
points land on their BlazePose counterparts (BODY_25 keeps heels and big toes), so one mapping
(`blazepose.blazepose_to_h36m`) serves every source. Readers raise KeyError/TypeError/ValueError on malformed
input; `keypoint_io.load_keypoints` turns those into an InputError naming the file.

Formats:
- COCO-17 JSON: a results list `[{"image_id", "keypoints": [x, y, s] * 17, "score"}]` (Detectron, mmpose
  `--out-json`), a ground-truth dict with "annotations" (and "images" for the size), or mmpose-inferencer frames
  `[{"frame_id", "instances": [{"keypoints": [[x, y]] * 17, "keypoint_scores": [...]}]}]`.
- OpenPose: a folder of `*_keypoints.json` (one per frame, `people[i].pose_keypoints_2d` = [x, y, c] * 25).
- MediaPipe landmark JSON: frames as lists of 33 `[x, y(, z(, visibility))]` (pixels or normalized 0..1), or as
  dicts `{name: {"x", "y", "z"?, "score"/"visibility"?}}` with BlazePose or COCO names (tfjs pose-detection).
  Either may be wrapped as `{"fps", "width", "height", "frames": [...]}`.
- MediaPipe landmark CSV: wide (`frame, nose_x, nose_y, nose_z, nose_visibility, ...` or `x0, y0, z0, v0, ...`)
  or long (`frame, landmark, x, y, z, visibility`).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .blazepose import (
    BLAZEPOSE_NAMES,
    BLAZEPOSE_TO_COCO,
    BODY25_TO_BLAZEPOSE,
    body25_to_blazepose,
)

_NAME_TO_BLAZEPOSE = {n: i for i, n in enumerate(BLAZEPOSE_NAMES)}
_CONF_KEYS = ("visibility", "score", "confidence", "v", "c", "presence")


@dataclass
class Parsed:
    landmarks: np.ndarray  # (T, 33, 4) x, y, z, confidence
    fmt: str
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    normalized: bool = False
    warnings: list[str] = field(default_factory=list)


def _num(value) -> float:
    if value is None:
        return float("nan")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _wrapper_info(data: dict) -> dict:
    out = {}
    for key in ("fps", "width", "height"):
        if data.get(key) is not None:
            out[key] = _num(data[key])
    return out


def _pick_people(frames: list[list[np.ndarray]]) -> np.ndarray:
    """One performer per frame from several candidates (33, 4): the one nearest the previous pick, else the surest."""
    out = np.full((len(frames), 33, 4), np.nan)
    prev: np.ndarray | None = None
    for t, people in enumerate(frames):
        if not people:
            continue
        scores = [np.nanmean(p[:, 3]) if np.isfinite(p[:, 3]).any() else 0.0 for p in people]
        best = int(np.argmax(scores))
        if prev is not None and len(people) > 1:
            dists = [np.nanmean(np.linalg.norm(p[:, :2] - prev[:, :2], axis=-1))
                     if np.isfinite(p[:, :2] - prev[:, :2]).any() else np.inf for p in people]
            if np.isfinite(min(dists)):
                best = int(np.argmin(dists))
        out[t] = people[best]
        prev = people[best]
    return out


def _coco_flat(values, n: int = 17) -> np.ndarray:
    """[x, y, s] * 17 (s a score or a COCO visibility flag 0/1/2) -> (33, 4)."""
    arr = np.array([_num(v) for v in values], dtype=np.float64)
    if arr.size != n * 3:
        raise ValueError(f"expected {n * 3} keypoint numbers, got {arr.size}")
    arr = arr.reshape(n, 3)
    out = np.full((33, 4), np.nan)
    out[BLAZEPOSE_TO_COCO, 0:2] = arr[:, :2]
    out[BLAZEPOSE_TO_COCO, 3] = arr[:, 2]
    return out


def parse_coco(data) -> Parsed:
    width = height = None
    if isinstance(data, dict) and "annotations" in data:
        images = data.get("images") or []
        order = [img["id"] for img in images]
        if images:
            width, height = int(images[0]["width"]), int(images[0]["height"])
        flags = True
        results = data["annotations"]
    else:
        order, flags, results = [], False, data
    by_image: dict = {}
    for det in results:
        people = by_image.setdefault(det["image_id"], [])
        lm = _coco_flat(det["keypoints"])
        if flags:  # ground truth: 0 unlabelled, 1 labelled but hidden, 2 visible
            lm[:, 3] = np.where(lm[:, 3] >= 2, 1.0, np.where(lm[:, 3] >= 1, 0.5, 0.0))
            lm[lm[:, 3] == 0, 0:2] = np.nan
        people.append(lm)
    ids = order
    if not ids:
        keys = list(by_image)
        if keys and all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k <= 10 * len(keys) + 1000
                        for k in keys):
            ids = list(range(max(keys) + 1))  # frames without a detection keep their place
        else:
            ids = sorted(keys, key=str)
    if not ids:
        raise ValueError("no images or detections")
    return Parsed(_pick_people([by_image.get(i, []) for i in ids]), "coco17", width=width, height=height)


def parse_mmpose_frames(frames: list) -> Parsed:
    out: list[list[np.ndarray]] = []
    for frame in frames:
        people = []
        for inst in frame.get("instances") or []:
            pts = np.array([[_num(v) for v in p[:2]] for p in inst["keypoints"]], dtype=np.float64)
            if pts.shape != (17, 2):
                raise ValueError(f"expected 17 keypoints, got {pts.shape[0]}")
            scores = inst.get("keypoint_scores") or [1.0] * 17
            lm = np.full((33, 4), np.nan)
            lm[BLAZEPOSE_TO_COCO, 0:2] = pts
            lm[BLAZEPOSE_TO_COCO, 3] = [_num(s) for s in scores]
            people.append(lm)
        out.append(people)
    return Parsed(_pick_people(out), "mmpose")


def parse_openpose_frame(data: dict) -> list[np.ndarray]:
    people = []
    for person in data["people"]:
        values = np.array([_num(v) for v in person["pose_keypoints_2d"]], dtype=np.float64)
        if values.size != 75:
            raise ValueError(f"pose_keypoints_2d must hold 25 x 3 numbers (BODY_25), got {values.size}")
        pts = values.reshape(25, 3)
        pts[pts[:, 2] <= 0, 0:2] = np.nan  # OpenPose writes 0, 0, 0 for a missing point
        people.append(body25_to_blazepose(pts))
    return people


def read_openpose_folder(folder: Path) -> Parsed:
    files = sorted(folder.glob("*_keypoints.json")) or sorted(folder.glob("*.json"))
    if not files:
        raise ValueError("no OpenPose *_keypoints.json files in the folder")

    def frame_number(p: Path) -> tuple[int, str]:
        digits = re.findall(r"\d+", p.stem)
        return (int(digits[-1]) if digits else -1, p.name)

    files.sort(key=frame_number)
    frames = [parse_openpose_frame(json.loads(f.read_text(encoding="utf-8"))) for f in files]
    return Parsed(_pick_people(frames), "openpose")


def _named_frame(frame: dict) -> np.ndarray:
    lm = np.full((33, 4), np.nan)
    for name, point in frame.items():
        if name not in _NAME_TO_BLAZEPOSE:
            continue
        i = _NAME_TO_BLAZEPOSE[name]
        lm[i, 0], lm[i, 1] = _num(point["x"]), _num(point["y"])
        lm[i, 2] = _num(point.get("z"))
        conf = next((point[k] for k in _CONF_KEYS if k in point), 1.0)
        lm[i, 3] = _num(conf)
    return lm


def _array_frame(frame: list) -> np.ndarray:
    lm = np.full((33, 4), np.nan)
    if not frame:
        return lm
    rows = [[_num(v) for v in p] for p in frame]
    if len(rows) not in (33, 17) or any(len(r) < 2 or len(r) > 4 for r in rows):
        raise ValueError("each frame must hold 33 (BlazePose) or 17 (COCO) points of 2 to 4 numbers")
    target = np.arange(33) if len(rows) == 33 else BLAZEPOSE_TO_COCO
    for i, r in zip(target, rows, strict=True):
        lm[i, 0], lm[i, 1] = r[0], r[1]
        if len(r) >= 3:
            lm[i, 2] = r[2]
        lm[i, 3] = r[3] if len(r) == 4 else 1.0
    return lm


def parse_mediapipe_frames(frames: list) -> Parsed:
    rows = []
    for frame in frames:
        if frame is None:
            rows.append(np.full((33, 4), np.nan))
        elif isinstance(frame, dict):
            rows.append(_named_frame(frame))
        elif isinstance(frame, list):
            rows.append(_array_frame(frame))
        else:
            raise TypeError(f"a frame must be a list or an object, got {type(frame).__name__}")
    return Parsed(np.stack(rows) if rows else np.zeros((0, 33, 4)), "mediapipe")


def parse_json(data) -> Parsed:
    """Any supported foreign JSON document (not our own format) -> Parsed."""
    info: dict = {}
    if isinstance(data, dict) and "people" in data:
        return Parsed(_pick_people([parse_openpose_frame(data)]), "openpose")
    if isinstance(data, dict) and "annotations" in data:
        return parse_coco(data)
    if isinstance(data, dict):
        info = _wrapper_info(data)
        key = next((k for k in ("frames", "landmarks", "predictions") if k in data), None)
        if key is None:
            raise ValueError("unrecognised keypoint JSON (no frames, landmarks, annotations or people)")
        data = data[key]
    if not isinstance(data, list) or not data:
        raise ValueError("expected a non-empty list of frames")
    first = next((f for f in data if f), None)
    if isinstance(first, dict) and "keypoints" in first and "image_id" in first:
        parsed = parse_coco(data)
    elif isinstance(first, dict) and "instances" in first:
        parsed = parse_mmpose_frames(data)
    else:
        parsed = parse_mediapipe_frames(data)
    parsed.fps = info.get("fps", parsed.fps)
    parsed.width = int(info["width"]) if "width" in info else parsed.width
    parsed.height = int(info["height"]) if "height" in info else parsed.height
    return parsed


_WIDE_A = re.compile(r"^(?P<name>[a-z_]+?|\d+)[_.](?P<axis>x|y|z|visibility|score|confidence|v|presence)$")
_WIDE_B = re.compile(r"^(?P<axis>x|y|z|v|visibility)_?(?P<name>\d+)$")
_AXIS = {"x": 0, "y": 1, "z": 2}


def _landmark_index(name: str) -> int:
    if name.isdigit():
        i = int(name)
        if not 0 <= i < 33:
            raise ValueError(f"landmark index {i} outside 0..32")
        return i
    return _NAME_TO_BLAZEPOSE[name]


def read_csv(path: Path) -> Parsed:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise ValueError("CSV needs a header row and at least one data row")
    header = [h.strip().lower() for h in rows[0]]
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    if "x" in header and "y" in header:  # long: one landmark per row
        col = {h: i for i, h in enumerate(header)}
        lm_col = next(col[k] for k in ("landmark", "landmark_id", "id", "index", "name", "joint") if k in col)
        frame_col = next(col[k] for k in ("frame", "frame_id", "frame_index", "t") if k in col)
        conf_col = next((col[k] for k in _CONF_KEYS if k in col), None)
        frames: dict[int, np.ndarray] = {}
        for r in body:
            lm = frames.setdefault(int(float(r[frame_col])), np.full((33, 4), np.nan))
            i = _landmark_index(r[lm_col].strip().lower())
            lm[i, 0], lm[i, 1] = _num(r[col["x"]]), _num(r[col["y"]])
            lm[i, 2] = _num(r[col["z"]]) if "z" in col and r[col["z"]].strip() else np.nan
            lm[i, 3] = _num(r[conf_col]) if conf_col is not None and r[conf_col].strip() else 1.0
        if not frames or min(frames) < 0 or max(frames) > 10 * len(frames) + 1000:
            raise ValueError("frame numbers are missing or implausible")
        out = np.full((max(frames) + 1, 33, 4), np.nan)
        for t, lm in frames.items():
            out[t] = lm
        return Parsed(out, "mediapipe-csv")
    columns: list[tuple[int, int, int]] = []  # (csv column, landmark, channel)
    for c, h in enumerate(header):
        m = _WIDE_A.match(h) or _WIDE_B.match(h)
        if not m or (not m["name"].isdigit() and m["name"] not in _NAME_TO_BLAZEPOSE):
            continue
        columns.append((c, _landmark_index(m["name"]), _AXIS.get(m["axis"], 3)))
    if not any(ch == 0 for _, _, ch in columns):
        raise ValueError("CSV has no landmark columns (expected nose_x, nose_y, ... or x0, y0, ...)")
    seen = {i for _, i, ch in columns if ch == 0}
    out = np.full((len(body), 33, 4), np.nan)
    out[:, sorted(seen), 3] = 1.0
    for t, r in enumerate(body):
        for c, i, ch in columns:
            out[t, i, ch] = _num(r[c]) if c < len(r) and r[c].strip() else np.nan
    return Parsed(out, "mediapipe-csv")


# --- writers: export for other tools, and the round-trip tests ---------------------------------------------------


def _clean(values: np.ndarray, ndigits: int) -> list:
    return [None if not np.isfinite(v) else round(float(v), ndigits) for v in values]


def coco_results(landmarks: np.ndarray) -> list[dict]:
    out = []
    for t, lm in enumerate(landmarks):
        pts = lm[BLAZEPOSE_TO_COCO]
        if not np.isfinite(pts[:, :2]).all():
            continue
        flat = np.concatenate([pts[:, :2], np.nan_to_num(pts[:, 3:4])], axis=1).ravel()
        out.append({"image_id": t, "category_id": 1, "keypoints": _clean(flat, 3),
                    "score": round(float(np.nanmean(pts[:, 3])), 4)})
    return out


def openpose_frame(lm: np.ndarray) -> dict:
    pts = np.zeros((25, 3))
    for b, m in BODY25_TO_BLAZEPOSE:
        if np.isfinite(lm[m, :2]).all():
            pts[b] = (lm[m, 0], lm[m, 1], np.nan_to_num(lm[m, 3]))
    people = [] if not np.isfinite(lm[:, :2]).any() else [{"person_id": [-1], "pose_keypoints_2d":
                                                            _clean(pts.ravel(), 3)}]
    return {"version": 1.3, "people": people}


def mediapipe_frames(landmarks: np.ndarray) -> list:
    return [[_clean(p, 4) for p in lm] if np.isfinite(lm[:, :2]).all() else [] for lm in landmarks]


def mediapipe_csv_rows(landmarks: np.ndarray) -> list[list]:
    header = ["frame"] + [f"{n}_{a}" for n in BLAZEPOSE_NAMES for a in ("x", "y", "z", "visibility")]
    rows: list[list] = [header]
    for t, lm in enumerate(landmarks):
        rows.append([t] + ["" if v is None else v for v in _clean(lm.ravel(), 4)])
    return rows
