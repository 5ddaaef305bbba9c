"""Hostile config files are ConfigErrors in bounded time and memory (issue 12 item 3): an alias
bomb, nesting deep enough to overflow the composer's recursion, a file far too big, a number too
long for int(). Each is refused at load (start-up and every reload use the same loader)."""

from __future__ import annotations

from pathlib import Path

import pytest

from risk_manager.config import loader
from risk_manager.config.loader import ConfigError, load_config_dir

RISK = "risk_config.yaml"


def alias_bomb(levels: int = 12, fan: int = 10) -> str:
    """`fan ** levels` values once expanded (10**12 here), a few hundred bytes on disk."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * fan)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "rules:\n  max_contracts: {limit: 5}\n" + "\n".join(lines) + f"\nbomb: *a{levels - 1}\n"


HOSTILE = {
    "alias_bomb": alias_bomb(),
    "deep_flow_nesting": "rules: " + "[" * 30_000 + "]" * 30_000 + "\n",
    "deep_block_nesting": "rules:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(200)),  # 40 KB, 200 deep
    "recursive_alias": "rules: &r\n  max_contracts: *r\n",
    "huge_number": "rules:\n  max_contracts: {limit: " + "9" * 5_000 + "}\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_risk_file_is_a_config_error(config_dir: Path, name: str):
    (config_dir / RISK).write_text(HOSTILE[name])
    with pytest.raises(ConfigError) as info:
        load_config_dir(config_dir)
    [problem] = info.value.problems
    assert problem.file == RISK


def test_the_same_limits_guard_accounts_yaml(config_dir: Path):
    (config_dir / "accounts.yaml").write_text(alias_bomb().replace("rules:\n  max_contracts: {limit: 5}\n",
                                                                  "gateway: {username: x}\n"))
    with pytest.raises(ConfigError) as info:
        load_config_dir(config_dir)
    assert [p.file for p in info.value.problems] == ["accounts.yaml"]
    assert "aliases are expanded" in info.value.problems[0].message


def test_file_over_the_size_limit_is_refused_unread(config_dir: Path):
    risk = config_dir / RISK
    with risk.open("w") as fh:  # a valid file padded with comments: the size alone refuses it
        fh.write("rules:\n  max_contracts: {limit: 5}\n")
        fh.write(("# padding" + " " * 90 + "\n") * (loader.MAX_FILE_BYTES // 100 + 1))
    with pytest.raises(ConfigError) as info:
        load_config_dir(config_dir)
    [problem] = info.value.problems
    assert problem.file == RISK and f"{loader.MAX_FILE_BYTES:,}" in problem.message


def test_ordinary_anchors_and_merge_keys_still_load(config_dir: Path):
    """The limits are far above what a real config uses."""
    (config_dir / RISK).write_text(
        "rules:\n"
        "  max_contracts: {limit: 3}\n"
        "  session_block_outside:\n"
        "    sessions:\n"
        "      default: &rth {start: \"08:30\", end: \"15:00\", timezone: America/Chicago, days: [mon, tue]}\n"
        "      ES: {<<: *rth, end: \"14:00\"}\n"
        "      NQ: *rth\n"
    )
    sessions = load_config_dir(config_dir).risk.rules.session_block_outside.sessions
    assert (sessions["ES"].start, sessions["ES"].end, sessions["NQ"].end) == ("08:30", "14:00", "15:00")


async def test_daemon_start_up_refuses_a_hostile_file_with_a_clear_error(config_dir: Path):
    from risk_manager.daemon.app import EXIT_CONFIG, Daemon, StartupError

    (config_dir / RISK).write_text(alias_bomb())
    with pytest.raises(StartupError) as info:
        await Daemon(config_dir, environ={}, configure_logging=False).start()
    assert info.value.code == EXIT_CONFIG
    assert "risk_config.yaml" in str(info.value) and "aliases are expanded" in str(info.value)
