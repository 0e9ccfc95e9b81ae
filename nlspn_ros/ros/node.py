"""``nlspn_node``: pair image + camera_info + cloud, complete the depth, publish it (see docs/node.md).

A lifecycle (managed) node: *configure* loads the model and creates the publishers and the worker,
*activate* subscribes to the inputs and enables the outputs, *deactivate* unsubscribes (what is
pending is dropped and counted), *cleanup* releases the model. With ``autostart`` (the default)
``main`` configures and activates at once and exits non-zero when the model cannot be loaded.

Threads: the executor thread runs the subscriptions (pairing only, cheap), the parameter callback,
the lifecycle transitions and the diagnostics timer; one worker thread converts, projects,
completes and publishes. They meet in a one-slot latest-wins mailbox, so a slow model never builds
a backlog. Settings are an immutable object swapped whole under a lock; a frame reads one snapshot
from start to end. The main thread only waits for SIGINT / SIGTERM and then shuts down (see
:func:`main`).
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import threading
import time
from collections import Counter, deque
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import ParameterUninitializedException
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rclpy.subscription import Subscription
from rclpy.timer import Timer
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from nlspn_ros.allocator import keep_freed_memory
from nlspn_ros.completion import Completer
from nlspn_ros.completion.factory import apply_runtime_settings, build_completer, check_settings
from nlspn_ros.pipeline import extrinsic_source
from nlspn_ros.pipeline import frame as frames
from nlspn_ros.pipeline.conversions import stamp_to_ns
from nlspn_ros.pipeline.mailbox import LatestMailbox
from nlspn_ros.pipeline.pairing import (
    CAMERA_INFO,
    CLOUD,
    IMAGE,
    NO_CAMERA_INFO,
    NO_CLOUD,
    ApproximateTimePairer,
    Dropped,
    Pair,
    Reset,
)
from nlspn_ros.pipeline.settings import BY_NAME, PARAMETERS, NodeSettings, ParameterSpec
from nlspn_ros.ros import tf_lookup
from nlspn_ros.ros.outputs import OUTPUTS, OutgoingFrame, enabled

NODE_NAME = "nlspn_node"
WARN_EVERY_S = 5.0
# How long shutdown (and cleanup) waits for the frame in progress to finish and be published. A
# forward cannot be interrupted (one torch call); ros2 launch escalates SIGINT to SIGTERM after 5 s
# (its default) and tearing DDS down must fit in what is left (measured exit times: docs/node.md,
# Shutdown), so a frame still running after this is abandoned.
SHUTDOWN_WAIT_S = 2.0
# per-frame milliseconds in /diagnostics; overhead = total - model (all but the network forward);
# since_arrival = the image's arrival at the node to the end of publishing (waiting for its cloud
# and in the mailbox included)
STAGES = ("convert", "project", "infer", "model", "mask", "publish", "total", "overhead", "since_arrival")
DEADLINE_PERIOD_S = 0.05  # how often waiting images are checked against sync.max_wait
ARRIVALS_KEPT = 1000  # image arrival times remembered (pairing keeps at most sync.queue_size waiting)


def descriptor(p: ParameterSpec) -> ParameterDescriptor:
    d = ParameterDescriptor(description=p.description, read_only=p.read_only)
    if p.choices:
        d.additional_constraints = "one of: " + ", ".join(p.choices)
    if p.min is not None and isinstance(p.default, int):
        d.integer_range = [IntegerRange(from_value=int(p.min), to_value=int(p.max), step=1)]
    elif p.min is not None:
        d.floating_point_range = [
            FloatingPointRange(from_value=float(p.min), to_value=float(p.max), step=0.0)
        ]
    return d


def qos(reliability: str, depth: int) -> QoSProfile:
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        durability=DurabilityPolicy.VOLATILE,
        reliability=ReliabilityPolicy.RELIABLE
        if reliability == "reliable"
        else ReliabilityPolicy.BEST_EFFORT,
    )


class NLSPNNode(LifecycleNode):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        for p in PARAMETERS:
            self.declare_parameter(p.name, p.default, descriptor(p))
        self._settings_lock = threading.Lock()
        self._settings = NodeSettings.from_values({p.name: self._start_value(p) for p in PARAMETERS})
        self.add_on_set_parameters_callback(self._on_set_parameters)

        # statistics (worker and executor threads): under _stats_lock
        self._stats_lock = threading.Lock()
        self.counters: Counter[str] = Counter()
        self._received_since: Counter[str] = Counter()
        self._rate_window_start = time.monotonic()
        self._latency: dict[str, deque[float]] = {stage: deque(maxlen=100) for stage in STAGES}
        self._warned_at: dict[str, float] = {}
        # image stamp (ns) -> time.monotonic() of its arrival, for latency_ms (steady: meaningful
        # live, under sim time and for a bag replayed without it); under _stats_lock
        self._arrivals: dict[int, float] = {}
        self._bad_reported = 0
        # made by configure (and activate), released by cleanup, shutdown or a failed transition
        self.completer: Completer | None = None
        self._default_prop_time: int | None = None  # the checkpoint's (None: no propagation)
        self.configure_error = ""
        self.pub: dict[str, Publisher] = {}
        self._inputs: list[Subscription] = []
        self._diagnostics: Publisher | None = None
        self._diagnostics_timer: Timer | None = None
        self._deadline_timer: Timer | None = None
        # pairing (executor thread) and the hand-over to the worker: configure makes fresh ones
        s = self._settings
        self._pairer = ApproximateTimePairer(s.sync.slop, s.sync.queue_size)
        self._mailbox: LatestMailbox[Pair] = LatestMailbox()
        self._stop = threading.Event()  # set: the worker's frame in progress is abandoned
        self._worker: threading.Thread | None = None
        self._tf: tf_lookup.TfLookup | None = None  # made while configured and no extrinsic parameter is set
        self._abandoned: threading.Thread | None = None  # a worker released while inside a forward

    def _start_value(self, p: ParameterSpec) -> Any:
        try:
            return self.get_parameter(p.name).value
        except ParameterUninitializedException:
            # an empty list (`t_cam_lidar: []`, `-p t_cam_lidar:=[]`) has no element type, so rclpy
            # leaves the parameter without a value: for a list parameter it means "not set"
            if not isinstance(p.default, list):
                raise ValueError(f"parameter {p.name} was given no value") from None
            self.set_parameters([rclpy.parameter.Parameter(p.name, value=p.default)])
            return p.default

    # ------------------------------------------------------------------ lifecycle

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        s = self.settings
        try:
            completer = build_completer(s)
            check_settings(completer, s)
            self.completer = completer
        except Exception as exc:  # noqa: BLE001 - bad model or device: stay unconfigured and say why
            self.configure_error = str(exc)
            self.get_logger().error(f"cannot configure: {exc}")
            return TransitionCallbackReturn.FAILURE
        self._default_prop_time = completer.prop_time
        self.get_logger().info(
            f"completer {self.completer.name} on {self.completer.device}"
            + (f", checkpoint {s.checkpoint}" if s.checkpoint else "")
        )
        notice = extrinsic_source.configure_notice(s, tf_lookup.AVAILABLE)
        if notice:
            self.get_logger().warning(notice)
        self._listen_to_tf(s)
        self._pairer = ApproximateTimePairer(s.sync.slop, s.sync.queue_size)
        self._mailbox = LatestMailbox()
        output_qos = qos(s.qos.output_reliability, s.qos.output_depth)
        self.pub = {
            key: self.create_lifecycle_publisher(output.msg_type, output.topic, output_qos)
            for key, output in OUTPUTS.items()
        }
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)  # also when inactive
        # a steady-clock timer: under use_sim_time a ROS-time timer waits for /clock to advance a
        # whole period, so a short or paused bag would get no diagnostics at all
        self._diagnostics_timer = self.create_timer(
            s.diagnostics_period, self._publish_diagnostics, clock=Clock(clock_type=ClockType.STEADY_TIME)
        )
        # the pairing deadline (sync.max_wait) runs on the steady clock for the same reason
        self._deadline_timer = self.create_timer(
            DEADLINE_PERIOD_S, self._decide_overdue_images, clock=Clock(clock_type=ClockType.STEADY_TIME)
        )
        # each worker gets its own mailbox and "abandoned" flag: one left inside a forward by cleanup
        # ends after its frame, publishes nothing and never takes a pair meant for the next worker
        self._stop = threading.Event()
        # daemon: a worker still inside a forward must not hold the process at exit (see main)
        self._worker = threading.Thread(
            target=self._work, args=(self._stop, self._mailbox), name="nlspn_worker", daemon=True
        )
        self._worker.start()
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        s = self.settings
        input_qos = qos(s.qos.input_reliability, s.qos.input_depth)
        if s.image_transport == "compressed":
            # image_transport's naming: the base topic `image` after remapping, plus /compressed
            topic = self.resolve_topic_name("image") + "/compressed"
            image_sub = self.create_subscription(
                CompressedImage, topic, lambda m: self._on_input(IMAGE, m), input_qos
            )
        else:
            image_sub = self.create_subscription(
                Image, "image", lambda m: self._on_input(IMAGE, m), input_qos
            )
        self._inputs = [
            image_sub,
            self.create_subscription(
                CameraInfo, "camera_info", lambda m: self._on_input(CAMERA_INFO, m), input_qos
            ),
            self.create_subscription(PointCloud2, "points", lambda m: self._on_input(CLOUD, m), input_qos),
        ]
        return super().on_activate(state)  # enables the lifecycle publishers

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unsubscribe()
        self._handle_events(self._pairer.reset())  # pending messages: counted as dropped.*.reset
        if self._mailbox.get(timeout=0) is not None:
            self._count("frames.deactivated")
        return super().on_deactivate(state)  # a frame still in flight is not published

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """A transition raised: release everything and go back to unconfigured."""
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _listen_to_tf(self, s: NodeSettings) -> None:
        """Start the TF listener when the extrinsic is to come from TF (none of its parameters set):
        at configure, or when a parameter change unsets them. Not before: /tf can be busy."""
        if self._tf is None and tf_lookup.AVAILABLE and not s.extrinsic_from_parameters:
            self._tf = tf_lookup.TfLookup(self)

    @property
    def worker_busy(self) -> bool:
        """Whether a worker thread is still running (a frame abandoned inside the forward)."""
        return any(t is not None and t.is_alive() for t in (self._worker, self._abandoned))

    def _unsubscribe(self) -> None:
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []

    def stop_worker(self, timeout: float = SHUTDOWN_WAIT_S) -> bool:
        """Start no new frame (a waiting pair is dropped, counted as ``frames.deactivated``) and wait
        up to ``timeout`` s for the one in progress to be published; False if the worker is still
        busy (inside a forward) after that: the frame is abandoned and will publish nothing."""
        if self._worker is None:
            return True
        if self._mailbox.close() is not None:
            self._count("frames.deactivated")
        self._worker.join(timeout=timeout)
        if self._worker.is_alive():
            self._stop.set()
            return False
        self._worker = None
        return True

    def _release(self) -> None:
        """Undo configure (and activate), whatever part of them was done: stop the worker, drop
        subscriptions, publishers, timer and model."""
        self._unsubscribe()
        if not self.stop_worker():
            self.get_logger().warning(
                f"abandoning the frame in progress (still running after {SHUTDOWN_WAIT_S:.0f} s)"
            )
            self._abandoned = self._worker
        self._worker = None
        for publisher in self.pub.values():
            self.destroy_lifecycle_publisher(publisher)
        self.pub = {}
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        if self._deadline_timer is not None:
            self.destroy_timer(self._deadline_timer)
            self._deadline_timer = None
        if self._diagnostics is not None:
            self.destroy_publisher(self._diagnostics)
            self._diagnostics = None
        if self._tf is not None:
            self._tf.close()
            self._tf = None
        if self.completer is not None:
            self.completer.release()  # weights and cached GPU memory (an abandoned frame keeps its own)
            self.completer = None

    # ------------------------------------------------------------------ parameters

    @property
    def settings(self) -> NodeSettings:
        with self._settings_lock:
            return self._settings

    def _on_set_parameters(self, params: list[rclpy.parameter.Parameter]) -> SetParametersResult:
        # only this node's table; rclpy's own parameters (use_sim_time, ...) pass through
        updates = {p.name: p.value for p in params if p.name in BY_NAME}
        if not updates:
            return SetParametersResult(successful=True)
        with self._settings_lock:
            try:
                new = self._settings.changed(updates)
                if self.completer is not None:  # configured: refuse what this completer cannot apply
                    check_settings(self.completer, new)
            except ValueError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            self._settings = new
        if self.completer is not None:  # configured
            self._listen_to_tf(new)
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ input and pairing (executor thread)

    def _on_input(self, stream: str, msg: Any) -> None:
        s = self.settings
        stamp_ns = stamp_to_ns(msg.header.stamp)
        with self._stats_lock:
            self._received_since[stream] += 1
            if stream == IMAGE:
                self._arrivals[stamp_ns] = time.monotonic()
                if len(self._arrivals) > ARRIVALS_KEPT:
                    del self._arrivals[next(iter(self._arrivals))]  # the oldest (dicts keep order)
        if (self._pairer.slop_ns, self._pairer.queue_size) != (
            round(s.sync.slop * 1e9),
            s.sync.queue_size,
        ):
            self._handle_events(self._pairer.reset())
            self._pairer = ApproximateTimePairer(s.sync.slop, s.sync.queue_size)
        self._handle_events(self._pairer.add(stream, stamp_ns, msg))

    def _decide_overdue_images(self) -> None:
        """Pair every image that has waited ``sync.max_wait`` for a later cloud with the clouds known
        (executor thread, like the input callbacks)."""
        wait = self.settings.sync.max_wait
        if not wait:
            return
        now = time.monotonic()
        while (stamp := self._pairer.oldest_image_ns) is not None:
            with self._stats_lock:
                arrived = self._arrivals.get(stamp)
            if arrived is not None and now - arrived < wait:
                break
            self._handle_events(self._pairer.decide_oldest())

    def _handle_events(self, events: list) -> None:
        for event in events:
            if isinstance(event, Pair):
                self._count("pairs.made")
                if self._mailbox.put(event) is not None:
                    self._count("frames.superseded")
            elif isinstance(event, Dropped):
                self._count(f"dropped.{event.stream}.{event.reason}")
                if event.stream == IMAGE and event.reason in (NO_CLOUD, NO_CAMERA_INFO):
                    slop_ms = self._pairer.slop_ns * 1e-6
                    self._warn(
                        event.reason,
                        f"image at {event.stamp_ns * 1e-9:.3f} s dropped: "
                        f"{event.reason.replace('_', ' ')} ({slop_ms:.0f} ms)",
                    )
            elif isinstance(event, Reset):
                self._count("pairing.resets")
                self.get_logger().warning(str(event))

    # ------------------------------------------------------------------ processing (worker thread)

    def _work(self, stop: threading.Event, mailbox: LatestMailbox[Pair]) -> None:
        while (pair := mailbox.get()) is not None:  # None once the mailbox is closed
            try:
                self.process(pair, self.settings, stop)
            except frames.BadInput as exc:
                self._count(f"bad_input.{exc.kind}")
                self._warn(exc.kind, f"frame skipped, {exc}")
            except Exception as exc:  # noqa: BLE001 - keep serving; count and report
                self._count("frames.failed")
                self._warn("failed", f"frame failed: {type(exc).__name__}: {exc}")

    def _wanted(self, s: NodeSettings) -> dict[str, bool]:
        """Output key -> whether to publish it this frame: enabled by the settings and subscribed."""
        return {key: enabled(key, s) and pub.get_subscription_count() > 0 for key, pub in self.pub.items()}

    def process(self, pair: Pair, s: NodeSettings, stop: threading.Event | None = None) -> None:
        """Complete one pair with settings ``s`` and publish what has subscribers (unless ``stop``
        was set meanwhile: the frame was abandoned and the outputs are being torn down)."""
        completer = self.completer  # one completer for the whole frame (cleanup may drop it meanwhile)
        if completer is None:
            raise RuntimeError("no completer: the node is not configured")
        wanted = self._wanted(s)
        if not any(wanted.values()):
            self._count("frames.no_subscribers")
            return
        apply_runtime_settings(completer, s, self._default_prop_time)
        start = time.perf_counter()
        # the parameters', or TF's (may wait up to tf_timeout); BadInput when it cannot be known
        t_cam_lidar = extrinsic_source.extrinsic_for(s, pair.image, pair.cloud, self._tf)
        result = frames.process_frame(
            pair.image, pair.camera_info, pair.cloud, s, completer, t_cam_lidar
        )
        if result.projection.non_finite:
            self._count("points.non_finite", result.projection.non_finite)
            self._warn("nan_points", f"{result.projection.non_finite} NaN/Inf cloud points ignored")
        if stop is not None and stop.is_set():
            self._count("frames.abandoned")
            return
        publish_start = time.perf_counter()
        with self._stats_lock:
            arrival = self._arrivals.pop(pair.image_ns, None)
        self._publish(pair, result, s, wanted, arrival)
        done = time.perf_counter()
        timings = {
            **result.timings_ms,
            "publish": (done - publish_start) * 1e3,
            "total": (done - start) * 1e3,
        }
        timings["overhead"] = timings["total"] - timings["model"]
        if arrival is not None:
            timings["since_arrival"] = (time.monotonic() - arrival) * 1e3
        with self._stats_lock:
            self.counters["frames.completed"] += 1
            self.counters["points.in_image"] += result.projection.pixels
            for stage, ms in timings.items():
                if stage in self._latency:
                    self._latency[stage].append(ms)

    def _publish(
        self,
        pair: Pair,
        result: frames.FrameResult,
        s: NodeSettings,
        wanted: dict[str, bool],
        arrival: float | None,
    ) -> None:
        """Build and publish what is wanted; ``arrival``: time.monotonic() the image arrived."""
        frame = OutgoingFrame(pair.image.header, result, s, arrival)
        for key, output in OUTPUTS.items():
            if wanted[key] and (msg := output.build(frame)) is not None:
                self.pub[key].publish(msg)

    # ------------------------------------------------------------------ diagnostics

    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.counters[key] += n

    def _warn(self, kind: str, message: str) -> None:
        now = time.monotonic()
        if now - self._warned_at.get(kind, -1e9) >= WARN_EVERY_S:
            self._warned_at[kind] = now
            self.get_logger().warning(
                f"{message} (repeats of this warning are counted in /diagnostics, "
                f"logged at most every {WARN_EVERY_S:.0f} s)"
            )

    def diagnostics_values(self) -> dict[str, str]:
        now = time.monotonic()
        with self._stats_lock:
            period = max(now - self._rate_window_start, 1e-6)
            values = {
                f"rate_hz.{stream}": f"{self._received_since[stream] / period:.2f}"
                for stream in (IMAGE, CAMERA_INFO, CLOUD)
            }
            self._received_since.clear()
            self._rate_window_start = now
            values.update({key: str(n) for key, n in sorted(self.counters.items())})
            for stage, samples in self._latency.items():
                if samples:
                    values[f"latency_ms.{stage}.median"] = f"{statistics.median(samples):.2f}"
                    values[f"latency_ms.{stage}.last"] = f"{samples[-1]:.2f}"
        values["active"] = str(bool(self._inputs)).lower()
        completer = self.completer
        if completer is None:  # unconfigured (the timer only runs while configured)
            return values
        values["method"] = completer.name
        values["device"] = str(completer.device)
        values["model"] = str(getattr(completer, "checkpoint", None) or completer.name)
        if str(completer.device).startswith("cuda"):
            import torch

            values["gpu_memory_mb.allocated"] = f"{torch.cuda.memory_allocated() / 2**20:.1f}"
            values["gpu_memory_mb.reserved"] = f"{torch.cuda.memory_reserved() / 2**20:.1f}"
        return values

    def _publish_diagnostics(self) -> None:
        if self._diagnostics is None:  # only while configured (the timer is destroyed with it)
            return
        values = self.diagnostics_values()
        bad_total = sum(int(v) for k, v in values.items() if k.startswith(("bad_input.", "frames.failed")))
        bad, self._bad_reported = bad_total - self._bad_reported, bad_total
        status = DiagnosticStatus(
            level=DiagnosticStatus.WARN if bad else DiagnosticStatus.OK,  # WARN: bad input in this period
            # the fully qualified name: two cameras' nodes (same name, other namespaces) differ
            name=f"{self.get_fully_qualified_name()}: depth completion",
            message=f"{values.get('frames.completed', '0')} frames completed"
            + (f", {bad} skipped for bad input since the last report" if bad else ""),
            hardware_id=f"{self.get_fully_qualified_name()} ({values['device']})",
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(msg)

    def destroy_node(self) -> None:
        self._release()
        super().destroy_node()
        # rclpy's LifecycleNode leaves its state machine, which holds the rcl node, to the garbage
        # collector; until it goes the DDS participant (and its /dev/shm segments) stays, which
        # matters when main leaves with os._exit
        self._state_machine.destroy_when_not_in_use()


class ShutdownSignals:
    """Records SIGINT / SIGTERM instead of raising: every signal after the first is absorbed.

    rclpy's own handlers are not installed (``SignalHandlerOptions.NO``): they shut the context down
    from a signal thread and re-raise KeyboardInterrupt in whatever the main thread is doing (a
    second SIGINT inside ``destroy_node`` ended the process with a traceback). The handler runs in
    the main thread between bytecodes and only appends to a list, so it is safe anywhere.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: list[int] = []
        for signum in self.SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.received.append(signum)

    def wait(self, while_alive: threading.Thread) -> None:
        """Until a signal arrives or ``while_alive`` (the executor thread) ends."""
        while not self.received and while_alive.is_alive():
            time.sleep(0.1)  # a signal interrupts the sleep; the handler then runs here

    @property
    def first(self) -> str:
        return signal.Signals(self.received[0]).name if self.received else "no signal"


def _spin(executor: SingleThreadedExecutor) -> None:
    try:
        executor.spin()
    except Exception as exc:  # noqa: BLE001 - the main thread sees the thread end and shuts down
        rclpy.logging.get_logger(NODE_NAME).fatal(f"executor stopped: {type(exc).__name__}: {exc}")


def shutdown(node: NLSPNNode, executor: SingleThreadedExecutor, spinner: threading.Thread) -> bool:
    """Stop callbacks, the worker (bounded wait), then every DDS entity and the context, in that
    order. True if every thread of ours ended; False if one is still busy (a forward), in which
    case the caller must leave with ``os._exit``."""
    executor.shutdown(timeout_sec=SHUTDOWN_WAIT_S)  # no callback runs after this (or one is stuck)
    spinner.join(timeout=SHUTDOWN_WAIT_S)
    node.destroy_node()  # worker (bounded wait), publishers, subscriptions, timer, node: Fast DDS
    rclpy.try_shutdown()  # frees its shared memory; also flushes and closes the ROS log file
    return not (node.worker_busy or spinner.is_alive())


def main(args: list[str] | None = None) -> int:
    """Run the node until SIGINT / SIGTERM; 0 after a clean shutdown, 1 if it cannot start (or its
    executor stopped on an error).

    Shutdown is bounded and never crashes: a frame still inside the network forward after
    ``SHUTDOWN_WAIT_S`` is abandoned. Returning would let the interpreter finalize while that
    worker thread is inside torch, and a daemon thread torn down there aborts the process
    (``terminate called without an active exception``, SIGABRT, Fast DDS shared memory left in
    /dev/shm). So once every DDS entity is destroyed and the logs are flushed, the process leaves
    with ``os._exit`` instead: nothing else is left to clean up.
    """
    signals = ShutdownSignals()  # first: a signal during start-up (model load) is kept, not raised
    keep_freed_memory()  # per-frame buffers reuse the heap instead of page-faulting fresh mmaps
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    try:
        node = NLSPNNode()
        if node.settings.autostart and node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            node.destroy_node()
            raise RuntimeError(node.configure_error)
    except Exception as exc:  # noqa: BLE001 - bad parameters or model: say so and exit non-zero
        rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {exc}")
        print(f"{NODE_NAME}: cannot start: {exc}", file=sys.stderr, flush=True)  # also without a log config
        rclpy.try_shutdown()
        return 1
    if node.settings.autostart and not signals.received:
        node.trigger_activate()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=_spin, args=(executor,), name="nlspn_executor", daemon=True)
    spinner.start()
    signals.wait(while_alive=spinner)
    node.get_logger().info(f"{signals.first}: shutting down")
    status = 0 if signals.received else 1  # else the executor thread died (logged by _spin)
    if shutdown(node, executor, spinner):
        # more signals may still come (a launcher and the process group both send SIGINT, and
        # rclpy's shutdown may restore the default handlers): none may reach interpreter teardown
        for signum in ShutdownSignals.SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        return status
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    sys.exit(main())
