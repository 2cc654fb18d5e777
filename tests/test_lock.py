"""One writer per results folder: the OS lock, its message, and release when the holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from artgenre.errors import ParameterError
from artgenre.lock import LOCK_NAME, FolderLockedError, folder_lock

HOLD = """
import sys, time
from artgenre.lock import folder_lock
with folder_lock(sys.argv[1], command="artgenre run --out held"):
    print("locked", flush=True)
    time.sleep(60)
"""


def _start_holder(folder):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_is_refused_with_the_holders_pid_and_lock_dies_with_holder(tmp_path):
    proc = _start_holder(tmp_path)
    try:
        with pytest.raises(FolderLockedError, match=rf"pid {proc.pid}.*artgenre run --out held"):
            with folder_lock(tmp_path):
                pass
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    # The kernel released the lock with the process; the stale file does not block.
    assert (tmp_path / LOCK_NAME).exists()
    with folder_lock(tmp_path) as path:
        assert path == tmp_path / LOCK_NAME


def test_reentrant_in_one_process_and_released_after(tmp_path):
    with folder_lock(tmp_path):
        with folder_lock(tmp_path):
            pass
    proc = _start_holder(tmp_path)  # would hang/fail if this process still held it
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def test_a_file_is_not_a_results_folder(tmp_path):
    target = tmp_path / "results"
    target.write_text("not a folder")
    with pytest.raises(ParameterError, match="existing file"):
        with folder_lock(target):
            pass


def test_second_artgenre_attack_on_a_held_folder_exits_1_naming_the_holder(tmp_path, capsys):
    from artgenre.cli import main

    ckpt = tmp_path / "m.pt"
    ckpt.write_bytes(b"not read: the lock is refused first")
    proc = _start_holder(tmp_path / "res")
    try:
        code = main(["attack", "--checkpoint", str(ckpt), "--out", str(tmp_path / "res")])
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and "Traceback" not in err
    assert f"pid {proc.pid}" in err and "artgenre run --out held" in err and "another --out" in err
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == [LOCK_NAME]
