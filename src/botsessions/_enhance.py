"""enhance_storage(): placeholder until the session engine lands."""

from typing import Any


def enhance_storage(**kwargs: Any) -> Any:
    raise NotImplementedError
