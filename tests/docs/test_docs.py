"""The documentation stays true to the code: every rule documented with its settings and defaults
as `config/models.py` has them, and nothing refers to a file outside the repository."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from risk_manager.config.models import RULE_IDS, RULE_MODELS

ROOT = Path(__file__).resolve().parents[2]
RULES_MD = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")


def _section(rule: str) -> str:
    heading = re.search(rf"^## {RULE_IDS[rule]} `{rule}`.*$", RULES_MD, re.MULTILINE)
    assert heading, f"docs/rules.md has no '## {RULE_IDS[rule]} `{rule}`' section: document it there"
    rest = RULES_MD[heading.end():]
    end = re.search(r"^## ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def _shown(value: Any) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, float) and value.is_integer() and value != 1.0:
        return [str(int(value)), str(value)]
    return [str(value), f'"{value}"']


def _settings(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name, field in model.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            out += _settings(type(default), f"{prefix}{name}.")
            continue
        # enabled/mode with the defaults every rule shares are described once, at the top.
        if not prefix and (name, default) in (("enabled", True), ("mode", "enforce")):
            continue
        out.append((prefix + name, default))
    return out


@pytest.mark.parametrize("rule", list(RULE_MODELS))
def test_every_rule_is_documented_with_its_settings_and_defaults(rule):
    section = _section(rule)
    for key in ("**Trigger:**", "**Lock:**"):
        assert key in section or key.replace(":**", "") in section, (rule, key)
    for name, default in _settings(RULE_MODELS[rule]):
        assert f"`{name}`" in section, f"{rule}: setting {name} missing from docs/rules.md"
        if isinstance(default, (bool, int, float, str)):
            cells = [f"| `{name}` | `{text}` |" for text in _shown(default)]
            assert any(cell in section for cell in cells), f"{rule}.{name}: default {default!r} not in its table"


def test_nothing_refers_to_files_outside_the_repository():
    texts = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "src").rglob("*.py"),
             *(ROOT / "src").rglob("*.md"), *(ROOT / "src").rglob("*.yaml"), *(ROOT / "bench").rglob("*.py"),
             ROOT / "bench" / "README.md"]
    pattern = re.compile(r"SPEC §|SPEC:|SPEC order|SPEC's|\.\./shared|/work/shared|shared/reference|seeds/")
    hits = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in texts
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert hits == [], "\n".join(hits)


def test_docs_links_resolve():
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
