"""Name → entry registries (`MODELS`, `DATASETS`, `ATTACKS`, `DEFENSES`, `THREAT_MODELS`).

Entries are factories (models, datasets) or objects with behaviour (`AttackSpec`, defense
strategies, threat models). CLI choices are taken from the registry keys, so registering an
entry is all it takes to make a new model, dataset, attack, defense or threat model available
everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from artgenre.errors import ParameterError

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """An ordered mapping from names to entries that fails loudly on unknown names.

    Parameters
    ----------
    kind : str
        What the registry holds ("model", "attack", ...); used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name``."""

        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return deco

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ParameterError(
                f"unknown {self.kind} {name!r}; valid {self.kind}s: {', '.join(self._items)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._items)})"
