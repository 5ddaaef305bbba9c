"""State, logs and backups are owner-only (issue 12 item 8, docs/operations.md: 0700 dirs, 0600 files).

Real files in tmp dirs under the usual umask 022 (which made them 0755/0644 before the fix); the
last test starts the real daemon in-process against the simulator over a state dir an older
version left world-readable.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import T0, order_event

from risk_manager.clock import ManualClock
from risk_manager.store import Store

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def loose(root: Path) -> list[str]:
    """Everything under `root` (itself included) that others may read, write or enter."""
    paths = [root, *root.rglob("*")]
    return [f"{p} {mode(p):03o}" for p in paths if not p.is_symlink() and mode(p) & 0o077]


def test_a_new_store_its_journal_and_wal_files_are_owner_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Store(state / "risk_manager.db", ManualClock(T0)) as store:
        store.append_event(order_event())
        store.audit(7, "R03", "flatten", "loss", "decided")
        names = sorted(p.name for p in state.iterdir())
        assert "risk_manager.db-wal" in names and "risk_manager-journal.db-wal" in names, names
        assert loose(state) == []
        assert mode(state) == 0o700 and mode(state / "risk_manager.db") == 0o600


def test_backups_are_owner_only(tmp_path: Path) -> None:
    with Store(tmp_path / "state" / "risk_manager.db", ManualClock(T0)) as store:
        store.audit(7, "R03", "flatten", "loss", "decided")
        copy = store.backup(tmp_path / "state" / "backups", include_journal=True)
    assert copy.exists() and (copy.parent / copy.name.replace(".db", "-journal.db")).exists()
    assert loose(tmp_path / "state") == []


def test_daemon_log_and_its_rotations_are_owner_only(tmp_path: Path) -> None:
    from risk_manager.daemon.logs import setup_logging

    log_dir = tmp_path / "logs"
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        setup_logging(log_dir, console=False, max_bytes=2000, backups=2)
        for i in range(60):
            logging.getLogger("risk_manager.test").warning("line %d %s", i, "x" * 60)
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)
    assert (log_dir / "daemon.log.1").exists()
    assert loose(log_dir) == []


async def test_daemon_start_fixes_what_an_older_version_left_readable(tmp_path, caplog):
    from e2e.helpers import write_config
    from risk_manager.daemon.app import Daemon
    from risk_manager.sim import Simulator

    sim = Simulator(accounts=1, speed=0.0)
    await sim.start()
    try:
        info = sim.info()
        config = write_config(tmp_path / "config", info["api"], [info["accounts"][0]], {})
        state, logs = config / "state", config / "logs"
        with Store(state / "risk_manager.db", ManualClock(T0)) as store:
            store.backup(state / "backups")
        (logs).mkdir()
        (logs / "daemon.log").write_text("{}\n")
        for path in [state, logs, *state.rglob("*"), *logs.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)  # as the old version made them
        assert loose(state) and loose(logs)

        caplog.set_level(logging.WARNING, logger="risk_manager.daemon")
        daemon = Daemon(config, environ={"PROJECTX_API_KEY": "sim-key"}, configure_logging=False)
        await daemon.start()
        try:
            assert (state / "daemon.json").exists() and (state / "daemon.lock").exists()
            assert loose(state) == [] and loose(logs) == []
        finally:
            await daemon.shutdown()
        assert loose(state) == []
        said = "\n".join(r.getMessage() for r in caplog.records)
        assert f"made {state / 'risk_manager.db'} owner-only (was mode 644)" in said
        assert f"made {state / 'backups'} owner-only (was mode 755)" in said
        assert f"made {logs / 'daemon.log'} owner-only (was mode 644)" in said
    finally:
        await sim.stop()


def test_the_systemd_service_keeps_state_and_logs_owner_only() -> None:
    """systemd re-applies StateDirectoryMode/LogsDirectoryMode at every start: 0750 there made
    the state readable by the service's group (and the daemon would tighten it at every start)."""
    from risk_manager.service import systemd

    spec = systemd.UnitSpec(exec_start=("/opt/rm/bin/risk-manager", "run"))
    unit = systemd.render_unit(spec).splitlines()
    assert {"StateDirectoryMode=0700", "LogsDirectoryMode=0700", "UMask=0077"} <= set(unit)
    plan = systemd.install_plan(spec, unit_dir=Path("/nonexistent/system"), user_exists=True)
    made = [" ".join(cmd) for cmd in plan.before if cmd[:1] == ["install"]]
    assert f"install -d -m 0700 -o risk-manager -g risk-manager {systemd.STATE_DIR}" in made
    assert f"install -d -m 0700 -o risk-manager -g risk-manager {systemd.LOG_DIR}" in made


def test_fix_modes_follows_the_service_links_to_the_real_dirs(tmp_path: Path) -> None:
    """The Linux service links config/state -> /var/lib/risk-manager (and logs likewise)."""
    from risk_manager.private_files import fix_modes

    real_state, real_logs, config = tmp_path / "var-lib", tmp_path / "var-log", tmp_path / "config"
    for d in (real_state / "backups", real_logs, config):
        d.mkdir(parents=True)
    (real_state / "risk_manager.db").write_text("")
    (real_logs / "daemon.log").write_text("")
    (real_logs / "other-program.log").write_text("")  # not the daemon's: left alone
    for path in (real_state, real_state / "backups", real_logs):
        os.chmod(path, 0o755)
    (config / "state").symlink_to(real_state)
    (config / "logs").symlink_to(real_logs)
    fixed, errors = fix_modes(config / "state", config / "logs")
    assert errors == []
    assert {p.name for p, _ in fixed} == {"var-lib", "backups", "risk_manager.db", "var-log", "daemon.log"}
    assert loose(real_state) == [] and mode(real_logs) == 0o700
    assert mode(real_logs / "other-program.log") == 0o644
