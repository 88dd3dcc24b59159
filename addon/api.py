"""Lazy handles on the sibling packages' modules, so Blender's start-up imports none of them."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from .siblings import engine, retarget


def engine_module(name: str) -> ModuleType:
    """`engine.<name>`, whichever way `engine` was imported (extension subpackage or source tree)."""
    return import_module(f"{engine.__name__}.{name}")


def pipeline() -> ModuleType:
    return engine_module("pipeline")


def errors() -> ModuleType:
    return engine_module("errors")


def retarget_package() -> ModuleType:
    return retarget
