"""Run clips through the pipeline: compute off the main thread, touch the scene only on it.

`ClipRunner.compute()` is bpy-free (numpy objects only) and is the worker thread's body; `drain()` runs on the main
thread and writes each finished clip into the scene. The sidebar starts a thread and drains on a timer; headless
(`bpy.app.background`, no event loop) the same two calls run one after the other. A clip is written only once it
is completely computed, so a cancel mid-clip leaves the scene as it was, and clips finished before a cancel stay.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy

from . import actions
from .api import errors, pipeline


@dataclass
class ClipOutcome:
    source: str
    status: str = "pending"  # done | failed | cancelled | pending
    message: str = ""
    action: str = ""
    summary: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        name = Path(self.source).name
        if self.status == "done":
            return f"{name}: done -> Action '{self.action}'"
        return f"{name}: {self.status}" + (f": {self.message}" if self.message else "")


class ClipRunner:
    def __init__(self, sources: Sequence[str], *, armature: str, rig: Any, rig_map: Any, options: dict,
                 start_frame: int = 1, as_nla: bool = False, cancel: Callable[[], bool] | None = None,
                 on_progress: Callable[[int, str, float], None] | None = None) -> None:
        self.sources = [str(s) for s in sources]
        self.armature = armature
        self.rig, self.rig_map, self.options = rig, rig_map, dict(options)
        self.start_frame, self.as_nla = int(start_frame), as_nla
        self.outcomes = [ClipOutcome(source=s) for s in self.sources]
        self.cancel_event = threading.Event()
        self._external_cancel = cancel
        self._on_progress = on_progress
        self._events: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self.finished = False
        self.stage, self.fraction = "", 0.0

    # -- worker side (no bpy) --------------------------------------------------------------------------------
    def cancelled(self) -> bool:
        if self._external_cancel is not None and self._external_cancel():
            self.cancel_event.set()
        return self.cancel_event.is_set()

    def compute(self) -> None:
        run = pipeline().run_pipeline
        Cancelled, InputError = errors().Cancelled, errors().InputError
        for index, source in enumerate(self.sources):
            if self.cancelled():
                self._events.put(("cancelled", index, None))
                break

            def progress(stage: str, fraction: float, index: int = index) -> None:
                self._events.put(("progress", index, (stage, fraction)))
                if self._on_progress is not None:
                    self._on_progress(index, stage, fraction)

            try:
                result = run(source, rig=self.rig, rig_map=self.rig_map, progress=progress, cancel=self.cancelled,
                             **self.options)
            except Cancelled:
                self._events.put(("cancelled", index, None))
                break
            except InputError as exc:
                self._events.put(("failed", index, str(exc)))
            except Exception as exc:  # a bad clip never stops the batch; the message reaches the report
                self._events.put(("failed", index, f"{type(exc).__name__}: {exc}"))
            else:
                self._events.put(("done", index, result))
        self._events.put(("end", -1, None))

    def start_thread(self) -> None:
        self._thread = threading.Thread(target=self.compute, name="sasmamba-mocap", daemon=True)
        self._thread.start()

    # -- main thread -------------------------------------------------------------------------------------------
    def drain(self, context: bpy.types.Context) -> bool:
        """Apply whatever the worker finished. Returns True once every clip is accounted for."""
        while True:
            try:
                kind, index, payload = self._events.get_nowait()
            except queue.Empty:
                return self.finished
            if kind == "progress":
                stage, fraction = payload
                n = len(self.sources)
                self.stage = stage if n == 1 else f"{Path(self.sources[index]).name} ({index + 1}/{n}): {stage}"
                self.fraction = (index + fraction) / n
            elif kind == "done":
                self._apply(context, index, payload)
            elif kind == "failed":
                self.outcomes[index].status, self.outcomes[index].message = "failed", payload
            elif kind == "cancelled":
                for outcome in self.outcomes[index:]:
                    outcome.status = "cancelled"
            elif kind == "end":
                self.finished = True
                if self._thread is not None:
                    self._thread.join()
                return True

    def _apply(self, context: bpy.types.Context, index: int, result: Any) -> None:
        from . import keyframes

        outcome = self.outcomes[index]
        obj = bpy.data.objects.get(self.armature)
        if obj is None or obj.type != "ARMATURE":
            outcome.status, outcome.message = "failed", f"armature '{self.armature}' no longer exists"
            return
        name = pipeline().clip_name(outcome.source)
        previous = obj.animation_data.action if obj.animation_data else None
        try:
            action = keyframes.write_action(obj, result.animation, name=name)
            actions.place_action(context.scene, obj, action, start_frame=self.start_frame, source=outcome.source,
                                 as_nla=self.as_nla, previous=previous)
        except Exception as exc:
            outcome.status, outcome.message = "failed", f"writing keyframes: {type(exc).__name__}: {exc}"
            return
        outcome.status, outcome.action = "done", action.name
        outcome.summary, outcome.timings = result.summary(), dict(result.timings)

    def run_inline(self, context: bpy.types.Context) -> list[ClipOutcome]:
        """The headless path: compute every clip here, then write them."""
        self.compute()
        self.drain(context)
        return self.outcomes

    def request_cancel(self) -> None:
        self.cancel_event.set()
