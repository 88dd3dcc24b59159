"""The 17-joint Human3.6M skeleton every stage speaks (order from ../shared/data/README.md)."""

from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "spine",
    "thorax", "neck", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist",
)
NUM_JOINTS = 17
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}

# parent of each joint, -1 for the root (pelvis)
PARENTS: np.ndarray = np.array([-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15], dtype=np.int64)

# (child, parent) for the 16 bones
BONES: tuple[tuple[int, int], ...] = tuple((j, int(PARENTS[j])) for j in range(1, NUM_JOINTS))

# left <-> right permutation used by horizontal flips
FLIP_PERM: np.ndarray = np.array([0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13], dtype=np.int64)

LEFT_JOINTS = (4, 5, 6, 11, 12, 13)
RIGHT_JOINTS = (1, 2, 3, 14, 15, 16)
FEET = (6, 3)  # (left ankle, right ankle): the order of every per-foot array in the project
