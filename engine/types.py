"""The typed objects that flow between stages: video -> Keypoints2D -> Pose3D -> (clean) Pose3D.

Each stage takes one of these and returns the next; none of them knows about the stage after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from .skeleton import NUM_JOINTS


def _finite_positive(value: float, what: str) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a finite number > 0, got {value!r}")
    return value


@dataclass(frozen=True)
class Keypoints2D:
    """2D joints of one performer in one clip, in the 17-joint Human3.6M order.

    xy: (T, 17, 2) float32 pixels, x right, y down; NaN where a joint is missing.
    conf: (T, 17) float32 in [0, 1]; 0 where missing.
    landmarks33: optional (T, 33, 4) raw BlazePose landmarks (x px, y px, z, visibility), NaN where none:
        retargeting reads heels, toes and hands from them.
    gaps: optional (T,) bool, frames inside gaps too long to fill (later stages may cut or bridge them).
    """

    xy: np.ndarray
    conf: np.ndarray
    fps: float
    width: int
    height: int
    landmarks33: np.ndarray | None = None
    gaps: np.ndarray | None = None
    source: str = ""
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        xy = np.asarray(self.xy, dtype=np.float32)
        conf = np.asarray(self.conf, dtype=np.float32)
        if xy.ndim != 3 or xy.shape[1:] != (NUM_JOINTS, 2):
            raise ValueError(f"Keypoints2D.xy must have shape (T, 17, 2), got {xy.shape}")
        if conf.shape != xy.shape[:2]:
            raise ValueError(f"Keypoints2D.conf must have shape {xy.shape[:2]}, got {conf.shape}")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        object.__setattr__(self, "xy", xy)
        object.__setattr__(self, "conf", conf)
        object.__setattr__(self, "fps", _finite_positive(self.fps, "fps"))
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        if self.landmarks33 is not None:
            lm = np.asarray(self.landmarks33, dtype=np.float32)
            if lm.shape != (xy.shape[0], 33, 4):
                raise ValueError(f"Keypoints2D.landmarks33 must have shape ({xy.shape[0]}, 33, 4), got {lm.shape}")
            object.__setattr__(self, "landmarks33", lm)
        if self.gaps is not None:
            gaps = np.asarray(self.gaps, dtype=bool)
            if gaps.shape != (xy.shape[0],):
                raise ValueError(f"Keypoints2D.gaps must have shape ({xy.shape[0]},), got {gaps.shape}")
            object.__setattr__(self, "gaps", gaps)

    @property
    def num_frames(self) -> int:
        return int(self.xy.shape[0])

    def replace(self, **changes) -> Keypoints2D:
        return replace(self, **changes)


Space = Literal["camera", "world"]


@dataclass(frozen=True)
class Pose3D:
    """3D joints of one performer, millimetres, 17-joint Human3.6M order.

    space "camera": root-relative (pelvis at the origin), camera axes x right, y down, z away from the camera;
        what the lifter returns.
    space "world": after clean-up: Z up, feet on Z = 0, root path included (Blender's convention).
    root_camera_mm: optional (T, 3) estimated pelvis position in the camera frame (clean-up's trajectory stage).
    contact: optional (T, 2) foot-contact weight in [0, 1], (left, right), eased in and out.
    foot_targets_mm: optional (T, 2, 3) locked world positions of (left, right) ankle while in contact.
    """

    joints_mm: np.ndarray
    fps: float
    space: Space = "camera"
    root_camera_mm: np.ndarray | None = None
    contact: np.ndarray | None = None
    foot_targets_mm: np.ndarray | None = None
    source: str = ""
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        joints = np.asarray(self.joints_mm, dtype=np.float32)
        if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3):
            raise ValueError(f"Pose3D.joints_mm must have shape (T, 17, 3), got {joints.shape}")
        if self.space not in ("camera", "world"):
            raise ValueError(f"Pose3D.space must be 'camera' or 'world', got {self.space!r}")
        object.__setattr__(self, "joints_mm", joints)
        object.__setattr__(self, "fps", _finite_positive(self.fps, "fps"))
        t = joints.shape[0]
        for name, shape in (("root_camera_mm", (t, 3)), ("contact", (t, 2)), ("foot_targets_mm", (t, 2, 3))):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=np.float32)
                if value.shape != shape:
                    raise ValueError(f"Pose3D.{name} must have shape {shape}, got {value.shape}")
                object.__setattr__(self, name, value)

    @property
    def num_frames(self) -> int:
        return int(self.joints_mm.shape[0])

    def replace(self, **changes) -> Pose3D:
        return replace(self, **changes)
