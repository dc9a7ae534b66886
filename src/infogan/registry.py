"""Registries: named things (datasets, network families, metrics), each carrying its help line.

A registry is a dict from name to item; `register` adds an item under its `name`, and a
lookup of an unknown name is a one-line InfoGANError listing the known ones. Each kind's
registrations sit in its package's __init__.py, one line per item (see CONTRIBUTING).
"""

from __future__ import annotations

from typing import TypeVar

from .errors import InfoGANError

T = TypeVar("T")


class Registry(dict[str, T]):
    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, item: T) -> T:
        name = item.name
        if name in self:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self[name] = item
        return item

    def lookup(self, name: str) -> T:
        if name not in self:
            raise InfoGANError(f"unknown {self.kind} {name!r} (known: {', '.join(self)})")
        return self[name]
