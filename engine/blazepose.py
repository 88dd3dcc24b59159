"""Landmark sets we read (BlazePose 33, COCO 17, OpenPose BODY_25) mapped to the 17 Human3.6M joints.

Every source goes BlazePose/BODY_25 -> COCO 17 -> Human3.6M 17, so all inputs share one set of choices. The lifter
is trained on Human3.6M joints projected to 2D, so each derived joint aims at where Human3.6M puts it, not at the
detector's landmark of the same name. Figures below are medians measured on `data/h36m/poses3d_17j.npz` (first 60
sequences, every 10th frame) and on the BlazePose world landmarks of `media/pose_squats_3d.full.json`; each ratio
is relative to the torso (pelvis to thorax, 488 mm in Human3.6M), so it survives projection and body size.

- pelvis = mid-hips. Human3.6M's pelvis is the hip midpoint to 0.7 mm, so no error is added.
- hips are pushed apart about the pelvis by HIP_WIDTH_SCALE: Human3.6M hip joint centres are 0.55 torso apart,
  BlazePose's hip landmarks only 0.37 (they sit on the iliac crest side, not the joint centre). Left narrow, the
  lifter sees a pelvis a third too narrow, which it reads as the body turned sideways.
- thorax = mid-shoulders moved THORAX_UP (0.105 torso) away from the pelvis: Human3.6M's thorax sits 51 mm above the
  shoulder midpoint, at the base of the neck.
- spine = SPINE_FRACTION (0.477) of the way from pelvis to thorax, Human3.6M's median. Its spine joint is also 34 mm
  off that line (front/back), which no 2D landmark can see: the midpoint costs about that in 3D and the lifter,
  trained on the real joint, learns most of it back from the torso's orientation.
- neck/nose = NECK_FRACTION (0.7) of the way from thorax to nose. Human3.6M's joint 9 is 120 mm above the thorax,
  at the chin, not the nose tip (BlazePose's nose is 217 mm above the shoulder midpoint); taking the nose itself
  would lengthen the neck bone by about 80%.
- head = mid-ears moved by HEAD_UP x (mid-eyes - nose): Human3.6M's head joint is 115 mm above joint 9, near the
  crown. Ears give the skull's centre in any view (front, side, back); eyes-minus-nose points up the face in any
  view, so the sum lands above the skull centre whether the face is seen or not.
- limbs (shoulders, elbows, wrists, knees, ankles) are taken as they are.

Confidence of a derived joint is the lower confidence of the landmarks it needs (the head needs the better ear):
a joint is only as sure as its weakest input.
"""

from __future__ import annotations

import numpy as np

HIP_WIDTH_SCALE = 1.45
THORAX_UP = 0.105
SPINE_FRACTION = 0.477
NECK_FRACTION = 0.7
HEAD_UP = 1.0

BLAZEPOSE_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
COCO_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)
BODY25_NAMES: tuple[str, ...] = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip", "RHip", "RKnee",
    "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar", "LBigToe", "LSmallToe", "LHeel", "RBigToe",
    "RSmallToe", "RHeel",
)

# index into the source set for each COCO joint
BLAZEPOSE_TO_COCO = np.array([BLAZEPOSE_NAMES.index(n) for n in COCO_NAMES], dtype=np.int64)
BODY25_TO_COCO = np.array([0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11], dtype=np.int64)
# BODY_25 points that have a BlazePose counterpart: (body25 index, blazepose index); feet included for retargeting
BODY25_TO_BLAZEPOSE = tuple(
    (b, BLAZEPOSE_NAMES.index(m))
    for b, m in (
        (0, "nose"), (2, "right_shoulder"), (3, "right_elbow"), (4, "right_wrist"), (5, "left_shoulder"),
        (6, "left_elbow"), (7, "left_wrist"), (9, "right_hip"), (10, "right_knee"), (11, "right_ankle"),
        (12, "left_hip"), (13, "left_knee"), (14, "left_ankle"), (15, "right_eye"), (16, "left_eye"),
        (17, "right_ear"), (18, "left_ear"), (19, "left_foot_index"), (21, "left_heel"), (22, "right_foot_index"),
        (24, "right_heel"),
    )
)

_C = {name: i for i, name in enumerate(COCO_NAMES)}


def coco17_to_h36m(xy: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 points (..., 17, D) and confidences (..., 17) -> Human3.6M-17 points and confidences.

    D may be 2 (pixels) or 3 (the mapping is affine per joint, so it commutes with projection). NaN propagates.
    """
    p = np.asarray(xy, dtype=np.float64)
    c = np.asarray(conf, dtype=np.float64)
    out = np.empty(p.shape, dtype=np.float64)
    oc = np.empty(c.shape, dtype=np.float64)

    def pt(name: str) -> np.ndarray:
        return p[..., _C[name], :]

    def cf(name: str) -> np.ndarray:
        return c[..., _C[name]]

    pelvis = 0.5 * (pt("left_hip") + pt("right_hip"))
    mid_sh = 0.5 * (pt("left_shoulder") + pt("right_shoulder"))
    thorax = mid_sh + THORAX_UP * (mid_sh - pelvis)
    nose = pt("nose")
    mid_ears = 0.5 * (pt("left_ear") + pt("right_ear"))
    mid_eyes = 0.5 * (pt("left_eye") + pt("right_eye"))

    pelvis_c = np.minimum(cf("left_hip"), cf("right_hip"))
    thorax_c = np.minimum(cf("left_shoulder"), cf("right_shoulder"))
    face_c = np.minimum(cf("nose"), np.minimum(cf("left_eye"), cf("right_eye")))
    ears_c = np.maximum(cf("left_ear"), cf("right_ear"))

    out[..., 0, :], oc[..., 0] = pelvis, pelvis_c
    for h36m, coco in ((1, "right_hip"), (4, "left_hip")):
        out[..., h36m, :] = pelvis + HIP_WIDTH_SCALE * (pt(coco) - pelvis)
        oc[..., h36m] = cf(coco)
    for h36m, coco in (
        (2, "right_knee"), (3, "right_ankle"), (5, "left_knee"), (6, "left_ankle"),
        (11, "left_shoulder"), (12, "left_elbow"), (13, "left_wrist"),
        (14, "right_shoulder"), (15, "right_elbow"), (16, "right_wrist"),
    ):
        out[..., h36m, :], oc[..., h36m] = pt(coco), cf(coco)
    out[..., 7, :] = pelvis + SPINE_FRACTION * (thorax - pelvis)
    oc[..., 7] = np.minimum(pelvis_c, thorax_c)
    out[..., 8, :], oc[..., 8] = thorax, np.minimum(thorax_c, pelvis_c)
    out[..., 9, :] = thorax + NECK_FRACTION * (nose - thorax)
    oc[..., 9] = np.minimum(thorax_c, cf("nose"))
    out[..., 10, :] = mid_ears + HEAD_UP * (mid_eyes - nose)
    oc[..., 10] = np.minimum(face_c, ears_c)
    return out, oc


def blazepose_to_h36m(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BlazePose landmarks (..., 33, 4) as (x px, y px, z, visibility) -> Human3.6M (..., 17, 2) pixels and conf."""
    lm = np.asarray(landmarks, dtype=np.float64)
    coco = lm[..., BLAZEPOSE_TO_COCO, :]
    return coco17_to_h36m(coco[..., :2], coco[..., 3])


def body25_to_blazepose(points: np.ndarray) -> np.ndarray:
    """BODY_25 (..., 25, 3) as (x, y, score) -> BlazePose-33 layout (..., 33, 4), NaN where BODY_25 has no match.

    Keeps OpenPose's heels and big toes for retargeting's foot orientation.
    """
    pts = np.asarray(points, dtype=np.float64)
    out = np.full(pts.shape[:-2] + (33, 4), np.nan)
    for b, m in BODY25_TO_BLAZEPOSE:
        out[..., m, 0:2] = pts[..., b, 0:2]
        out[..., m, 3] = pts[..., b, 2]
    return out
