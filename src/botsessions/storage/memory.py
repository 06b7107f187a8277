"""Placeholder."""


class MemorySessionStorage:
    pass
