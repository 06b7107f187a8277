"""Placeholder."""


class PostgresStorage:
    pass
