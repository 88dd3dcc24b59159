"""`RigAnimation`: what the solver produces and the keyframe/BVH writers consume."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class RigAnimation:
    """Per frame, each listed bone's rotation relative to its rest pose, and where the root bone's head is.

    rotations: (T, B, 4) quaternions (w, x, y, z), local to each bone's rest (Blender pose-bone convention:
        posed = parent_posed @ rest_offset @ rotation).
    root_location: (T, 3) metres, the head of `root_bone` in the rig's armature space (absolute, not an offset).
    """

    fps: float
    bone_names: list[str]
    rotations: np.ndarray
    root_location: np.ndarray
    root_bone: str
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rotations = np.asarray(self.rotations, dtype=np.float64)
        self.root_location = np.asarray(self.root_location, dtype=np.float64)
        t = self.rotations.shape[0]
        if self.rotations.shape != (t, len(self.bone_names), 4):
            raise ValueError(f"rotations must be (T, {len(self.bone_names)}, 4), got {self.rotations.shape}")
        if self.root_location.shape != (t, 3):
            raise ValueError(f"root_location must be ({t}, 3), got {self.root_location.shape}")
        if self.root_bone not in self.bone_names:
            raise ValueError(f"root bone {self.root_bone!r} is not among the animated bones")

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])

    def rotation_of(self, bone: str) -> np.ndarray:
        return self.rotations[:, self.bone_names.index(bone)]
