"""Runnable apps that embed persona-sdk (``python -m examples.shop``)."""
