"""Placeholder."""

from typing import Protocol


class StorageAdapter(Protocol):
    pass
