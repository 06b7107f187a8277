"""Placeholder."""


class SQLiteStorage:
    pass
