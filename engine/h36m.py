"""Human3.6M 3D joints and cameras from ../shared/data/h36m (research use only; never copied into the project).

Poses are int16 millimetres in the world frame (Z up) at 50 fps; cameras carry the full radial + tangential
distortion model, applied exactly as the data README gives it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .paths import shared_path

FPS = 50.0
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
ACTIONS = (
    "Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
    "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking", "WalkTogether",
)


@dataclass(frozen=True)
class Camera:
    """One calibrated H36M camera. R: world -> camera rotation, T: camera centre in world mm."""

    id: str
    R: np.ndarray  # (3, 3)
    T: np.ndarray  # (3,)
    f: np.ndarray  # (2,) fx, fy pixels
    c: np.ndarray  # (2,) cx, cy pixels
    k: np.ndarray  # (3,) radial k1..k3
    p: np.ndarray  # (2,) tangential p1, p2
    width: int
    height: int

    def world_to_camera(self, points_world: np.ndarray) -> np.ndarray:
        """(..., 3) world mm -> (..., 3) camera mm (x right, y down, z forward)."""
        return (np.asarray(points_world, dtype=np.float64) - self.T) @ self.R.T

    def project_camera(self, points_cam: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame mm -> (..., 2) distorted pixels."""
        pts = np.asarray(points_cam, dtype=np.float64)
        x = pts[..., :2] / pts[..., 2:3]
        r2 = np.sum(x * x, axis=-1, keepdims=True)
        k1, k2, k3 = self.k
        p1, p2 = self.p
        radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
        tan = p1 * x[..., 1:2] + p2 * x[..., 0:1]
        x_d = x * (radial + tan) + np.array([p2, p1]) * r2
        return x_d * self.f + self.c

    def project(self, points_world: np.ndarray) -> np.ndarray:
        """(..., 3) world mm -> (..., 2) distorted pixels."""
        return self.project_camera(self.world_to_camera(points_world))


def action_of(key: str) -> str:
    """'S9/Walking 1' -> 'Walking'; 'S1/WalkDog' -> 'WalkDog'."""
    return re.sub(r"\s+\d+$", "", key.split("/", 1)[1])


def subject_of(key: str) -> str:
    return key.split("/", 1)[0]


@lru_cache(maxsize=1)
def _load_all_poses() -> dict[str, np.ndarray]:
    with np.load(shared_path("data", "h36m", "poses3d_17j.npz")) as data:
        return {key: data[key].astype(np.float32) for key in data.files}


def load_poses(subjects: tuple[str, ...] | list[str] | None = None) -> dict[str, np.ndarray]:
    """Sequences as {"S9/Walking 1": (frames, 17, 3) float32 mm, world frame Z up, 50 fps}, sorted by key."""
    poses = _load_all_poses()
    wanted = set(subjects) if subjects is not None else None
    return {k: poses[k] for k in sorted(poses) if wanted is None or subject_of(k) in wanted}


@lru_cache(maxsize=1)
def load_cameras() -> dict[str, list[Camera]]:
    """{"S1": [4 cameras in the file's fixed order], ...}."""
    raw = json.loads(shared_path("data", "h36m", "cameras.json").read_text())
    return {
        subject: [
            Camera(
                id=str(cam["id"]),
                R=np.asarray(cam["R"], dtype=np.float64),
                T=np.asarray(cam["T"], dtype=np.float64),
                f=np.asarray(cam["f"], dtype=np.float64),
                c=np.asarray(cam["c"], dtype=np.float64),
                k=np.asarray(cam["k"], dtype=np.float64),
                p=np.asarray(cam["p"], dtype=np.float64),
                width=int(cam["res_wh"][0]),
                height=int(cam["res_wh"][1]),
            )
            for cam in cams
        ]
        for subject, cams in raw.items()
    }
