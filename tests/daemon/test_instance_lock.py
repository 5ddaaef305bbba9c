"""InstanceLock: one daemon per state dir (a real OS lock on a real file)."""

from __future__ import annotations

import os

import pytest

from risk_manager.daemon.instance_lock import LOCK_NAME, AlreadyRunning, InstanceLock


def test_second_holder_is_refused_with_pid_and_dir(tmp_path):
    first = InstanceLock(tmp_path / "state")
    first.acquire()
    assert (tmp_path / "state" / LOCK_NAME).read_text().strip() == str(os.getpid())
    with pytest.raises(AlreadyRunning) as err:
        InstanceLock(tmp_path / "state").acquire()  # a separate open file: the OS lock conflicts
    assert err.value.pid == os.getpid()
    assert f"pid {os.getpid()}" in str(err.value) and str(tmp_path / "state") in str(err.value)
    # The refused attempt left the holder's pid in place.
    assert (tmp_path / "state" / LOCK_NAME).read_text().strip() == str(os.getpid())
    first.release()
    again = InstanceLock(tmp_path / "state")
    again.acquire()
    assert again.held
    again.release()
    assert not again.held


def test_stale_or_garbage_lock_file_does_not_block(tmp_path):
    (tmp_path / LOCK_NAME).write_text("not a pid\n")
    lock = InstanceLock(tmp_path)
    lock.acquire()  # nobody holds the OS lock: the file's content does not matter
    assert (tmp_path / LOCK_NAME).read_text().strip() == str(os.getpid())
    lock.release()
