"""Atomic file writes and JSON helpers.

Every result, cache file and checkpoint goes through these functions: data is written to a
temporary file in the destination folder and moved into place with `os.replace`, so a killed
run leaves either the old file or the new one, never a half-written file that a later run
would trust.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from artgenre.errors import DataError, ParameterError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


#: Temporary files of `atomic_path` are ``.<target name>.<random>.tmp`` in the target's folder.
TEMP_GLOB = ".*.tmp"


def remove_stale_temps(folder: str | os.PathLike, *, recursive: bool = False) -> list[Path]:
    """Delete the temporary files that a killed writer (`atomic_path`) left in ``folder``.

    Call it when a run starts writing into a folder that it owns (a results folder holding
    the run's lock, a report folder, a cache entry): a live writer's temporary file is only
    ever in a folder that this process, or the holder of the folder's lock, writes.

    Parameters
    ----------
    folder : path
        A folder; a missing one is a no-op.
    recursive : bool
        Also clean sub-folders.

    Returns
    -------
    list of Path
        The files removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = "**/" + TEMP_GLOB if recursive else TEMP_GLOB
    removed = []
    for tmp in folder.glob(pattern):
        if tmp.is_file() and not tmp.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Convert dataclasses, numpy scalars/arrays, paths and non-finite floats to JSON values.

    NaN and infinities become ``None`` so that the files are strict JSON.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, os.PathLike):
        return str(obj)
    return obj


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Serialise ``obj`` with `to_jsonable` and write it atomically as indented JSON."""
    atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or malformed file raises `DataError` naming the path."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"result file {str(path)!r} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"result file {str(path)!r} is not valid JSON ({exc})") from None


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save ``array`` in ``.npy`` format atomically (loadable with ``mmap_mode='r'``)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)


def read_result(path: str | os.PathLike, *, kind: str) -> dict | None:
    """The result JSON at ``path`` if it exists, is readable and has ``"kind": kind``; else None.

    An unreadable file is logged as a warning and ignored (never trusted, never raised).
    """
    import logging

    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = read_json(path)
    except DataError as exc:
        logging.getLogger("artgenre").warning("ignoring unreadable result %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) and data.get("kind") == kind else None


class ResultConflictError(ParameterError):
    """A result file holds a result of another configuration; it is never overwritten."""


def differing_fields(saved: Any, wanted: Any, prefix: str = "") -> list[str]:
    """Dotted names of the fields where two JSON values differ (``limit``, ``data.seed``, ...);
    ``[prefix or "value"]`` when they differ but are not both dicts."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        names: list[str] = []
        for key in sorted(set(saved) | set(wanted), key=str):
            names += differing_fields(saved.get(key), wanted.get(key), f"{prefix}.{key}" if prefix else str(key))
        return names
    return [] if saved == wanted else [prefix or "value"]


def conflict_error(path: str | os.PathLike, *, kind: str, saved: Any, wanted: Any) -> ResultConflictError:
    """The error for a ``kind`` result at ``path`` whose identity (``saved``) differs from this
    run's (``wanted``): names the file, each differing field with both values, and the fixes."""
    saved, wanted = to_jsonable(saved), to_jsonable(wanted)
    diffs = differing_fields(saved, wanted)

    def at(value: Any, name: str) -> str:
        for part in name.split(".") if name != "value" else ():
            if not (isinstance(value, dict) and part in value):
                return "absent"
            value = value[part]
        return repr(value)

    shown = "; ".join(f"{n}: file {at(saved, n)}, this run {at(wanted, n)}" for n in diffs[:6])
    more = f"; and {len(diffs) - 6} more" if len(diffs) > 6 else ""
    return ResultConflictError(
        f"{str(path)!r} holds {'an' if kind[0] in 'aeiou' else 'a'} {kind} result made with another "
        f"configuration ({shown}{more}); "
        "it is never overwritten: to keep both, write this run to another --out folder; to replace "
        "it, remove that file (or rerun with the configuration it records)"
    )


def merged_key(saved: Any, wanted: dict, *, per_item: tuple[str, ...] = ()) -> dict:
    """``wanted`` with each ``per_item`` field (a dict per attack) joined with ``saved``'s, so a
    merged result file keeps the parameters of the earlier cells it holds."""
    saved = saved if isinstance(saved, dict) else {}
    return {**wanted, **{k: {**(saved.get(k) or {}), **(wanted.get(k) or {})} for k in per_item
                         if isinstance(saved.get(k), dict) and isinstance(wanted.get(k), dict)}}


def read_previous_result(path: str | os.PathLike, *, kind: str, resume_key: Any,
                         per_item: tuple[str, ...] = ()) -> dict | None:
    """The finished-or-partial result to resume from, or None when there is none.

    Returns the JSON at ``path`` if `read_result` accepts it and it has the same
    ``"resume_key"`` (compared as JSON values). Fields named in ``per_item`` hold one entry per
    attack (its parameters) and only entries of attacks in both keys must agree: cells of other
    attacks are added or kept, not in conflict. An unreadable file or one of another kind is
    logged and ignored.

    Raises
    ------
    ResultConflictError
        The file holds a ``kind`` result with another ``resume_key`` (another checkpoint,
        data, limit, seed, parameters, or an older toolkit's key): the message names the file,
        the differing fields and how to keep both.
    """
    old = read_result(path, kind=kind)
    if old is None:
        return None
    wanted = json.loads(json.dumps(to_jsonable(resume_key)))
    saved = old.get("resume_key")
    if isinstance(saved, dict) and isinstance(wanted, dict):
        # Compare per-attack fields on the attacks both runs have.
        saved = {k: ({a: v for a, v in saved[k].items() if a in wanted[k]}
                     if k in per_item and isinstance(saved.get(k), dict) and isinstance(wanted.get(k), dict)
                     else saved.get(k)) for k in saved}
        wanted = {k: ({a: v for a, v in wanted[k].items() if a in saved[k]}
                      if k in per_item and isinstance(saved.get(k), dict) and isinstance(wanted.get(k), dict)
                      else v) for k, v in wanted.items()}
    if saved != wanted:
        raise conflict_error(path, kind=kind, saved=saved, wanted=wanted)
    return old
