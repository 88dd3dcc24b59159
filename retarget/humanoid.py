"""Our own humanoid rest skeletons, so every named rig works without any downloaded rig file.

One canonical adult in a **T-pose** (arms straight out along +-X, palms down, legs straight down, a slight bend at
the knees and elbows so the hinge direction is clear), Z up, facing -Y, feet on Z = 0, in metres. `humanoid_rig`
names, splits and parents its bones the way Mixamo, Unreal, CMU and MakeHuman rigs do, so `detect_map` recognises
each one by its bone names.

Proportions. Trunk and limbs are the mean Human3.6M performer (S1, S5, S6, S7, S8, S9, S11: per subject the
median over all frames of each bone length, left and right averaged, then the mean over subjects; the trunk shape
is the median joint position in a body frame on the hip line, made left-right symmetric). Hands and feet, which
H36M does not have, come from Drillis & Contini segment ratios (as tabulated by Winter, *Biomechanics and Motor
Control of Human Movement*): hand length 0.108 H, foot length 0.152 H, ankle height 0.039 H, H the stature.
The canonical stature this gives is about 1.68 m; `humanoid_rig` scales it uniformly to `height_m`.

Bone axes (rolls): every bone's local X is its main hinge axis, oriented so a positive X rotation flexes it
(Blender's and Rigify's convention: knees, spine and neck bend forward, elbows and fingers curl, about +X).
"""

from __future__ import annotations

import numpy as np

from .errors import InputError
from .rig import Rig

# --- Human3.6M mean performer (mm) ---------------------------------------------------------------------------
THIGH, SHIN = 456.1, 451.9                # hip-knee, knee-ankle
UPPER_ARM, FOREARM = 284.2, 249.6         # shoulder-elbow, elbow-wrist
HIP_HALF_WIDTH = 134.2                    # pelvis centre - hip joint
# body frame: x to the performer's left, y backwards, z up, origin at the pelvis centre (H36M joint 0)
SPINE_MID = (0.0, 30.3, 241.4)            # H36M "spine" (joint 7): the lumbar curve bulges backwards
THORAX = (0.0, 0.0, 489.4)                # H36M "thorax" (joint 8): base of the neck
SHOULDER = (143.6, 8.7, 434.8)            # H36M shoulders (joints 11/14), left-right averaged
NOSE = (0.0, -84.2, 559.0)                # H36M "neck/nose" (joint 9): the head's front
HEAD_TOP = (0.0, -25.0, 710.0)            # H36M "head" (joint 10, 656 mm up, forehead) lifted to the crown
# --- Drillis & Contini / Winter ratios of stature H -------------------------------------------------------------
HAND_LENGTH, FOOT_LENGTH, ANKLE_HEIGHT = 0.108, 0.152, 0.039
PALM_FRACTION = 0.46                      # wrist -> knuckles share of the hand length
HEEL_FRACTION, BALL_FRACTION = 0.20, 0.72  # ankle and ball of the foot along the foot, from the heel
KNEE_BEND, ELBOW_BEND = 0.02, 0.03        # knee forward / elbow back, as a fraction of the limb's length

PRESETS = ("mixamo", "unreal", "cmu", "makehuman")


def _canonical() -> tuple[dict[str, np.ndarray], float]:
    """Landmarks of the left side and the midline in metres (Z up, facing -Y, feet on Z = 0), and the stature."""
    mm = {k: np.array(v, dtype=np.float64) for k, v in
          {"spine_mid": SPINE_MID, "thorax": THORAX, "shoulder": SHOULDER, "nose": NOSE, "top": HEAD_TOP}.items()}
    ankle_x = HIP_HALF_WIDTH * 0.8  # feet a little closer than H36M's (wide) hip joints
    leg_drop = np.sqrt((THIGH + SHIN) ** 2 - (HIP_HALF_WIDTH - ankle_x) ** 2)
    stature = (leg_drop + HEAD_TOP[2]) / (1.0 - ANKLE_HEIGHT)
    pelvis = np.array([0.0, 0.0, ANKLE_HEIGHT * stature + leg_drop])
    p = {k: pelvis + v for k, v in mm.items()}
    p["pelvis"] = pelvis
    p["hip"] = pelvis + [HIP_HALF_WIDTH, 0.0, 0.0]
    p["ankle"] = np.array([ankle_x, 0.0, ANKLE_HEIGHT * stature])
    along = THIGH / (THIGH + SHIN)
    p["knee"] = p["hip"] + along * (p["ankle"] - p["hip"]) + [0.0, -KNEE_BEND * (THIGH + SHIN), 0.0]
    p["elbow"] = p["shoulder"] + [UPPER_ARM, ELBOW_BEND * (UPPER_ARM + FOREARM), 0.0]
    p["wrist"] = p["shoulder"] + [UPPER_ARM + FOREARM, 0.0, 0.0]
    p["knuckles"] = p["wrist"] + [PALM_FRACTION * HAND_LENGTH * stature, 0.0, 0.0]
    foot = FOOT_LENGTH * stature
    p["ball"] = np.array([ankle_x, -(BALL_FRACTION - HEEL_FRACTION) * foot, 0.012 * stature])
    p["toe_tip"] = np.array([ankle_x, -(1.0 - HEEL_FRACTION) * foot, 0.006 * stature])
    # the clavicle starts beside the sternum, a little in front of and above the shoulder joint's height
    p["sternum"] = np.array([0.2 * SHOULDER[0], -20.0, THORAX[2] - 25.0]) + [0.0, 0.0, pelvis[2]]
    p["neck_top"] = p["thorax"] + [0.0, -15.0, 0.35 * (HEAD_TOP[2] - THORAX[2])]  # top of the neck (atlas)
    return {k: v / 1000.0 for k, v in p.items()}, stature / 1000.0


def _spine_curve(p: dict[str, np.ndarray], z0: float, z1: float, n: int) -> list[np.ndarray]:
    """n + 1 points on the spine from height z0 to z1: the quadratic in z through pelvis, spine and thorax."""
    zs = np.array([p["pelvis"][2], p["spine_mid"][2], p["thorax"][2]])
    coef = np.polyfit(zs, [p["pelvis"][1], p["spine_mid"][1], p["thorax"][1]], 2)
    return [np.array([0.0, np.polyval(coef, z), z]) for z in np.linspace(z0, z1, n + 1)]


def _split(a: np.ndarray, b: np.ndarray, n: int) -> list[np.ndarray]:
    return [a + (b - a) * k / n for k in range(n + 1)]


def _mirror(v: np.ndarray) -> np.ndarray:
    return np.array([-v[0], v[1], v[2]])


# name templates per convention: {s} is the side's spelling; lists are chains split evenly
_NAMES = {
    "mixamo": dict(sides=("Left", "Right"), prefix="mixamorig:", root=None, hips="Hips", spine=["Spine", "Spine1",
                   "Spine2"], neck=["Neck"], head="Head", hip_joint=None, clavicle=["{s}Shoulder"],
                   upper_arm=["{s}Arm"], forearm=["{s}ForeArm"], hand="{s}Hand", thigh=["{s}UpLeg"],
                   shin=["{s}Leg"], foot="{s}Foot", toe="{s}ToeBase"),
    "unreal": dict(sides=("_l", "_r"), prefix="", root="root", hips="pelvis", spine=["spine_01", "spine_02",
                   "spine_03"], neck=["neck_01"], head="head", hip_joint=None, clavicle=["clavicle{s}"],
                   upper_arm=["upperarm{s}"], forearm=["lowerarm{s}"], hand="hand{s}", thigh=["thigh{s}"],
                   shin=["calf{s}"], foot="foot{s}", toe="ball{s}"),
    "cmu": dict(sides=("Left", "Right"), prefix="", root=None, hips="Hips", spine=["LowerBack", "Spine", "Spine1"],
                neck=["Neck", "Neck1"], head="Head", hip_joint="{c}HipJoint", clavicle=["{s}Shoulder"],
                upper_arm=["{s}Arm"], forearm=["{s}ForeArm"], hand="{s}Hand", thigh=["{s}UpLeg"], shin=["{s}Leg"],
                foot="{s}Foot", toe="{s}ToeBase"),
    # MakeHuman's default rig: root sits behind the pelvis, spine05 (low) .. spine01 (chest), split twist bones
    "makehuman": dict(sides=(".L", ".R"), prefix="", root=None, hips="root",
                      spine=["spine05", "spine04", "spine03", "spine02", "spine01"], neck=["neck01", "neck02",
                      "neck03"], head="head", hip_joint="pelvis{s}", clavicle=["clavicle{s}", "shoulder01{s}"],
                      upper_arm=["upperarm01{s}", "upperarm02{s}"], forearm=["lowerarm01{s}", "lowerarm02{s}"],
                      hand="wrist{s}", thigh=["upperleg01{s}", "upperleg02{s}"],
                      shin=["lowerleg01{s}", "lowerleg02{s}"], foot="foot{s}", toe="toe3-1{s}"),
}

_FLEX_X = {"centre": (1.0, 0.0, 0.0), "leg": (1.0, 0.0, 0.0), "arm": (0.0, 0.0, -1.0)}  # left side; mirrored


def _rest(head: np.ndarray, tail: np.ndarray, x_hint: np.ndarray) -> np.ndarray:
    """Rest orientation with Y along the bone and X as close to `x_hint` as the bone allows."""
    y = (tail - head) / np.linalg.norm(tail - head)
    x = x_hint - np.dot(x_hint, y) * y
    x /= np.linalg.norm(x)
    return np.stack([x, y, np.cross(x, y)], axis=1)


def humanoid_rig(preset: str, height_m: float = 1.75) -> Rig:
    """The canonical T-pose humanoid with `preset`'s bone names, hierarchy and splits, `height_m` tall (crown).

    preset: "mixamo" | "unreal" | "cmu" | "makehuman". Bones only for the body (no fingers, face or twist
    helpers beyond the convention's own split limbs): hips, spine, neck, head, clavicles, arms, hands, legs, feet
    and toes.
    """
    key = preset.lower()
    if key not in _NAMES:
        raise InputError(f"no built-in humanoid for rig {preset!r} (known: {', '.join(PRESETS)})")
    if not height_m > 0:
        raise InputError(f"humanoid height must be positive, got {height_m}")
    spec = _NAMES[key]
    p, stature = _canonical()
    pre = spec["prefix"]
    bones: list[dict] = []

    def add(name: str, parent: str | None, head: np.ndarray, tail: np.ndarray, hint: tuple[float, ...]) -> str:
        name = pre + name
        bones.append({"name": name, "parent": parent, "head": head, "tail": tail,
                      "rest": _rest(head, tail, np.asarray(hint, dtype=np.float64))})
        return name

    def chain(names: list[str], parent: str | None, points: list[np.ndarray], hint: tuple[float, ...]) -> str:
        for k, n in enumerate(names):
            parent = add(n, parent, points[k], points[k + 1], hint)
        return parent

    centre = _FLEX_X["centre"]
    parent = None
    if spec["root"]:  # Unreal's root: on the floor under the pelvis, pointing up
        parent = add(spec["root"], None, np.zeros(3), np.array([0.0, 0.0, 0.1 * stature]), centre)
    spine_start = p["pelvis"] + [0.0, 0.0, 0.2 * (p["thorax"][2] - p["pelvis"][2])]
    if key == "makehuman":  # root lies behind the pelvis pointing forward; spine05 starts at the pelvis centre
        hips = add(spec["hips"], None, p["pelvis"] + [0.0, 0.08 * stature, 0.0], p["pelvis"], centre)
        spine_pts = _spine_curve(p, p["pelvis"][2], p["thorax"][2], len(spec["spine"]))
    else:
        hips = add(spec["hips"], parent, p["pelvis"], _spine_curve(p, spine_start[2], spine_start[2], 1)[0], centre)
        spine_pts = _spine_curve(p, spine_start[2], p["thorax"][2], len(spec["spine"]))
    chest = chain(spec["spine"], hips, spine_pts, centre)
    neck = chain(spec["neck"], chest, _split(p["thorax"], p["neck_top"], len(spec["neck"])), centre)
    add(spec["head"], neck, p["neck_top"], p["top"], centre)

    for side_index, s in enumerate(spec["sides"]):
        m = (lambda v: v) if side_index == 0 else _mirror
        flip = 1.0 if side_index == 0 else -1.0
        arm_hint = tuple(flip * c for c in _FLEX_X["arm"])
        leg_hint = _FLEX_X["leg"]
        fmt = {"s": s, "c": "LR"[side_index]}
        names = {k: [n.format(**fmt) for n in v] if isinstance(v, list) else (v.format(**fmt) if v else None)
                 for k, v in spec.items() if k not in ("sides", "prefix", "root")}
        # arm: clavicle(s) from beside the sternum to the shoulder joint, upper arm, forearm, hand
        up = chain(names["clavicle"], chest, _split(m(p["sternum"]), m(p["shoulder"]),
                                                    len(names["clavicle"])), arm_hint)
        up = chain(names["upper_arm"], up, _split(m(p["shoulder"]), m(p["elbow"]), len(names["upper_arm"])),
                   arm_hint)
        up = chain(names["forearm"], up, _split(m(p["elbow"]), m(p["wrist"]), len(names["forearm"])), arm_hint)
        add(names["hand"], up, m(p["wrist"]), m(p["knuckles"]), arm_hint)
        # leg: optional hip-joint bone from the pelvis centre, thigh, shin, foot, toe
        down = hips
        if names["hip_joint"]:
            down = add(names["hip_joint"], hips, p["pelvis"], m(p["hip"]), arm_hint)  # runs along X: no hinge
        down = chain(names["thigh"], down, _split(m(p["hip"]), m(p["knee"]), len(names["thigh"])), leg_hint)
        down = chain(names["shin"], down, _split(m(p["knee"]), m(p["ankle"]), len(names["shin"])), leg_hint)
        down = add(names["foot"], down, m(p["ankle"]), m(p["ball"]), leg_hint)
        add(names["toe"], down, m(p["ball"]), m(p["toe_tip"]), leg_hint)

    scale = height_m / stature
    for b in bones:
        b["head"], b["tail"] = b["head"] * scale, b["tail"] * scale
    rig = Rig.from_bones(bones, name=key)
    rig.meta["humanoid"] = {"preset": key, "height_m": float(height_m), "pose": "T"}
    return rig
