"""Typed bots that mypy --strict must accept (checked by ``tests/typing/test_mypy.py``)."""
