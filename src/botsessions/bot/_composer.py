"""Placeholder."""


class Composer:
    pass
