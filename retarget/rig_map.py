"""`RigMap`: which bones of a rig carry which body part, presets for common rigs, and auto-detection.

A map names a chain of bones per slot (most slots hold one bone; spines, necks and split limbs hold several, listed
from the body's centre outwards). Slots:

    hips, spine (chain), neck (chain, optional), head,
    shoulder.L/.R (clavicle, optional), upper_arm.L/.R, forearm.L/.R, hand.L/.R (optional),
    thigh.L/.R, shin.L/.R, foot.L/.R (optional), toe.L/.R (optional)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .rig import Rig

REQUIRED = ("hips", "spine", "head", "upper_arm.L", "upper_arm.R", "forearm.L", "forearm.R",
            "thigh.L", "thigh.R", "shin.L", "shin.R")
OPTIONAL = ("neck", "shoulder.L", "shoulder.R", "hand.L", "hand.R", "foot.L", "foot.R", "toe.L", "toe.R")
SLOTS = REQUIRED + OPTIONAL


def _sided(left: str, right: str, **slots: str | list[str]) -> dict[str, list[str]]:
    """Expand `{L}`/`{R}` style templates: slot "upper_arm" with "{S}Arm" -> upper_arm.L = LeftArm ..."""
    out: dict[str, list[str]] = {}
    for slot, names in slots.items():
        names = [names] if isinstance(names, str) else names
        if any("{S}" in n for n in names):
            out[f"{slot}.L"] = [n.replace("{S}", left) for n in names]
            out[f"{slot}.R"] = [n.replace("{S}", right) for n in names]
        else:
            out[slot] = list(names)
    return out


def _suffixed(sfx_l: str, sfx_r: str, **slots: str | list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for slot, names in slots.items():
        names = [names] if isinstance(names, str) else names
        if any(n.endswith("{S}") for n in names):
            out[f"{slot}.L"] = [n.replace("{S}", sfx_l) for n in names]
            out[f"{slot}.R"] = [n.replace("{S}", sfx_r) for n in names]
        else:
            out[slot] = list(names)
    return out


_METARIG = _suffixed(".L", ".R", hips="spine", spine=["spine.001", "spine.002", "spine.003"],
                     neck=["spine.004", "spine.005"], head="spine.006", shoulder="shoulder{S}",
                     upper_arm="upper_arm{S}", forearm="forearm{S}", hand="hand{S}", thigh="thigh{S}",
                     shin="shin{S}", foot="foot{S}", toe="toe{S}")

PRESETS: dict[str, dict[str, list[str]]] = {
    "metarig": _METARIG,
    # Rigify's meta-rig names (.L/.R, spine.001 ...): key the meta-rig, or a rig that kept its bone names
    "rigify": _METARIG,
    "mixamo": _sided("Left", "Right", hips="mixamorig:Hips",
                     spine=["mixamorig:Spine", "mixamorig:Spine1", "mixamorig:Spine2"], neck="mixamorig:Neck",
                     head="mixamorig:Head", shoulder="mixamorig:{S}Shoulder", upper_arm="mixamorig:{S}Arm",
                     forearm="mixamorig:{S}ForeArm", hand="mixamorig:{S}Hand", thigh="mixamorig:{S}UpLeg",
                     shin="mixamorig:{S}Leg", foot="mixamorig:{S}Foot", toe="mixamorig:{S}ToeBase"),
    "unreal": _suffixed("_l", "_r", hips="pelvis", spine=["spine_01", "spine_02", "spine_03"], neck="neck_01",
                        head="head", shoulder="clavicle{S}", upper_arm="upperarm{S}", forearm="lowerarm{S}",
                        hand="hand{S}", thigh="thigh{S}", shin="calf{S}", foot="foot{S}", toe="ball{S}"),
    "cmu": _sided("Left", "Right", hips="Hips", spine=["LowerBack", "Spine", "Spine1"], neck=["Neck", "Neck1"],
                  head="Head", shoulder="{S}Shoulder", upper_arm="{S}Arm", forearm="{S}ForeArm", hand="{S}Hand",
                  thigh="{S}UpLeg", shin="{S}Leg", foot="{S}Foot", toe="{S}ToeBase"),
    "makehuman": _suffixed(".L", ".R", hips="root", spine=["spine05", "spine04", "spine03", "spine02", "spine01"],
                           neck=["neck01", "neck02", "neck03"], head="head",
                           shoulder=["clavicle{S}", "shoulder01{S}"], upper_arm=["upperarm01{S}", "upperarm02{S}"],
                           forearm=["lowerarm01{S}", "lowerarm02{S}"], hand="wrist{S}",
                           thigh=["upperleg01{S}", "upperleg02{S}"], shin=["lowerleg01{S}", "lowerleg02{S}"],
                           foot="foot{S}"),
}


@dataclass
class RigMap:
    """slot -> chain of bone names. `unplaced` lists required slots a proposed map could not fill."""

    bones: dict[str, list[str]]
    name: str = "custom"
    unplaced: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        bad = [s for s in self.bones if s not in SLOTS]
        if bad:
            raise InputError(f"rig map {self.name!r}: unknown slots {bad} (known: {', '.join(SLOTS)})")
        self.bones = {s: [c] if isinstance(c, str) else list(c) for s, c in self.bones.items() if c}

    @classmethod
    def preset(cls, name: str) -> RigMap:
        key = name.lower()
        if key not in PRESETS:
            raise InputError(f"unknown rig map preset {name!r} (known: {', '.join(PRESETS)})")
        return cls({s: list(c) for s, c in PRESETS[key].items()}, name=key)

    @classmethod
    def load(cls, path: str | Path) -> RigMap:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            return cls(dict(data["bones"]), name=str(data.get("name", path.stem)))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}: not a rig map JSON ({exc})") from exc

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"name": self.name, "bones": self.bones}, indent=2) + "\n")

    def all_bones(self) -> list[str]:
        return [b for chain in self.bones.values() for b in chain]

    def missing(self, rig: Rig) -> list[str]:
        return [b for b in self.all_bones() if b not in rig.index]

    def validate(self, rig: Rig) -> None:
        """InputError naming every mapped bone absent from the rig and every unfilled required slot."""
        problems = []
        missing = self.missing(rig)
        if missing:
            problems.append(f"mapped bones missing from the rig: {', '.join(missing)}")
        empty = [s for s in REQUIRED if not self.bones.get(s)]
        if empty:
            problems.append(f"slots with no bone: {', '.join(empty)}")
        if problems:
            raise InputError(f"rig map {self.name!r} does not fit rig {rig.name!r}: " + "; ".join(problems))


def _strip_prefix(name: str) -> str:
    return name.split(":")[-1]


def _match_preset(rig: Rig, preset: str) -> RigMap | None:
    """The preset with the rig's own namespace prefix (mixamorig1:, Armature|...) if every bone is there."""
    by_plain = {_strip_prefix(n): n for n in rig.names}
    bones = {}
    for slot, chain in PRESETS[preset].items():
        found = [by_plain.get(_strip_prefix(b)) for b in chain]
        if slot in ("spine", "neck"):  # chains may be longer or shorter (UE5's spine_01..05): hierarchy decides
            found = [f for f in found if f is not None]
            if slot == "spine" and not found:
                return None
        elif any(f is None for f in found):
            if slot in REQUIRED:
                return None
            continue
        bones[slot] = found
    return RigMap(_complete_chains(rig, bones), name=preset)


def _ancestors(rig: Rig, name: str) -> list[str]:
    """Parent, grandparent ... of a bone."""
    return [rig.names[i] for i in rig.chain_to_root(rig.index[name])[1:]]


def _complete_chains(rig: Rig, bones: dict[str, list[str]]) -> dict[str, list[str]]:
    """Fill hips, spine and neck from the hierarchy: hips is the thighs' common ancestor, the spine every bone from
    hips up to the neck (or head), the neck every bone from there to the head."""
    bones = dict(bones)
    if "hips" not in bones and bones.get("thigh.L") and bones.get("thigh.R"):
        right = set(_ancestors(rig, bones["thigh.R"][0]))
        common = [b for b in _ancestors(rig, bones["thigh.L"][0]) if b in right]
        if common:
            bones["hips"] = [common[0]]
    if not bones.get("hips") or not bones.get("head"):
        return bones
    hips = bones["hips"][0]
    above_head = _ancestors(rig, bones["head"][0])
    if hips not in above_head:
        return bones
    torso = list(reversed(above_head[:above_head.index(hips)]))  # hips (excluded) ... head's parent
    neck_start = len(torso)
    if bones.get("neck") and bones["neck"][0] in torso:
        neck_start = torso.index(bones["neck"][0])
    elif bones.get("spine") and bones["spine"][-1] in torso:
        neck_start = torso.index(bones["spine"][-1]) + 1
    spine, neck = torso[:neck_start], torso[neck_start:]
    if spine and set(bones.get("spine", [])) <= set(spine):
        bones["spine"] = spine
        if neck:
            bones["neck"] = neck
        else:
            bones.pop("neck", None)
    return bones


_SIDE_L = re.compile(r"(^|[._\-\s:])(l|left)($|[._\-\s\d])|^left|left(?=[A-Z])|^l(?=[A-Z])", re.I)
_SIDE_R = re.compile(r"(^|[._\-\s:])(r|right)($|[._\-\s\d])|^right|right(?=[A-Z])|^r(?=[A-Z])", re.I)
_SKIP = ("finger", "thumb", "index", "middle", "ring", "pinky", "twist", "roll", "_end", "end_", "ik", "pole",
         "target", "mch", "org-", "eye", "jaw", "breast", "tongue", "ear", "lip", "brow", "heel", "palm", "tweak",
         "prop", "weapon", "hipjoint", "pelvis.")
_KEYWORDS = (  # (slot, keywords), first match wins
    ("toe", ("toe", "ball")),
    ("foot", ("foot", "ankle")),
    ("thigh", ("thigh", "upleg", "upperleg", "upper_leg")),
    ("shin", ("shin", "calf", "lowerleg", "lower_leg", "knee", "leg")),
    ("hand", ("hand", "wrist")),
    ("forearm", ("forearm", "lowerarm", "lower_arm", "elbow")),
    ("upper_arm", ("upperarm", "upper_arm", "arm")),
    ("shoulder", ("shoulder", "clavicle", "collar")),
    ("head", ("head",)),
    ("neck", ("neck",)),
    ("spine", ("spine", "chest", "back", "torso", "abdomen")),
    ("hips", ("hips", "pelvis", "hip")),
)
_CENTRAL = ("head", "neck", "spine", "hips")


def _propose(rig: Rig) -> RigMap:
    depth = [len(rig.chain_to_root(i)) for i in range(len(rig.names))]
    found: dict[str, list[int]] = {}
    for i, name in enumerate(rig.names):
        low = _strip_prefix(name).lower()
        if any(s in low for s in _SKIP):
            continue
        for slot, words in _KEYWORDS:
            if any(w in low for w in words):
                if slot in _CENTRAL:
                    key = slot
                else:
                    plain = _strip_prefix(name)
                    if _SIDE_L.search(plain):
                        side = "L"
                    elif _SIDE_R.search(plain):
                        side = "R"
                    else:  # rigs face -Y, so the character's left is +X
                        side = "L" if rig.heads[i, 0] > 0 else "R"
                    key = f"{slot}.{side}"
                found.setdefault(key, []).append(i)
                break
    bones = {}
    for slot, idx in found.items():
        idx = sorted(idx, key=lambda i: depth[i])
        if slot in ("hips", "head"):
            idx = idx[:1]
        bones[slot] = [rig.names[i] for i in idx]
    bones = _complete_chains(rig, bones)
    unplaced = [s for s in REQUIRED if not bones.get(s)]
    return RigMap(bones, name="proposed", unplaced=unplaced)


def detect_map(rig: Rig) -> RigMap:
    """A preset whose bones the rig has (namespace prefixes ignored), else a map proposed from names and hierarchy,
    with `.unplaced` listing the required slots it could not fill."""
    best: tuple[int, RigMap] | None = None
    plain = {_strip_prefix(n) for n in rig.names}
    for preset in ("mixamo", "metarig", "unreal", "cmu", "makehuman"):
        rig_map = _match_preset(rig, preset)
        if rig_map is None:
            continue
        score = sum(_strip_prefix(b) in plain for chain in PRESETS[preset].values() for b in chain)
        if best is None or score > best[0]:
            best = (score, rig_map)
    return best[1] if best is not None else _propose(rig)
