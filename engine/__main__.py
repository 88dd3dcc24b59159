"""`python -m engine COMMAND ...`: each command lives in its own module, imported only when asked for."""

from __future__ import annotations

import sys
from importlib import import_module

# command -> module with `main(argv: list[str]) -> int`
COMMANDS = {
    "detect": ".detect_cli",
    "info": ".info",
    "train": ".train",
    "evaluate": ".evaluate",
    "lift": ".lift_cli",
    "validate": ".validate_cli",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print("usage: python -m engine {" + ",".join(COMMANDS) + "} ...", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = import_module(COMMANDS[argv[0]], __package__)
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
