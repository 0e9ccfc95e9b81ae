"""A one-slot, latest-wins hand-over between threads: no backlog, flat memory."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestMailbox(Generic[T]):
    """``put`` replaces what is waiting (and returns it, so the caller can count it); ``get`` blocks."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._item: T | None = None
        self._closed = False

    def put(self, item: T) -> T | None:
        with self._condition:
            replaced, self._item = self._item, item
            self._condition.notify()
            return replaced

    def get(self, timeout: float | None = None) -> T | None:
        """The waiting item (removing it), or None on timeout or once closed (and emptied)."""
        with self._condition:
            self._condition.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> T | None:
        """Wake every ``get`` for good; returns the item that was waiting (dropped), if any."""
        with self._condition:
            self._closed = True
            dropped, self._item = self._item, None
            self._condition.notify_all()
            return dropped
