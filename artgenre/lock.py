"""One writer per results folder: an OS file lock held for the whole run.

``artgenre run``, ``train``, ``attack`` and ``defend`` hold ``<out>/.artgenre.lock`` while they
write into ``<out>``. The lock is an ``fcntl.flock`` on an open file, so the kernel releases it
when the holder exits or is killed; a stale lock file left behind by a dead process never
blocks anyone. The file records the holder's pid, host and command, so a refused second
writer can say who holds the folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from artgenre.errors import ParameterError

LOCK_NAME = ".artgenre.lock"


class FolderLockedError(ParameterError):
    """Another process is writing into the same results folder."""


def _holder_text(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    if not isinstance(info, dict):
        return "another process"
    parts = [f"pid {info.get('pid')}"]
    if info.get("host"):
        parts.append(f"on {info['host']}")
    if info.get("command"):
        parts.append(f"running {info['command']!r}")
    return " ".join(parts)


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, *, command: str | None = None) -> Iterator[Path]:
    """Hold the write lock of a results folder for the duration of the ``with`` block.

    Re-entrant within one process: a nested ``folder_lock`` on a folder this process already
    holds (e.g. ``run`` calling the ``attack`` API) is a no-op.

    Parameters
    ----------
    folder : path
        The results folder; created if missing.
    command : str, optional
        What the holder is doing (recorded for the message a second writer gets).

    Yields
    ------
    Path
        The lock file.

    Raises
    ------
    FolderLockedError
        Another live process holds the folder's lock (the message names it).
    ParameterError
        The folder cannot be created or written (e.g. it is an existing file).
    """
    folder = Path(folder)
    key = str(folder.resolve())
    if key in _HELD:
        yield folder / LOCK_NAME
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ParameterError(f"output folder {str(folder)!r} is an existing file; choose a folder path") from None
    except OSError as exc:
        raise ParameterError(f"output folder {str(folder)!r} cannot be created ({exc.strerror or exc})") from None
    if not folder.is_dir():
        raise ParameterError(f"output folder {str(folder)!r} is not a folder; choose a folder path")
    path = folder / LOCK_NAME
    try:
        fh = open(path, "a+", encoding="utf-8")
    except OSError as exc:
        raise ParameterError(f"output folder {str(folder)!r} is not writable ({exc.strerror or exc})") from None
    try:
        if not _try_lock(fh):
            raise FolderLockedError(
                f"results folder {str(folder)!r} is in use by {_holder_text(path)}; wait for it to "
                "finish, or choose another --out"
            )
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(),
            "command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        }))
        fh.flush()
        _HELD.add(key)
        try:
            yield path
        finally:
            _HELD.discard(key)
            with contextlib.suppress(OSError):
                fh.seek(0)
                fh.truncate()
    finally:
        fh.close()


_HELD: set[str] = set()


def _try_lock(fh) -> bool:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks through fcntl
        return True
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


__all__ = ["FolderLockedError", "LOCK_NAME", "folder_lock"]
