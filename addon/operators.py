"""Operators of the sidebar. They gather settings, then hand over to `lift` / `runner`.

Lift to 3D and Batch Import share `ClipsOperator`: a worker thread computes, a 0.1 s timer drains finished clips
into the scene, Esc or the panel's Cancel stops it. Headless there is no event loop, so `execute` runs the same
runner inline. The whole result is one undo step (the operator's), and nothing is written before a clip is done.
"""

from __future__ import annotations

import bpy

from . import lift
from .api import errors
from .preferences import get_preferences
from .properties import target_armature
from .runner import ClipRunner

_last_printed: list = [None]


def _progress_printer(index: int, stage: str, fraction: float) -> None:
    """Headless progress: one line per stage and per 20% step, readable in logs."""
    key = (index, stage, int(fraction * 5))
    if key != _last_printed[0]:
        _last_printed[0] = key
        print(f"[mocap] clip {index + 1}: {stage:<9} {100 * fraction:3.0f}%", flush=True)


class ClipsOperator:
    """Mixin: subclasses say which sources and whether clips go to the NLA (`gather`)."""

    bl_options = {"REGISTER", "UNDO"}
    as_nla = False
    _runner: ClipRunner | None = None
    _timer = None

    def gather(self, context: bpy.types.Context) -> list[str]:
        raise NotImplementedError

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not context.window_manager.sasmamba_mocap.running

    def _start(self, context: bpy.types.Context) -> ClipRunner | None:
        settings, state = context.scene.sasmamba_mocap, context.window_manager.sasmamba_mocap
        prefs = get_preferences(context)
        try:
            sources = self.gather(context)
            obj = target_armature(context)
            rig, rig_map = lift.resolve_rig(obj, rig_preset=settings.rig_preset, map_path=settings.map_path,
                                            report=self.report)
        except errors().InputError as exc:
            self.report({"ERROR"}, str(exc))
            return None
        options = lift.pipeline_options(smoothing=settings.smoothing, root_motion=settings.root_motion,
                                        backend=prefs["backend"], use_cache=prefs["use_cache"])
        state.report, state.last_action, state.progress, state.stage = "", "", 0.0, "starting"
        state.cancel_requested = False
        return ClipRunner(sources, armature=obj.name, rig=rig, rig_map=rig_map, options=options,
                          start_frame=settings.start_frame, as_nla=self.as_nla,
                          on_progress=_progress_printer if bpy.app.background else None)

    def _finish(self, context: bpy.types.Context, runner: ClipRunner) -> set[str]:
        state = context.window_manager.sasmamba_mocap
        state.running, state.stage, state.progress = False, "", 1.0 if runner.finished else 0.0
        lines, done = [], [o for o in runner.outcomes if o.status == "done"]
        for outcome in runner.outcomes:
            lines.append(outcome.line())
            if outcome.status == "done" and len(runner.outcomes) == 1:
                lines += outcome.summary
            elif outcome.status == "failed":
                self.report({"WARNING"} if len(runner.outcomes) > 1 else {"ERROR"}, outcome.line())
        state.report = "\n".join(lines)
        state.last_action = done[-1].action if done else ""
        for area in context.screen.areas if context.screen else ():
            area.tag_redraw()
        if any(o.status == "cancelled" for o in runner.outcomes):
            self.report({"WARNING"}, f"cancelled; {len(done)} clip(s) kept" if done else "cancelled; scene unchanged")
        if not done:
            return {"CANCELLED"}
        self.report({"INFO"}, f"{len(done)}/{len(runner.outcomes)} clip(s) -> " + ", ".join(o.action for o in done))
        return {"FINISHED"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        runner = self._start(context)
        if runner is None:
            return {"CANCELLED"}
        runner.run_inline(context)
        return self._finish(context, runner)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if bpy.app.background:
            return self.execute(context)
        runner = self._start(context)
        if runner is None:
            return {"CANCELLED"}
        self._runner = runner
        context.window_manager.sasmamba_mocap.running = True
        runner.start_thread()
        self._timer = context.window_manager.event_timer_add(0.1, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        runner, state = self._runner, context.window_manager.sasmamba_mocap
        if event.type == "ESC" or state.cancel_requested:
            runner.request_cancel()
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            finished = runner.drain(context)
        except Exception as exc:  # never leave the panel stuck in "running"
            runner.request_cancel()
            context.window_manager.event_timer_remove(self._timer)
            state.running, state.report = False, f"failed: {type(exc).__name__}: {exc}"
            self.report({"ERROR"}, state.report)
            return {"CANCELLED"}
        state.stage, state.progress = runner.stage, runner.fraction
        for area in context.screen.areas if context.screen else ():
            if area.type == "VIEW_3D":
                area.tag_redraw()
        if not finished:
            return {"RUNNING_MODAL"}
        context.window_manager.event_timer_remove(self._timer)
        return self._finish(context, runner)

    def cancel(self, context: bpy.types.Context) -> None:  # Blender closing the window mid-run
        if self._runner is not None:
            self._runner.request_cancel()
        context.window_manager.sasmamba_mocap.running = False


class MOCAP_OT_lift_to_3d(ClipsOperator, bpy.types.Operator):
    """Detect the performer, lift to 3D, clean up and retarget onto the armature as a new Action"""

    bl_idname = "mocap.lift_to_3d"
    bl_label = "Lift to 3D"

    def gather(self, context: bpy.types.Context) -> list[str]:
        source = context.scene.sasmamba_mocap.source
        if not source:
            raise errors().InputError("no source: choose a video or a keypoint file")
        return [bpy.path.abspath(source)]


class MOCAP_OT_cancel(bpy.types.Operator):
    """Stop the running import; clips already finished are kept, the clip in progress is dropped"""

    bl_idname = "mocap.cancel"
    bl_label = "Cancel"

    def execute(self, context: bpy.types.Context) -> set[str]:
        context.window_manager.sasmamba_mocap.cancel_requested = True
        return {"FINISHED"}


class MOCAP_OT_save_map(bpy.types.Operator):
    """Save the bone map (auto-detected or preset) as JSON, to edit it and reuse it for other clips"""

    bl_idname = "mocap.save_map"
    bl_label = "Save Map"

    filepath: bpy.props.StringProperty(subtype="FILE_PATH", default="rig_map.json")
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.sasmamba_mocap
        try:
            path = lift.save_map(target_armature(context), self.filepath, rig_preset=settings.rig_preset,
                                 map_path=settings.map_path, report=self.report)
        except (errors().InputError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        settings.map_path, settings.rig_preset = path, "FILE"
        return {"FINISHED"}


CLASSES = (MOCAP_OT_lift_to_3d, MOCAP_OT_cancel, MOCAP_OT_save_map)
