"""Loopback servers shared by the test suite (see ``sink`` for the recording HTTP sink)."""
