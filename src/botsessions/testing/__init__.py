"""Helpers to test bots and storage adapters: the local Bot API server, conformance suite, fault-injecting storages."""
