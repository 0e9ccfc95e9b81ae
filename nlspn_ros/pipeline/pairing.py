"""Approximate-time pairing of image + camera_info + point cloud by header stamps (ROS-free).

Shared by the live node and the offline bag evaluation: the result is a pure function of the
sequence of (stream, stamp) arrivals, so both pair the same frames.

Rules (``slop`` and ``queue_size`` are the only parameters):

* Every image is paired with the NEAREST cloud in time with ``|t_cloud - t_image| <= slop``
  (tie: the earlier cloud). A cloud may serve several images, so a camera faster than the LiDAR
  (30 Hz vs 10 Hz) gets every image paired with its nearest scan.
* Its camera_info is the one with the exact same stamp, else the nearest within ``slop``.
* An image is decided once the nearest candidates are known: a cloud (and a camera_info) with a
  stamp at or after the image's has arrived, or the stream was flushed. Streams are assumed to
  arrive in stamp order each (what a driver and a bag give).
* :meth:`ApproximateTimePairer.decide_oldest` decides the oldest image at once: the live node calls
  it when an image has waited ``sync.max_wait`` seconds for a later cloud (offline, the end of the
  bag does the same through :meth:`flush`).
* At most ``queue_size`` messages wait per stream. When one more image arrives, or a cloud /
  camera_info queue overflows while images wait, the oldest image is decided with the candidates
  known so far (a LiDAR or camera_info stream that stalls cannot hold images forever). A cloud /
  camera_info queue that overflows with no image waiting (camera stalled) drops its oldest entry.
* A stamp going backwards in any stream (bag loop, sim time reset) clears all queues: a
  :class:`Reset` event is returned and the pending messages are dropped with reason ``reset``.
* Every message that is not used is reported once as a :class:`Dropped` event with a reason
  (:data:`DROP_REASONS`) and counted in :attr:`ApproximateTimePairer.dropped`.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

IMAGE, CAMERA_INFO, CLOUD = "image", "camera_info", "cloud"
STREAMS = (IMAGE, CAMERA_INFO, CLOUD)

NO_CLOUD = "no_cloud_within_slop"
NO_CAMERA_INFO = "no_camera_info_within_slop"
UNPAIRED = "unpaired"  # a cloud or camera_info that no image chose
QUEUE_OVERFLOW = "queue_overflow"  # a cloud or camera_info pushed out of a full queue before use
RESET = "reset"  # pending when a stamp went backwards
DROP_REASONS = (NO_CLOUD, NO_CAMERA_INFO, UNPAIRED, QUEUE_OVERFLOW, RESET)


@dataclass(frozen=True)
class Pair:
    """An image with the camera_info and the cloud chosen for it.

    Attributes:
        image: the image message, as given to :meth:`ApproximateTimePairer.add`.
        camera_info: the camera_info message.
        cloud: the point cloud message.
        image_ns: the image's stamp, nanoseconds.
        camera_info_ns: the camera_info's stamp, nanoseconds.
        cloud_ns: the cloud's stamp, nanoseconds.
    """

    image: Any
    camera_info: Any
    cloud: Any
    image_ns: int
    camera_info_ns: int
    cloud_ns: int

    @property
    def cloud_offset_ns(self) -> int:
        """Cloud stamp minus image stamp, nanoseconds (negative: the cloud is older)."""
        return self.cloud_ns - self.image_ns


@dataclass(frozen=True)
class Dropped:
    """A message that will not be used (reported once).

    Attributes:
        stream: ``image``, ``camera_info`` or ``cloud``.
        stamp_ns: its stamp, nanoseconds.
        reason: one of :data:`DROP_REASONS`.
        message: the message itself (left out of ``repr``).
    """

    stream: str
    stamp_ns: int
    reason: str
    message: Any = field(repr=False, default=None)


@dataclass(frozen=True)
class Reset:
    """A stamp in ``stream`` went from ``previous_ns`` back to ``stamp_ns``; queues were cleared.

    The message that went back is kept and starts the new queue; what was pending follows as
    :class:`Dropped` events with reason ``reset``.

    Attributes:
        stream: ``image``, ``camera_info`` or ``cloud``.
        stamp_ns: the new, earlier stamp, nanoseconds.
        previous_ns: the stream's last stamp before it, nanoseconds.
    """

    stream: str
    stamp_ns: int
    previous_ns: int

    def __str__(self) -> str:
        return (
            f"{self.stream} stamp went backwards ({self.previous_ns * 1e-9:.3f} s -> "
            f"{self.stamp_ns * 1e-9:.3f} s): cleared the pairing queues"
        )


Event = Pair | Dropped | Reset


class _Queue:
    """Messages of one stream in stamp order, remembering which were used."""

    def __init__(self) -> None:
        self.stamps: list[int] = []
        self.messages: list[Any] = []
        self.used: list[bool] = []

    def __len__(self) -> int:
        return len(self.stamps)

    def append(self, stamp: int, message: Any) -> None:
        self.stamps.append(stamp)
        self.messages.append(message)
        self.used.append(False)

    def pop_front(self) -> tuple[int, Any, bool]:
        return self.stamps.pop(0), self.messages.pop(0), self.used.pop(0)

    def nearest(self, stamp: int, slop: int, prefer_exact: bool = False) -> int | None:
        """Index of the entry nearest to ``stamp`` within ``slop`` (tie: earlier), or None."""
        right = bisect.bisect_left(self.stamps, stamp)
        if prefer_exact and right < len(self.stamps) and self.stamps[right] == stamp:
            return right
        best = None
        for i in (right - 1, right):
            if 0 <= i < len(self.stamps) and abs(self.stamps[i] - stamp) <= slop:
                if best is None or abs(self.stamps[i] - stamp) < abs(self.stamps[best] - stamp):
                    best = i
        return best

    def has_at_or_after(self, stamp: int) -> bool:
        return bool(self.stamps) and self.stamps[-1] >= stamp


class ApproximateTimePairer:
    """Feed messages with :meth:`add` (or the per-stream helpers); each call returns the events it caused.

    The rules, overflow included, are in the module docstring. Messages are opaque: only the
    stamps given with them are read.

    Args:
        slop_s: the largest ``|cloud stamp - image stamp|`` (and camera_info) of a pair, seconds.
        queue_size: the most messages waiting per stream (>= 1).

    Attributes:
        slop_ns: ``slop_s`` in nanoseconds.
        pairs_made: pairs returned so far.
        resets: stamps that went backwards so far.
        received: stream -> messages added.
        dropped: (stream, reason) -> messages dropped.

    Raises:
        ValueError: a negative ``slop_s`` or a ``queue_size`` below 1.
    """

    def __init__(self, slop_s: float = 0.05, queue_size: int = 10) -> None:
        if slop_s < 0:
            raise ValueError(f"slop must be >= 0, got {slop_s}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.slop_ns = round(slop_s * 1e9)
        self.queue_size = int(queue_size)
        self.pairs_made = 0
        self.resets = 0
        self.received: Counter[str] = Counter()
        self.dropped: Counter[tuple[str, str]] = Counter()  # (stream, reason) -> count
        self._images = _Queue()
        self._queues = {CAMERA_INFO: _Queue(), CLOUD: _Queue()}
        self._last_stamp: dict[str, int] = {}

    # ------------------------------------------------------------------ input

    def add_image(self, stamp_ns: int, message: Any) -> list[Event]:
        """``add("image", stamp_ns, message)``."""
        return self.add(IMAGE, stamp_ns, message)

    def add_camera_info(self, stamp_ns: int, message: Any) -> list[Event]:
        """``add("camera_info", stamp_ns, message)``."""
        return self.add(CAMERA_INFO, stamp_ns, message)

    def add_cloud(self, stamp_ns: int, message: Any) -> list[Event]:
        """``add("cloud", stamp_ns, message)``."""
        return self.add(CLOUD, stamp_ns, message)

    def add(self, stream: str, stamp_ns: int, message: Any) -> list[Event]:
        """One arrival.

        Args:
            stream: ``image``, ``camera_info`` or ``cloud``.
            stamp_ns: the message's header stamp, nanoseconds.
            message: anything; handed back in the :class:`Pair` or :class:`Dropped` event.

        Returns:
            The events this arrival caused, in order: a :class:`Reset` (and the drops it caused)
            when the stamp went backwards, then :class:`Pair` and :class:`Dropped` events.

        Raises:
            ValueError: an unknown stream.
        """
        if stream not in STREAMS:
            raise ValueError(f"unknown stream {stream!r} (expected one of {STREAMS})")
        stamp_ns = int(stamp_ns)
        self.received[stream] += 1
        events: list[Event] = []
        previous = self._last_stamp.get(stream)
        if previous is not None and stamp_ns < previous:
            events.append(Reset(stream, stamp_ns, previous))
            self.resets += 1
            events += self._clear(RESET)
            self._last_stamp.clear()
        self._last_stamp[stream] = stamp_ns
        if stream == IMAGE:
            self._images.append(stamp_ns, message)
            while len(self._images) > self.queue_size:
                events += self._decide_oldest_image()
        else:
            queue = self._queues[stream]
            queue.append(stamp_ns, message)
            while len(queue) > self.queue_size:
                if self._images:  # decide waiting images early so their old candidates can go
                    events += self._decide_oldest_image()
                    events += self._prune()
                else:
                    events += self._pop_aux(stream, QUEUE_OVERFLOW)
        events += self._decide_ready_images()
        events += self._prune()
        return events

    def flush(self) -> list[Event]:
        """End of stream: decide every waiting image with what is known, drop what is left.

        Returns:
            The :class:`Pair` and :class:`Dropped` events (left-over clouds and camera_infos as
            ``unpaired``).
        """
        events: list[Event] = []
        while self._images:
            events += self._decide_oldest_image()
        events += self._clear(UNPAIRED)
        return events

    def reset(self) -> list[Event]:
        """Forget everything pending (counted as ``reset`` drops) and the last stamps.

        Returns:
            A :class:`Dropped` event for every pending message not used in a pair yet.
        """
        events = self._clear(RESET)
        self._last_stamp.clear()
        return events

    @property
    def oldest_image_ns(self) -> int | None:
        """Stamp of the oldest image waiting for its candidates, nanoseconds, or None."""
        return self._images.stamps[0] if self._images else None

    def decide_oldest(self) -> list[Event]:
        """Decide the oldest waiting image now, with the candidates known so far (a caller's deadline:
        the LiDAR may have stopped, or its sweep stamps lie before the camera's, as KITTI's do, and the
        last image of a recording gets no later cloud).

        Returns:
            Its :class:`Pair` or :class:`Dropped` event and the drops it made possible; empty when
            no image waits.
        """
        if not self._images:
            return []
        return self._decide_oldest_image() + self._prune()

    @property
    def pending(self) -> dict[str, int]:
        """Stream -> messages waiting in its queue."""
        return {IMAGE: len(self._images), **{name: len(q) for name, q in self._queues.items()}}

    # ------------------------------------------------------------------ decisions

    def _ready(self, image_ns: int) -> bool:
        clouds, infos = self._queues[CLOUD], self._queues[CAMERA_INFO]
        info_known = infos.has_at_or_after(image_ns)
        return clouds.has_at_or_after(image_ns) and info_known

    def _decide_ready_images(self) -> list[Event]:
        events: list[Event] = []
        while self._images and self._ready(self._images.stamps[0]):
            events += self._decide_oldest_image()
        return events

    def _decide_oldest_image(self) -> list[Event]:
        image_ns, image, _ = self._images.pop_front()
        clouds, infos = self._queues[CLOUD], self._queues[CAMERA_INFO]
        cloud_i = clouds.nearest(image_ns, self.slop_ns)
        info_i = infos.nearest(image_ns, self.slop_ns, prefer_exact=True)
        if cloud_i is None:
            return [self._drop(IMAGE, image_ns, NO_CLOUD, image)]
        if info_i is None:
            return [self._drop(IMAGE, image_ns, NO_CAMERA_INFO, image)]
        clouds.used[cloud_i] = infos.used[info_i] = True
        self.pairs_made += 1
        return [
            Pair(
                image,
                infos.messages[info_i],
                clouds.messages[cloud_i],
                image_ns,
                infos.stamps[info_i],
                clouds.stamps[cloud_i],
            )
        ]

    def _prune(self) -> list[Event]:
        """Drop clouds / camera_infos no current or future image can choose.

        Future images have stamps >= the oldest waiting image (or the last image seen); for them
        only the last entry at or before that frontier and later entries can be nearest.
        """
        if self._images:
            frontier = self._images.stamps[0]
        elif IMAGE in self._last_stamp:
            frontier = self._last_stamp[IMAGE]
        else:
            return []
        events: list[Event] = []
        for stream, queue in self._queues.items():
            while queue.stamps and (
                queue.stamps[0] < frontier - self.slop_ns or (len(queue) > 1 and queue.stamps[1] <= frontier)
            ):
                events += self._pop_aux(stream, UNPAIRED)
        return events

    def _pop_aux(self, stream: str, reason: str) -> list[Event]:
        stamp, message, used = self._queues[stream].pop_front()
        return [] if used else [self._drop(stream, stamp, reason, message)]

    def _clear(self, reason: str) -> list[Event]:
        events: list[Event] = []
        while self._images:
            stamp, message, _ = self._images.pop_front()
            events.append(self._drop(IMAGE, stamp, reason, message))
        for stream, queue in self._queues.items():
            while queue:
                events += self._pop_aux(stream, reason)
        return events

    def _drop(self, stream: str, stamp: int, reason: str, message: Any) -> Dropped:
        self.dropped[(stream, reason)] += 1
        return Dropped(stream, stamp, reason, message)
