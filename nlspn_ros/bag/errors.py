"""Errors of the bag tools."""
from __future__ import annotations


class BagError(RuntimeError):
    """A bag cannot be opened or used (missing, unknown format, no usable topics)."""


class BagDamagedError(BagError):
    """The bag is damaged; raised after every message before the damage has been yielded."""

    def __init__(self, message: str, messages_read: int) -> None:
        super().__init__(message)
        self.messages_read = messages_read
