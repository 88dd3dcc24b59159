import numpy as np

from engine import h36m
from engine.metrics import mpjpe, p_mpjpe, procrustes_align


def test_h36m_loads_and_projects(h36m_dir):
    poses = h36m.load_poses(["S9"])
    assert poses and all(k.startswith("S9/") for k in poses)
    seq = poses["S9/Walking 1"]
    assert seq.shape[1:] == (17, 3)
    cam = h36m.load_cameras()["S9"][0]
    uv = cam.project(seq[:10])
    assert uv.shape == (10, 17, 2)
    # the performer is in front of the camera and inside the image
    assert (cam.world_to_camera(seq[:10])[..., 2] > 1000).all()
    assert (uv > 0).all() and (uv[..., 0] < cam.width).all() and (uv[..., 1] < cam.height).all()
    assert h36m.action_of("S9/Walking 1") == "Walking" and h36m.action_of("S1/WalkDog") == "WalkDog"


def test_procrustes_removes_similarity():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(5, 17, 3)) * 300
    angle = 0.7
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    pred = 1.3 * gt @ rot.T + 50
    assert mpjpe(pred, gt) > 50
    assert p_mpjpe(pred, gt) < 1e-6
    assert np.allclose(procrustes_align(pred, gt), gt, atol=1e-6)


def test_training_targets_match_the_documented_representation(h36m_dir):
    """The on-device batch synthesis (torch) computes the same 2.5D targets as engine/representation.py, and the
    exact mm conversion turns them back into the camera-frame ground truth."""
    import torch

    from engine.representation import normalize_2d, targets_from_camera, to_camera_mm_exact
    from engine.train_data import CameraBank, make_batch

    world = h36m.load_poses(["S9"])["S9/Walking 1"][:27]
    cam = h36m.load_cameras()["S9"][2]
    bank = CameraBank.load()
    gen = torch.Generator().manual_seed(0)
    x, y = make_batch(torch.from_numpy(world[None]), torch.tensor([bank.subjects.index("S9")]), torch.tensor([2]),
                      bank, gen, virtual_p=0.0, flip_p=0.0, noise_p=0.0)
    cam_pts, uv = cam.world_to_camera(world), cam.project(world)
    expected = targets_from_camera(cam_pts, uv, cam.f[0], cam.width, cam.height)
    assert np.abs(y[0].numpy() - expected).max() < 1e-4
    assert np.abs(x[0].numpy() - normalize_2d(uv, cam.width, cam.height)).max() < 1e-4
    back = to_camera_mm_exact(expected, uv[:, 0], cam_pts[:, 0, 2], cam)
    assert np.abs(back - (cam_pts - cam_pts[:, :1])).max() < 0.05
