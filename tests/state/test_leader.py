"""The leader lock: one holder per DATA_DIR lock file, handed over on release or death."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from state.leader import LeaderLock

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flock is POSIX only")

REPO = Path(__file__).resolve().parents[2]


def test_one_of_two_leads(tmp_path):
    path = tmp_path / "leader.lock"
    first, second = LeaderLock(path), LeaderLock(path)
    try:
        assert first.try_acquire() and first.held
        assert not second.try_acquire() and not second.held
        assert first.try_acquire()  # asking again while holding it keeps it
        assert path.read_text().strip() == str(os.getpid())
    finally:
        first.release()
        second.release()


def test_releasing_lets_the_other_take_over(tmp_path):
    path = tmp_path / "leader.lock"
    first, second = LeaderLock(path), LeaderLock(path)
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert not first.held
    try:
        assert second.try_acquire()
        assert not first.try_acquire()  # roles swapped
    finally:
        second.release()
    first.release()  # releasing a lock not held is harmless


def test_the_lock_file_directory_is_created(tmp_path):
    lock = LeaderLock(tmp_path / "data" / "nested" / "leader.lock")
    try:
        assert lock.try_acquire()
    finally:
        lock.release()


HOLDER = textwrap.dedent("""
    import sys, time
    from state.leader import LeaderLock
    lock = LeaderLock(sys.argv[1])
    print("held" if lock.try_acquire() else "refused", flush=True)
    time.sleep(60)
""")


def test_a_killed_holder_frees_the_lock(tmp_path):
    path = tmp_path / "leader.lock"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    follower = LeaderLock(path)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert not follower.try_acquire()
        assert path.read_text().strip() == str(proc.pid)
        proc.send_signal(signal.SIGKILL)  # no cleanup runs: the kernel drops the lock
        proc.wait(timeout=10)
        assert follower.try_acquire()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
        follower.release()


def test_no_path_always_leads():
    a, b = LeaderLock(None), LeaderLock(None)
    assert a.held and b.held
    assert a.try_acquire() and b.try_acquire()
    a.release()
    assert a.held
