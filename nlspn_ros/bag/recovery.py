"""Reading damaged storage files that rosbags refuses to open, up to the damage.

* MCAP without footer/index (a recording cut short): records are read from the start, chunk by
  chunk (memory bounded by one chunk); an uncompressed chunk cut in the middle still gives up the
  messages it holds before the cut.
* sqlite3 with corrupt pages: rows are read in insertion order until sqlite reports the damage.

Both yield ``(topic, msgtype, log_time_ns, rawdata)`` and raise :class:`BagDamagedError` at the
damage, after every message before it was yielded.
"""
from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from rosbags.rosbag2.storage_mcap import decompress

from nlspn_ros.bag.errors import BagDamagedError

MAGIC = b"\x89MCAP0\r\n"
OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK, OP_FOOTER, OP_DATA_END = 0x03, 0x04, 0x05, 0x06, 0x02, 0x0F


class _Truncated(Exception):
    pass


def _string(buf: memoryview, pos: int) -> tuple[str, int]:
    (size,) = struct.unpack_from("<I", buf, pos)
    end = pos + 4 + size
    if end > len(buf):
        raise _Truncated
    return bytes(buf[pos + 4 : end]).decode(), end


class McapScanner:
    """Yields ``(topic, msgtype, log_time_ns, rawdata)`` in file order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.schemas: dict[int, str] = {}
        self.channels: dict[int, tuple[str, str]] = {}
        self.count = 0

    def _damaged(self, why: str) -> BagDamagedError:
        return BagDamagedError(f"{self.path}: {why} after {self.count} messages", self.count)

    def _records(self, buf: memoryview) -> Iterator[tuple[str, str, int, bytes]]:
        """Records packed in ``buf`` (a chunk's content); raises _Truncated at an incomplete one."""
        pos = 0
        while pos < len(buf):
            if pos + 9 > len(buf):
                raise _Truncated
            op, size = buf[pos], struct.unpack_from("<Q", buf, pos + 1)[0]
            body = buf[pos + 9 : pos + 9 + size]
            if len(body) < size:
                raise _Truncated
            pos += 9 + size
            yield from self._record(op, body)

    def _record(self, op: int, body: memoryview) -> Iterator[tuple[str, str, int, bytes]]:
        if op == OP_SCHEMA:
            (schema_id,) = struct.unpack_from("<H", body, 0)
            self.schemas[schema_id], _ = _string(body, 2)
        elif op == OP_CHANNEL:
            channel_id, schema_id = struct.unpack_from("<HH", body, 0)
            topic, _ = _string(body, 4)
            self.channels[channel_id] = (topic, self.schemas.get(schema_id, ""))
        elif op == OP_MESSAGE:
            channel_id, _, log_time, _ = struct.unpack_from("<HIQQ", body, 0)
            if channel_id not in self.channels:
                raise self._damaged(f"message on unknown channel {channel_id}")
            topic, msgtype = self.channels[channel_id]
            self.count += 1
            yield topic, msgtype, log_time, bytes(body[22:])

    def _chunk(self, body: memoryview, complete: bool) -> Iterator[tuple[str, str, int, bytes]]:
        _, _, uncompressed_size, crc = struct.unpack_from("<QQQI", body, 0)
        compression, pos = _string(body, 28)
        (size,) = struct.unpack_from("<Q", body, pos)
        data = body[pos + 8 : pos + 8 + size]
        if complete and len(data) == size:
            data = memoryview(decompress(bytes(data), compression, uncompressed_size, crc))
        elif compression:
            raise _Truncated  # a compressed chunk cut short cannot be decoded
        yield from self._records(data)
        if len(data) < uncompressed_size:
            raise _Truncated

    def __iter__(self) -> Iterator[tuple[str, str, int, bytes]]:
        with self.path.open("rb") as stream:
            if stream.read(8) != MAGIC:
                raise self._damaged("not an MCAP file (bad magic)")
            try:
                yield from self._scan(stream)
            except _Truncated:
                raise self._damaged("file ends in the middle of a record (truncated)") from None
            except (struct.error, UnicodeDecodeError, ValueError) as err:
                raise self._damaged(f"corrupt record ({err})") from None

    def _scan(self, stream: BinaryIO) -> Iterator[tuple[str, str, int, bytes]]:
        while True:
            head = stream.read(9)
            if not head:
                raise _Truncated  # no footer: the recording was cut short
            if len(head) < 9:
                raise _Truncated
            op, size = head[0], struct.unpack_from("<Q", head, 1)[0]
            if op in (OP_FOOTER, OP_DATA_END):
                return
            body = memoryview(stream.read(size))
            if op == OP_CHUNK:
                yield from self._chunk(body, complete=len(body) == size)
            elif len(body) < size:
                raise _Truncated
            else:
                yield from self._record(op, body)


class Sqlite3Scanner:
    """Rows of a rosbag2 sqlite3 file in insertion (= recording) order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0

    def topics(self) -> dict[str, str]:
        try:
            with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True) as db:
                return dict(db.execute("SELECT name, type FROM topics"))
        except sqlite3.DatabaseError as err:
            raise BagDamagedError(f"{self.path}: topic table unreadable ({err})", 0) from None

    def __iter__(self) -> Iterator[tuple[str, str, int, bytes]]:
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                topics = {row[0]: (row[1], row[2]) for row in db.execute("SELECT id, name, type FROM topics")}
                for topic_id, stamp, data in db.execute(
                    "SELECT topic_id, timestamp, data FROM messages ORDER BY id"
                ):
                    topic, msgtype = topics[topic_id]
                    self.count += 1
                    yield topic, msgtype, stamp, data
            finally:
                db.close()
        except (sqlite3.DatabaseError, KeyError) as err:
            why = f"{self.path}: damaged after {self.count} messages ({err!r})"
            raise BagDamagedError(why, self.count) from None
