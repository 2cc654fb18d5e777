"""Where feature-cache entries live, and the rules for writing one.

The cache root is ``cache_dir`` when given, else ``$ARTGENRE_CACHE``, else
``~/.cache/artgenre``; a bad root is a `DataError` that says how to choose another. A process
that (re)builds an entry creates its folder before computing anything, then writes it holding
the entry's ``flock`` (`entry_lock`), after deleting the temporary files a killed writer left
(`artgenre.io.remove_stale_temps`).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from artgenre.errors import DataError
from artgenre.io import remove_stale_temps
from artgenre.runtime import log

ENV_VAR = "ARTGENRE_CACHE"
# Held (flock) while an entry is written; never a `.tmp` name, so never a stale temp.
WRITE_LOCK = ".write.lock"


def default_cache_root() -> Path:
    """``$ARTGENRE_CACHE`` if set and non-empty, else ``~/.cache/artgenre``."""
    env = os.environ.get(ENV_VAR, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "artgenre"


def resolve_cache_root(*, cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache root: ``cache_dir`` when given, else `default_cache_root`.

    Raises
    ------
    DataError
        The path exists and is not a folder.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_root()
    if root.exists() and not root.is_dir():
        raise DataError(
            f"{_root_origin(cache_dir)} {str(root)!r} exists and is not a folder; {_CACHE_HINT}"
        )
    return root


def entry_dir(*, cache_dir: str | os.PathLike | None, name: str, key: str) -> Path:
    """Folder of one cache entry: ``<cache root>/<name>-<first 16 hex digits of key>``."""
    return resolve_cache_root(cache_dir=cache_dir) / f"{name}-{key[:16]}"


_CACHE_HINT = f"pass cache_dir=<a writable folder> (CLI: --cache-dir) or set ${ENV_VAR} to one"


def _root_origin(cache_dir) -> str:
    if cache_dir is not None:
        return "cache_dir"
    return f"cache folder (from ${ENV_VAR})" if os.environ.get(ENV_VAR, "").strip() else "cache folder"


def prepare_entry(*, folder: Path) -> None:
    """Create an entry folder that this process is about to (re)build.

    Called before any feature is computed, so a bad cache folder is reported at once.

    Parameters
    ----------
    folder : Path
        Entry folder (see `entry_dir`).

    Raises
    ------
    DataError
        The folder cannot be created (a file in the way, no permission, read-only disk); the
        message names the path and how to choose another cache folder.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create the feature cache folder {str(folder)!r} ({exc.strerror or exc}); "
            f"{_CACHE_HINT}"
        ) from None


@contextlib.contextmanager
def entry_lock(*, folder: Path) -> Iterator[None]:
    """Hold the exclusive write lock of an entry folder (blocking; a no-op without ``fcntl``).

    ``flock`` is released by the kernel when the holder dies, so a killed writer never
    blocks the next one.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(folder / WRITE_LOCK, "a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        except OSError as exc:  # e.g. ENOLCK on some network file systems
            log.warning("cannot lock feature cache %s (%s); writing it without a lock", folder, exc)
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def exclusive_write(write: Callable[..., None]) -> Callable[..., None]:
    """Run an entry write holding the entry's lock, after removing what a killed writer left.

    Under the lock no other writer is in the middle of `atomic_path`, so every temporary
    file in the folder belongs to a dead one.
    """

    @functools.wraps(write)
    def locked(*, folder: Path, **kwargs) -> None:
        prepare_entry(folder=folder)
        with entry_lock(folder=folder):
            removed = remove_stale_temps(folder)
            if removed:
                log.info("removed %d temporary file(s) left in %s by an interrupted write", len(removed), folder)
            write(folder=folder, **kwargs)

    return locked
