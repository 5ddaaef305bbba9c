"""`python -m bench <name> [args]`: run module `bench.<name>`'s `main(argv) -> int`."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def _names() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    names = _names()
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m bench <name> [args]\nbenchmarks: " + ", ".join(names), file=sys.stderr)
        return 0 if argv else 2
    name = argv[0]
    if name not in names:
        print(f"bench: no benchmark named {name!r}; available: {', '.join(names)}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{name}")
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
