"""Helpers to test bots and storage adapters.

The local Bot API server, the storage conformance suite and fault-injecting storages.
"""
