"""Placeholder."""


class Bot:
    pass
