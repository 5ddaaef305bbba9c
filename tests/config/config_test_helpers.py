"""Helpers shared by the config tests."""

from pathlib import Path


def line_of(path: Path, needle: str) -> int:
    """1-based number of the first line of `path` containing `needle`."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def column_of(path: Path, needle: str) -> int:
    """1-based column of `needle` on the first line containing it."""
    line = path.read_text().splitlines()[line_of(path, needle) - 1]
    return line.index(needle) + 1


def edit_text(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
