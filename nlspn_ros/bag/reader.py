"""Streaming rosbag2 reader (sqlite3 or mcap, through rosbags): messages in log-time order.

Memory stays bounded: messages are read one at a time (sqlite3) or one chunk at a time (mcap).
Damage met while reading raises :class:`BagDamagedError` after the messages before it were
yielded; a file that rosbags refuses to open (an MCAP cut short, an sqlite3 file with corrupt
pages) is read sequentially up to the damage by :mod:`nlspn_ros.bag.recovery`.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rosbags.rosbag2 import Reader
from rosbags.rosbag2.errors import ReaderError

from nlspn_ros.bag.errors import BagDamagedError, BagError
from nlspn_ros.bag.recovery import McapScanner, Sqlite3Scanner
from nlspn_ros.bag.types import typestore

log = logging.getLogger(__name__)

STORAGE_SUFFIXES = (".mcap", ".db3")


@dataclass
class BagMessage:
    """One recorded message: its serialized CDR bytes as recorded and, on request, the decoded one."""

    topic: str
    msgtype: str
    log_time_ns: int
    rawdata: bytes
    msg: object | None = field(default=None, repr=False)


def storage_files(path: Path) -> list[Path]:
    """The storage files of a bag: the file itself, or a directory's *.mcap / *.db3 files."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise BagError(f"bag not found: {path}")
    files = sorted(p for p in path.iterdir() if p.suffix in STORAGE_SUFFIXES)
    if not files:
        raise BagError(f"{path}: no .mcap/.db3 storage file: not a rosbag2")
    return files


class BagReader:
    """Open a rosbag2 (directory, .mcap or .db3). ``topics``: topic -> message type."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.files = storage_files(self.path)
        self.decode_errors = 0
        self._recovering = False
        try:
            with self._rosbags_reader() as reader:
                self.topics = {c.topic: c.msgtype for c in reader.connections}
                # the QoS each topic's publishers offered when it was recorded (empty: not recorded)
                self.offered_qos = {c.topic: tuple(getattr(c.ext, "offered_qos_profiles", ()) or ())
                                    for c in reader.connections}
                self.message_counts = {t: i.msgcount for t, i in reader.topics.items()}
        except (ReaderError, OSError, ValueError, KeyError) as err:
            log.warning("%s: %s; reading it sequentially up to the damage", self.path, err)
            self._recovering = True
            self.topics = self._scan_topics()
            self.message_counts = {}
            self.offered_qos = {}

    def _rosbags_reader(self) -> Reader:
        is_dir_bag = self.path.is_dir() and (self.path / "metadata.yaml").is_file()
        return Reader(self.path if is_dir_bag or self.path.is_file() else self.files[0])

    def _scanners(self) -> list[McapScanner | Sqlite3Scanner]:
        return [McapScanner(f) if f.suffix == ".mcap" else Sqlite3Scanner(f) for f in self.files]

    def _scan_topics(self) -> dict[str, str]:
        """Topics of a damaged bag (the channel records an MCAP holds before its messages)."""
        topics: dict[str, str] = {}
        for scanner in self._scanners():
            if isinstance(scanner, Sqlite3Scanner):
                topics.update(scanner.topics())
                continue
            try:
                for topic, msgtype, _, _ in scanner:
                    topics.setdefault(topic, msgtype)
            except BagDamagedError:
                pass
            topics.update({topic: msgtype for topic, msgtype in scanner.channels.values()})
        if not topics:
            raise BagError(f"cannot open bag {self.path}: damaged before any topic was recorded")
        return topics

    def messages(self, topics: Iterable[str] | None = None, decode: bool = True) -> Iterator[BagMessage]:
        """Messages on ``topics`` (all when None) in log-time order; ``decode`` fills ``.msg``."""
        wanted = set(self.topics if topics is None else topics)
        unknown = wanted - set(self.topics)
        if unknown:
            raise BagError(f"{self.path}: no topic {sorted(unknown)} (has {sorted(self.topics)})")
        raw = self._recovered(wanted) if self._recovering else self._intact(wanted)
        for message in raw:
            if decode:
                try:
                    message.msg = typestore().deserialize_cdr(message.rawdata, message.msgtype)
                except Exception as err:  # noqa: BLE001 - any decoding failure is one bad message
                    self.decode_errors += 1
                    log.warning("%s: skipped undecodable %s message at %d ns (%s)",
                                self.path, message.topic, message.log_time_ns, err)
                    continue
            yield message

    def _intact(self, wanted: set[str]) -> Iterator[BagMessage]:
        count = 0
        try:
            with self._rosbags_reader() as reader:
                connections = [c for c in reader.connections if c.topic in wanted]
                for connection, stamp, data in reader.messages(connections=connections):
                    count += 1
                    yield BagMessage(connection.topic, connection.msgtype, stamp, bytes(data))
        except BagError:
            raise
        except Exception as err:  # noqa: BLE001 - storage errors (apsw, struct, zstd) mean damage
            raise BagDamagedError(f"{self.path}: damaged after {count} messages: {err!r}", count) from err

    def _recovered(self, wanted: set[str]) -> Iterator[BagMessage]:
        for scanner in self._scanners():
            for topic, msgtype, stamp, data in scanner:
                if topic in wanted:
                    yield BagMessage(topic, msgtype, stamp, bytes(data))
