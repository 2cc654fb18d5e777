"""Find and index result files; read values out of them without trusting their shape.

Result files are written by other stages (possibly older versions of them), so every
accessor here tolerates a missing or oddly typed field by returning ``None``: the report
then shows "—" for that value instead of failing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artgenre.eps import eps_key as _canonical_eps
from artgenre.errors import DataError
from artgenre.runtime import log

RESULT_KINDS = ("train", "attack", "defense")
# Bookkeeping files that carry a "kind" but hold no results (pipeline.json's stage timings).
NON_RESULT_KINDS = frozenset({"pipeline", "report"})
# A result of a known kind must at least carry these keys to be usable.
_REQUIRED = {
    "train": ("model",),
    "attack": ("model", "cells"),
    "defense": ("model", "defense", "cells"),
}
BASELINE = "none"
#: Threat model and norm of a cell that records neither (files before the waveform threat model).
DEFAULT_THREAT = ("spectrogram", "inf")
#: Newest result-file layout this report understands; files without ``schema_version`` are 1.
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class ResultFile:
    """One parsed result file."""

    path: Path
    kind: str
    data: dict

    @property
    def model(self) -> str:
        return str(self.data.get("model"))

    @property
    def defense(self) -> str | None:
        d = self.data.get("defense")
        return None if d in (None, "", "none") else str(d)

    @property
    def source_model(self) -> str | None:
        s = self.data.get("source_model")
        return None if s in (None, "") else str(s)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def schema_version(self) -> int:
        v = self.data.get("schema_version", 1)
        return v if isinstance(v, int) and not isinstance(v, bool) else 1

    @property
    def created(self) -> str:
        """``meta.created`` (ISO time, sorts chronologically), or ``""`` when not recorded."""
        c = as_dict(self.data.get("meta")).get("created")
        return c if isinstance(c, str) else ""


@dataclass(frozen=True)
class ResultSet:
    """All result files found under a folder, grouped by kind."""

    root: Path
    train: tuple[ResultFile, ...] = ()
    attack: tuple[ResultFile, ...] = ()
    defense: tuple[ResultFile, ...] = ()
    unreadable: tuple[tuple[str, str], ...] = ()
    ignored: tuple[tuple[str, str], ...] = ()
    pipeline: dict | None = None

    @property
    def all(self) -> tuple[ResultFile, ...]:
        return self.train + self.attack + self.defense

    def rel(self, path: Path | str) -> str:
        """``path`` relative to the results folder when possible (for display)."""
        try:
            return str(Path(path).resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)


def _candidates(root: Path, exclude: Iterable[Path]) -> list[Path]:
    excluded = {p.resolve() for p in exclude}
    found = sorted(root.glob("*.json")) + sorted(root.glob("*/*.json"))
    return [p for p in found if not any(p.resolve().is_relative_to(e) for e in excluded)]


def load_results(*, results_dir: str | Path, exclude: Iterable[str | Path] = ()) -> ResultSet:
    """Read every result file in ``results_dir`` and its immediate sub-folders.

    Parameters
    ----------
    results_dir : str or Path
        Folder holding ``*.json`` result files (``train-*.json``, ``attack-*.json``, ...).
    exclude : iterable of paths
        Folders to skip (the report's own output folder).

    Returns
    -------
    ResultSet
        JSON objects with a ``"kind"`` of ``train``, ``attack`` or ``defense`` are results;
        JSON without ``"kind"`` is skipped silently, ``kind: "pipeline"`` is kept as
        ``pipeline`` (the newest one) but is not a result; unknown kinds are listed in ``ignored``;
        malformed JSON or results missing required keys are listed in ``unreadable`` with a
        logged warning.

    Raises
    ------
    DataError
        If ``results_dir`` is not a folder, or it holds no readable result file.
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise DataError(f"results folder {str(root)!r} does not exist or is not a folder")
    groups: dict[str, list[ResultFile]] = {k: [] for k in RESULT_KINDS}
    unreadable: list[tuple[str, str]] = []
    ignored: list[tuple[str, str]] = []
    pipelines: list[dict] = []
    for path in _candidates(root, [Path(e) for e in exclude]):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            log.warning("skipping unreadable result file %s: %s", path, exc)
            unreadable.append((str(path), f"not valid JSON ({exc})"))
            continue
        if not isinstance(data, dict) or "kind" not in data:
            continue
        kind = data["kind"]
        if not isinstance(kind, str):
            ignored.append((str(path), f"kind {kind!r} is not a string"))
            continue
        if kind in NON_RESULT_KINDS:
            if kind == "pipeline":
                pipelines.append(data)
            continue
        if kind not in RESULT_KINDS:
            ignored.append((str(path), f"unknown kind {kind!r}"))
            continue
        reason = _malformed(kind, data)
        if reason:
            log.warning("skipping malformed result file %s: %s", path, reason)
            unreadable.append((str(path), reason))
            continue
        groups[kind].append(ResultFile(path=path, kind=kind, data=data))
    if not any(groups.values()):
        detail = f" ({len(unreadable)} unreadable JSON file(s))" if unreadable else ""
        raise DataError(
            f"no result files in {str(root)!r}{detail}; expected train-*.json, attack-*.json or "
            "defense-*.json written by `artgenre train/attack/defend`"
        )
    return ResultSet(
        root=root,
        train=tuple(groups["train"]),
        attack=tuple(groups["attack"]),
        defense=tuple(groups["defense"]),
        unreadable=tuple(unreadable),
        ignored=tuple(ignored),
        # The newest pipeline record describes the run that wrote (most of) this folder.
        pipeline=max(pipelines, key=lambda d: str(as_dict(d.get("meta")).get("created", "")), default=None),
    )


def _malformed(kind: str, data: dict) -> str | None:
    """Why a result of a known kind cannot be used, or None."""
    missing = [k for k in _REQUIRED[kind] if k not in data]
    if missing:
        return f"{kind} result without {', '.join(missing)}"
    if not isinstance(data["model"], str):
        return f"model={data['model']!r} is not a name"
    for key in ("defense", "source_model"):
        if data.get(key) is not None and not isinstance(data[key], str):
            return f"{key}={data[key]!r} is neither null nor a name"
    if kind == "defense" and not (isinstance(data["defense"], str) and data["defense"]):
        return f"defense={data['defense']!r} is not a defense name"
    if "cells" in data and not isinstance(data["cells"], list):
        return "'cells' is not a list"
    return None


# ---------------------------------------------------------------- value accessors


def as_list(v: Any) -> list:
    """``v`` if it is a list, else an empty list (a field of the wrong type counts as absent)."""
    return v if isinstance(v, list) else []


def as_dict(v: Any) -> dict:
    """``v`` if it is a dict, else an empty dict."""
    return v if isinstance(v, dict) else {}


def num(v: Any) -> float | None:
    """A finite float, or None (also for proportion dicts: their ``value``)."""
    if isinstance(v, dict):
        v = v.get("value")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def prop(v: Any) -> dict | None:
    """Normalise a proportion (``{"value","ci_low","ci_high",...}`` or a bare number).

    Values outside [0, 1] are not proportions and give None.
    """
    value = num(v)
    if value is None or not -1e-9 <= value <= 1 + 1e-9:
        return None
    out = {"value": value, "ci_low": None, "ci_high": None}
    if isinstance(v, dict):
        out["ci_low"] = num(v.get("ci_low"))
        out["ci_high"] = num(v.get("ci_high"))
        for k in ("k", "n"):
            if isinstance(v.get(k), int):
                out[k] = v[k]
    return out


def accuracy(ev: Any, which: str = "segment") -> dict | None:
    """Accuracy out of an `evaluate` dict (or a bare proportion).

    ``which`` is ``"segment"`` or ``"track"`` (majority vote, falling back to mean-prob).
    """
    if not isinstance(ev, dict):
        return prop(ev)
    if which == "segment":
        if "segment_accuracy" in ev:
            return prop(ev["segment_accuracy"])
        return prop(ev) if "value" in ev else None
    for key in ("track_accuracy_vote", "track_accuracy", "track_accuracy_mean"):
        if key in ev:
            return prop(ev[key])
    return None


def eps_key(eps: Any) -> float | None:
    """`artgenre.eps.eps_key` of a number read from a file; None when it is not a number."""
    e = num(eps)
    return None if e is None else _canonical_eps(e)


def cells_of(result: ResultFile) -> list[dict]:
    """The result's cells that carry an attack name and a numeric ε."""
    out = []
    for c in as_list(result.data.get("cells")):
        if isinstance(c, dict) and isinstance(c.get("attack"), str) and eps_key(c.get("eps")) is not None:
            out.append(c)
    return out


def threat_of(cell: dict, result: ResultFile | None = None) -> tuple[str, str]:
    """``(threat, norm)`` of a cell or robust entry; absent fields fall back to the result's
    ``threat`` and then to `DEFAULT_THREAT`."""
    default = result.data.get("threat") if result is not None else None
    threat = cell.get("threat", default)
    norm = cell.get("norm")
    return (threat if isinstance(threat, str) else DEFAULT_THREAT[0],
            norm if isinstance(norm, str) else DEFAULT_THREAT[1])


def robust_of(result: ResultFile) -> list[dict]:
    """The result's ``robust`` entries (worst case over attacks) that carry a numeric ε and a
    readable accuracy; an entry's ``adaptive`` is True, False or None (the union)."""
    out = []
    for r in as_list(result.data.get("robust")):
        if isinstance(r, dict) and eps_key(r.get("eps")) is not None and accuracy(r.get("robust_accuracy")):
            out.append(r)
    return out


def detector_entries(result: ResultFile) -> list[tuple[dict, dict]]:
    """``(detector block, per-attack entry)`` pairs of a defense result (empty without a detector)."""
    det = result.data.get("detector")
    if not isinstance(det, dict):
        return []
    return [(det, pa) for pa in as_list(det.get("per_attack")) if isinstance(pa, dict)]


def genres_of(*results: ResultFile, n_classes: int | None = None) -> tuple[str, ...] | None:
    """Class names from a result's ``genres`` list or ``dataset`` block, else the GTZAN
    names for 10 classes."""
    for r in results:
        if isinstance(r.data.get("genres"), list):
            return tuple(map(str, r.data["genres"]))
        ds = r.data.get("dataset")
        if isinstance(ds, dict) and isinstance(ds.get("genres"), list):
            return tuple(map(str, ds["genres"]))
    if n_classes in (None, 10):
        from artgenre.data.dataset import GENRES

        return GENRES
    return None


def attack_order(names: Iterable[str]) -> list[str]:
    """FGSM and PGD first (the paper's attacks), then the rest alphabetically."""
    first = ["fgsm", "pgd"]
    names = set(names)
    return [n for n in first if n in names] + sorted(names - set(first))
