import numpy as np
import pytest

from engine import Keypoints2D, Pose3D
from engine.skeleton import BONES, FLIP_PERM, PARENTS


def test_keypoints_shape_checked():
    kp = Keypoints2D(np.zeros((5, 17, 2)), np.ones((5, 17)), fps=30, width=640, height=480)
    assert kp.num_frames == 5 and kp.xy.dtype == np.float32
    with pytest.raises(ValueError, match=r"\(T, 17, 2\)"):
        Keypoints2D(np.zeros((5, 16, 2)), np.ones((5, 16)), fps=30, width=640, height=480)
    with pytest.raises(ValueError, match="fps"):
        Keypoints2D(np.zeros((5, 17, 2)), np.ones((5, 17)), fps=float("nan"), width=640, height=480)
    with pytest.raises(ValueError, match="image size"):
        Keypoints2D(np.zeros((5, 17, 2)), np.ones((5, 17)), fps=30, width=0, height=480)


def test_pose3d_shape_and_space_checked():
    pose = Pose3D(np.zeros((4, 17, 3)), fps=50)
    assert pose.space == "camera" and pose.num_frames == 4
    with pytest.raises(ValueError, match="space"):
        Pose3D(np.zeros((4, 17, 3)), fps=50, space="screen")
    with pytest.raises(ValueError, match="contact"):
        Pose3D(np.zeros((4, 17, 3)), fps=50, contact=np.zeros((3, 2)))


def test_skeleton_tables_consistent():
    assert len(BONES) == 16
    assert (FLIP_PERM[FLIP_PERM] == np.arange(17)).all()
    assert all(PARENTS[c] == p for c, p in BONES)
