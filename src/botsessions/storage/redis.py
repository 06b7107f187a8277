"""Placeholder."""


class RedisStorage:
    pass
