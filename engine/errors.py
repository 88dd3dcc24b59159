"""Errors every stage raises, so the add-on and the CLIs can tell user mistakes from bugs."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input (missing file, unreadable video, wrong shapes): the message names the input and the problem."""


class Cancelled(Exception):
    """The user cancelled a long-running stage; nothing partial was written."""
