"""3D Viewport > Sidebar (N) > Mocap: source and rig, Lift to 3D with progress and Cancel, report, batch, export."""

from __future__ import annotations

import bpy

from .properties import target_armature


class _MocapPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Mocap"


class MOCAP_PT_main(_MocapPanel, bpy.types.Panel):
    bl_label = "SasMamba Mocap"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings, state = context.scene.sasmamba_mocap, context.window_manager.sasmamba_mocap
        layout.use_property_split = True
        layout.use_property_decorate = False
        layout.prop(settings, "source")
        layout.prop(settings, "armature")
        obj = target_armature(context)
        if obj is None:
            layout.label(text="Pick an armature (or make one active)", icon="ERROR")
        row = layout.row(align=True)
        row.prop(settings, "rig_preset")
        row.operator("mocap.save_map", text="", icon="FILE_TICK")
        if settings.rig_preset == "FILE":
            layout.prop(settings, "map_path")
        layout.prop(settings, "smoothing")
        layout.prop(settings, "root_motion")
        layout.prop(settings, "start_frame")
        layout.separator()
        if state.running:
            layout.progress(factor=state.progress, type="BAR", text=f"{state.stage} {100 * state.progress:.0f}%")
            layout.operator("mocap.cancel", icon="CANCEL")
        else:
            col = layout.column()
            col.scale_y = 1.5
            col.enabled = obj is not None and bool(settings.source)
            col.operator("mocap.lift_to_3d", icon="ARMATURE_DATA")


class MOCAP_PT_report(_MocapPanel, bpy.types.Panel):
    bl_label = "Report"
    bl_parent_id = "MOCAP_PT_main"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return bool(context.window_manager.sasmamba_mocap.report)

    def draw(self, context: bpy.types.Context) -> None:
        col = self.layout.column(align=True)
        for line in context.window_manager.sasmamba_mocap.report.splitlines():
            icon = "ERROR" if ("failed" in line or line.startswith("warning")) else "NONE"
            col.label(text=line, icon=icon)


class MOCAP_PT_batch(_MocapPanel, bpy.types.Panel):
    bl_label = "Batch Import"
    bl_parent_id = "MOCAP_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.sasmamba_mocap
        self.layout.prop(settings, "batch_dir")
        row = self.layout.row()
        row.enabled = not context.window_manager.sasmamba_mocap.running
        row.operator("mocap.batch_import", icon="FILE_FOLDER")


class MOCAP_PT_export(_MocapPanel, bpy.types.Panel):
    bl_label = "Export"
    bl_parent_id = "MOCAP_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.sasmamba_mocap
        self.layout.prop(settings, "export_dir")
        self.layout.prop(settings, "export_scope", expand=True)
        row = self.layout.row(align=True)
        row.operator("mocap.export", text="FBX").format = "FBX"
        row.operator("mocap.export", text="BVH").format = "BVH"


CLASSES = (MOCAP_PT_main, MOCAP_PT_report, MOCAP_PT_batch, MOCAP_PT_export)
