"""Scene side of a finished clip: the Action from `keyframes.write_action`, placed where the user asked.

Works on Blender 4.2 (`Action.fcurves`), 4.4+ slotted Actions and 5.0 (channelbags only).
"""

from __future__ import annotations

from collections.abc import Iterator

import bpy
import numpy as np

CLIP_TAG = "sasmamba_clip"  # custom property on every Action this add-on made: the source file


def action_fcurves(action: bpy.types.Action) -> Iterator[bpy.types.FCurve]:
    layers = getattr(action, "layers", None)
    if layers is not None and len(layers):
        for layer in layers:
            for strip in layer.strips:
                for bag in getattr(strip, "channelbags", ()):
                    yield from bag.fcurves
    elif hasattr(action, "fcurves"):
        yield from action.fcurves


def shift_action(action: bpy.types.Action, delta: float) -> None:
    """Move every key (and its handles) by `delta` frames, in bulk."""
    if not delta:
        return
    for fc in action_fcurves(action):
        n = len(fc.keyframe_points)
        for attr in ("co", "handle_left", "handle_right"):
            buf = np.empty(2 * n, dtype=np.float32)
            fc.keyframe_points.foreach_get(attr, buf)
            buf[0::2] += delta
            fc.keyframe_points.foreach_set(attr, buf)
        fc.update()
    if action.use_frame_range:  # a manual range moves with the keys (end first when moving right)
        start, end = action.frame_start + delta, action.frame_end + delta
        if delta > 0:
            action.frame_end, action.frame_start = end, start
        else:
            action.frame_start, action.frame_end = start, end


def _assign_slot(owner: bpy.types.bpy_struct, action: bpy.types.Action) -> None:
    """4.4+: point the user (AnimData or NLA strip) at the Action's slot when Blender did not pick one."""
    if hasattr(owner, "action_slot") and owner.action_slot is None and len(getattr(action, "slots", ())):
        owner.action_slot = action.slots[0]


def place_action(scene: bpy.types.Scene, obj: bpy.types.Object, action: bpy.types.Action, *, start_frame: int,
                 source: str, as_nla: bool, previous: bpy.types.Action | None = None) -> None:
    """Shift the Action to `start_frame`, keep it (fake user), tag it, then make it the active Action or put it on
    its own NLA track (batch import), giving the armature back its `previous` active Action."""
    shift_action(action, start_frame - action.frame_range[0])
    action.use_fake_user = True
    action[CLIP_TAG] = source
    anim = obj.animation_data or obj.animation_data_create()
    if as_nla:
        track = anim.nla_tracks.new()
        track.name = action.name
        strip = track.strips.new(action.name, int(start_frame), action)
        _assign_slot(strip, action)
        track.mute = bool(len(anim.nla_tracks) > 1)  # only the first clip plays; the others wait on their tracks
        if anim.action == action:
            anim.action = previous
    else:
        anim.action = action
        _assign_slot(anim, action)
        first, last = action.frame_range
        scene.frame_start, scene.frame_end = int(round(first)), int(round(last))


def clip_actions(obj: bpy.types.Object) -> list[bpy.types.Action]:
    """Every Action this add-on made for `obj` (active and on NLA tracks), oldest first, no duplicates."""
    found: list[bpy.types.Action] = []
    anim = obj.animation_data
    if anim is not None:
        for track in anim.nla_tracks:
            for strip in track.strips:
                if strip.action is not None and CLIP_TAG in strip.action and strip.action not in found:
                    found.append(strip.action)
        if anim.action is not None and CLIP_TAG in anim.action and anim.action not in found:
            found.append(anim.action)
    return found
