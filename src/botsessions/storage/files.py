"""Placeholder."""


class FileStorage:
    pass
