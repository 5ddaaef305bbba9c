"""`--help` output fix shared by every typer app of the project.

typer 0.29's rich help prints the value type of every option, flags included, so `--headless`,
`--json` and even `--help` read as `--headless <bool>` although they take no value (its plain
formatter already skips flags). Flags get no type column; everything else is unchanged.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

_original = TyperOption.display_type_rich


def _display_type_rich(self: TyperOption, ctx: Any) -> str | None:  # ctx: typer's vendored click
    if self.is_flag:
        return None
    return _original(self, ctx)


if getattr(TyperOption.display_type_rich, "__name__", "") != "_display_type_rich":
    TyperOption.display_type_rich = _display_type_rich  # type: ignore[method-assign]
