"""The demo's orchestration: bags, node process, live replay + recording, evaluations, report."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlspn_ros import paths
from nlspn_ros.bag.make import write_sensor_bag
from nlspn_ros.bag.reader import BagReader
from nlspn_ros.bag.topics import detect_topics
from nlspn_ros.data.kitti import dc_crop_box
from nlspn_ros.data.sensor_frames import hold_out_points, hold_out_rings, kitti_frames, synthetic_frames
from nlspn_ros.offline.bag_report import evaluate_bag, print_table
from nlspn_ros.offline.demo_report import SourceReport, compare, write_report
from nlspn_ros.pipeline.conversions import stamp_to_ns
from nlspn_ros.ros.live_run import replay_and_record

NAMESPACE = "/demo"
DEMO_PARAMS = """# Written by `nlspn_ros demo`: node settings for a lossless, reproducible replay.
/**:
  ros__parameters:
    use_sim_time: true
    device: "{device}"
    method: "{method}"
    checkpoint: "{checkpoint}"
    qos.input_reliability: "reliable"
    qos.input_depth: 10
    qos.output_reliability: "reliable"
    qos.output_depth: 10
    publish.color: false
"""
CROP_PARAMS = """# The node's crop for these frames (the LiDAR covers the lower part of the image).
/**:
  ros__parameters:
    crop.x: {x}
    crop.y: {y}
    crop.width: {width}
    crop.height: {height}
"""
DRIVE_PROTOCOLS = {
    "A": ("20% of each sweep's points held out", lambda frames: hold_out_points(frames, 0.2)),
    "B": ("the odd laser rings held out (a 32-beam input)", hold_out_rings),
}


@dataclass(frozen=True)
class DemoOptions:
    """What ``nlspn_ros demo`` does (the command's options; docs in nlspn_ros/cli/demo.py)."""

    output: Path
    frames: int  # synthetic frames
    width: int
    height: int
    kitti_height: int  # rows of the KITTI samples' bottom crop
    no_kitti: bool
    drive: Path | None  # None: the shared KITTI raw drive, when present
    drive_step: int
    method: str
    checkpoint: Path | None  # None: the shipped model
    device: str
    storage: str
    rate: float
    quiet: bool


class DemoError(RuntimeError):
    pass


def start_node(namespace: str, params: list[Path], topics, log_file: Path) -> subprocess.Popen:
    """The node in its own process (as deployed), in ``namespace``, reading the bag's topics replayed
    under the same namespace (so that sensors elsewhere in the graph cannot reach it)."""
    command = [sys.executable, "-m", "nlspn_ros.ros.node", "--ros-args", "-r", f"__ns:={namespace}"]
    for name in ("image", "camera_info", "points"):
        command += ["-r", f"{name}:={namespace}{getattr(topics, name)}"]
    for file in params:
        command += ["--params-file", str(file)]
    handle = log_file.open("w")
    return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, cwd=paths.REPO_ROOT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def stop_node(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def live_latency(recorded: Path, output_topic: str, sent_at_ns: dict[int, int]) -> list[float]:
    """Per frame: wall time the output was received (recorded log time) - wall time its image was sent."""
    latencies = []
    for message in BagReader(recorded).messages([output_topic]):
        sent = sent_at_ns.get(stamp_to_ns(message.msg.header.stamp))
        if sent is not None:
            latencies.append((message.log_time_ns - sent) / 1e6)
    return latencies


def run_source(name: str, bag: Path, params: list[Path], out: Path, args: DemoOptions) -> SourceReport:
    topics = detect_topics(BagReader(bag).topics)
    namespace = f"{NAMESPACE}/{name}"
    output_topic = f"{namespace}/completion"
    recorded = out / "bags" / f"{name}_live"
    print(f"[{name}] starting the node, replaying {bag.name} through it live ...", flush=True)
    log_file = out / "logs" / f"{name}_node.log"
    phases: dict[str, float] = {}
    start = time.monotonic()
    node = start_node(namespace, params, topics, log_file)
    try:
        live_run = replay_and_record(bag, topics, output_topic, recorded, node, rate=args.rate,
                                     prefix=namespace)
    except (RuntimeError, TimeoutError) as err:
        stop_node(node)
        tail = "\n".join(log_file.read_text().splitlines()[-15:])
        message = f"[{name}] live run failed: {err}\nnode log ({log_file}), last lines:\n{tail}"
        raise DemoError(message) from err
    finally:
        stop_node(node)
    phases["live run (node start-up, replay, recording)"] = time.monotonic() - start
    print(f"[{name}] {live_run.outputs}/{live_run.images} frames came back from the node", flush=True)
    start = time.monotonic()
    offline_depth: dict[int, np.ndarray] = {}
    live_depth: dict[int, np.ndarray] = {}
    offline = evaluate_bag(bag, params=params, output=out / name / "offline", panels=True,
                           progress=not args.quiet,
                           on_frame=lambda f, d: offline_depth.__setitem__(f.image_stamp_ns, d.dense))
    phases["offline evaluation (model load, all frames)"] = time.monotonic() - start
    start = time.monotonic()
    live = evaluate_bag(recorded, params=params, output=out / name / "live", mode="recorded",
                        progress=not args.quiet, topics={"ground_truth": namespace + topics.ground_truth},
                        on_frame=lambda f, d: live_depth.__setitem__(f.image_stamp_ns, d.dense))
    phases["live evaluation"] = time.monotonic() - start
    baseline = None
    if name.startswith("kitti"):  # real data: IP-Basic on the same frames, for comparison
        baseline = evaluate_bag(bag, params=params, overrides={"method": "ip_basic"},
                                output=out / name / "ip_basic", panels=False, progress=False)
        print_table(baseline)
    print_table(offline)
    print_table(live)
    replay = {"published": live_run.published, "images": live_run.images, "outputs": live_run.outputs,
              "frames_timed_out": live_run.timed_out_frames,
              "wall_s": {phase: round(seconds, 1) for phase, seconds in phases.items()}}
    return SourceReport(name, str(bag), str(recorded), offline, live,
                        compare(offline, live, offline_depth, live_depth),
                        live_latency(recorded, output_topic, live_run.sent_at_ns), replay, baseline)


def _crop_params(path: Path, frames, height: int | None = None) -> Path:
    """The node's crop for ``frames``: KITTI depth completion's 1216-column bottom-centre box of the
    smallest frame, ``height`` rows (default 352)."""
    sizes = [frame.rgb.shape[:2] for frame in frames]
    rows, cols = min(h for h, _ in sizes), min(w for _, w in sizes)
    x, y, width, height = dc_crop_box(cols, rows, (height or 352, 1216))
    path.write_text(CROP_PARAMS.format(x=x, y=y, width=width, height=height))
    return path


def run_demo(args: DemoOptions) -> int:
    started = time.monotonic()
    out: Path = args.output.resolve()
    if out.exists():
        shutil.rmtree(out)
    (out / "bags").mkdir(parents=True)
    (out / "logs").mkdir()
    checkpoint = args.checkpoint.resolve() if args.checkpoint else ""
    demo_params = out / "demo_params.yaml"
    demo_params.write_text(DEMO_PARAMS.format(device=args.device, method=args.method, checkpoint=checkpoint))

    sources: list[tuple[str, Path, list[Path]]] = []
    print("building the demo bags ...", flush=True)
    scenes = synthetic_frames(args.frames, args.width, args.height)
    synthetic = write_sensor_bag(out / "bags" / "synthetic", scenes, storage=args.storage)
    sources.append(("synthetic", synthetic.path, [synthetic.params_file, demo_params]))
    kitti_dir = paths.kitti_samples_dir()
    kitti_note = "skipped (--no-kitti)" if args.no_kitti else f"not found at {kitti_dir}: synthetic only"
    if not args.no_kitti and (kitti_dir / "image_2").is_dir():
        kitti = write_sensor_bag(out / "bags" / "kitti", hold_out_points(kitti_frames(kitti_dir), 0.2),
                                 storage=args.storage)
        crop = _crop_params(out / "kitti_crop.yaml", kitti_frames(kitti_dir), args.kitti_height)
        sources.append(("kitti", kitti.path, [kitti.params_file, demo_params, crop]))
        kitti_note = f"{len(kitti.frames)} frames from {kitti_dir}, 20% of each cloud held out as reference"
    drive = args.drive or paths.kitti_raw_drive_dir()
    drive_note = "skipped (--no-kitti)" if args.no_kitti else f"not found at {drive}"
    if not args.no_kitti and drive.is_dir():
        numbers = sorted(int(p.stem) for p in (drive / "velodyne_points" / "data").glob("*.bin"))
        names = [str(n) for n in numbers[:: args.drive_step]]
        crop = _crop_params(out / "drive_crop.yaml", kitti_frames(drive, names[:1]))
        for protocol, (_, hold_out) in DRIVE_PROTOCOLS.items():
            bag = write_sensor_bag(out / "bags" / f"drive_{protocol}", hold_out(kitti_frames(drive, names)),
                                   storage=args.storage)
            sources.append((f"kitti_drive_{protocol}", bag.path, [bag.params_file, demo_params, crop]))
        drive_note = (f"{len(names)} frames ({names[0]}..{names[-1]}, every {args.drive_step}) of {drive} "
                      "with their recorded stamps; protocol A: " + DRIVE_PROTOCOLS["A"][0] + "; protocol B: "
                      + DRIVE_PROTOCOLS["B"][0])

    try:
        reports = [run_source(name, bag, params, out, args) for name, bag, params in sources]
    except DemoError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    context = {
        "command": "nlspn_ros demo " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "nlspn_ros demo",
        "method": args.method,
        "checkpoint": str(checkpoint or paths.DEFAULT_CHECKPOINT) if args.method == "nlspn" else "-",
        "device": args.device,
        "synthetic": f"{args.frames} frames {args.width}x{args.height} with dense ground truth",
        "kitti": kitti_note, "kitti drive": drive_note, "storage": args.storage,
        "wall time (s)": round(time.monotonic() - started, 1),
    }
    report = write_report(out, reports, context)
    matches = all(r.comparison.matches for r in reports)
    print(f"\nlive result {'matches' if matches else 'DOES NOT match'} the offline evaluation")
    print(f"report: {report}")
    return 0 if matches else 1
