"""Placeholder."""


class Context:
    pass
