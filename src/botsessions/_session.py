"""session() and lazy_session(): placeholder until the session engine lands."""

from typing import Any


def session(**kwargs: Any) -> Any:
    raise NotImplementedError


def lazy_session(**kwargs: Any) -> Any:
    raise NotImplementedError
