"""Soak sr_node: a long live stream at the default model, with one RGB dropout and one driver restart.

Not a test: a benchmark to run by hand (10 minutes by default). It starts ``sr_node`` as
``config/sr.yaml`` ships it (``backend: auto``, ``sr_faster``; ``-p`` adds overrides) in its own process on
its own ``ROS_DOMAIN_ID``, and streams 640x480 RGB + x4 low-res depth + camera_info at 15 Hz from a
driver that never waits for the node (a real driver's steady stream), in a DDS participant of its own.
At 35 % of the run the driver stops sending RGB for ``--dropout-s`` (the node refines depth alone, then
switches back); at 65 % the driver's participant goes away and, ``--restart-gap-s`` later, a new one
comes back with its stamps ``--stamp-jump-s`` behind the old ones (a driver process restarting with its
own clock). A consumer counts every refined depth image by stamp (raw CDR, no decoding) and reads the
node's /diagnostics; the node's RSS is sampled every 5 s.

Printed: frames sent, served and dropped (and the node's own drop and rejection counters), the
restart's recovery time (from the new driver's first frame, and from when the node matched it), the
RGB dropout's depth-only frames, latency send -> receive, and RSS growth after warm-up.

Usage::

    .venv/bin/python tools/soak.py                 # 10 minutes
    .venv/bin/python tools/soak.py --minutes 1 --json out/soak.json
"""
from __future__ import annotations

import argparse
import json
import pathlib
import re
import struct
import sys
import time

import numpy as np


def rss_mb(pid: int) -> float | None:
    """Resident set size of process ``pid`` (MiB), or None once it is gone."""
    try:
        text = pathlib.Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    m = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) / 1024 if m else None


def cdr_stamp_ns(raw: bytes) -> int:
    """The header stamp (ns) of a serialized message whose first field is a std_msgs/Header."""
    little = raw[1] == 1  # encapsulation: 0x0001 CDR little endian, 0x0000 big endian
    sec, nsec = struct.unpack_from("<iI" if little else ">iI", raw, 4)
    return sec * 1_000_000_000 + nsec


def percentile(values, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the soak (default 10)")
    ap.add_argument("--rate", type=float, default=15.0, help="frames per second the driver sends (default 15)")
    ap.add_argument("--hw", type=int, nargs=2, default=(480, 640), metavar=("H", "W"), help="RGB size (480 640)")
    ap.add_argument("--scale", type=int, default=4, help="depth is the RGB size / this (default 4)")
    ap.add_argument("--dropout-s", type=float, default=3.0, help="RGB dropout length (s, default 3)")
    ap.add_argument("--restart-gap-s", type=float, default=2.0,
                    help="time between the old driver going away and the new one (s, default 2)")
    ap.add_argument("--stamp-jump-s", type=float, default=0.9,
                    help="the new driver's stamps start this far behind the old ones (s, default 0.9)")
    ap.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                    help="sr_node parameter override (repeatable), e.g. -p backend:=onnxruntime")
    ap.add_argument("--json", type=pathlib.Path, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)

    from depth_refine_ros.ros.rig import isolate_domain

    isolate_domain()
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    from depth_refine_ros.ros import conversions as conv
    from depth_refine_ros.ros.rig import REL, Driver, NodeProcess, camera_infos, image_msg, synthetic_frame

    h, w = args.hw
    total_s = args.minutes * 60.0
    period = 1.0 / args.rate
    dropout_at, restart_at = 0.35 * total_s, 0.65 * total_s
    warm_s = min(60.0, max(10.0, 0.1 * total_s))

    rgb, lr = synthetic_frame(h, w, args.scale)
    rgb_msg, lr_msg = image_msg(rgb, "rgb8", 0.0), image_msg(lr, "16UC1", 0.0)
    infos = camera_infos(h, w, args.scale, 0.0)

    rclpy.init()
    consumer = rclpy.create_node("soak_consumer")
    received: dict[int, float] = {}  # depth stamp (ns) -> monotonic arrival
    diag: dict[str, str] = {}

    def on_image(raw: bytes) -> None:
        received.setdefault(cdr_stamp_ns(raw), time.monotonic())

    def on_diag(arr) -> None:
        for st in arr.status:
            if "depth refinement" in st.name:
                diag.clear()
                diag.update({kv.key: kv.value for kv in st.values})

    consumer.create_subscription(Image, "depth_refined/image", on_image, REL, raw=True)
    consumer.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)

    def spin(seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            rclpy.spin_once(consumer, timeout_sec=min(0.01, left))

    def wait_for(cond, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not cond():
            rclpy.spin_once(consumer, timeout_sec=0.01)
        return cond()

    sent: dict[int, tuple[str, float]] = {}  # depth stamp (ns) -> (phase, monotonic send time)
    phases: dict[str, list[int]] = {}  # phase -> [sent, served] of the frames already accounted for
    lat: list[float] = []  # send -> receive (ms) of the frames already accounted for

    def account() -> None:
        """Count the frames sent so far and forget them (the restarted driver's stamps may repeat old ones)."""
        for k, (phase, t) in sent.items():
            counts = phases.setdefault(phase, [0, 0])
            counts[0] += 1
            if k in received:
                counts[1] += 1
                lat.append((received[k] - t) * 1e3)
        sent.clear()
        received.clear()

    def send(driver: Driver, stamp_s: float, phase: str, with_rgb: bool = True) -> int:
        header = conv.header_at(stamp_s, rgb_msg.header.frame_id)
        for m in (*infos, lr_msg) + ((rgb_msg,) if with_rgb else ()):
            m.header.stamp = header.stamp
        driver.pub_rgb_info.publish(infos[0])
        driver.pub_depth_info.publish(infos[1])
        if with_rgb:
            driver.pub_rgb.publish(rgb_msg)
        driver.pub_depth.publish(lr_msg)
        k = conv.stamp_ns(header)
        sent[k] = (phase, time.monotonic())
        return k

    node = NodeProcess(*args.param).__enter__()
    driver = None
    rss: list[tuple[float, float]] = []
    restart: dict[str, float] = {}
    try:
        driver = Driver("soak_camera")
        if not wait_for(lambda: driver.matched() and consumer.count_publishers("depth_refined/image") > 0, 120):
            raise SystemExit(f"the node did not come up in 120 s:\n{node.log()[-3000:]}")
        # warm: frames until one comes back (first-use compiles and imports), not counted
        stamp = 1_750_000_000.0
        end = time.monotonic() + 120
        while time.monotonic() < end and not received:
            send(driver, stamp, "prime")
            stamp += period
            wait_for(lambda: bool(received), 1.0)
        if not received:
            raise SystemExit(f"no output in 120 s:\n{node.log()[-3000:]}")
        print(f"node up: {re.search(r'sr_node ready: backend ([^,]*)', node.log()).group(1)[:160]}", flush=True)
        spin(1.0)
        sent.clear()
        received.clear()

        t0 = time.monotonic()
        next_rss = t_next = t0
        next_report = t0 + 30
        dropped_out = restarted = False
        while True:
            now = time.monotonic()
            el = now - t0
            if el >= total_s:
                break
            if now >= next_rss:
                value = rss_mb(node.proc.pid)
                if value is not None:
                    rss.append((el, value))
                next_rss += 5.0
            if now >= next_report:
                n = len(sent) + sum(v[0] for v in phases.values())
                got = sum(1 for k in sent if k in received) + sum(v[1] for v in phases.values())
                print(f"  {el:5.0f} s: sent {n}, served {got}, RSS {rss[-1][1]:.0f} MiB", flush=True)
                next_report += 30
            if not restarted and el >= restart_at:
                restarted = True
                driver.close()  # the driver process goes away, mid-stream
                driver = None
                spin(args.restart_gap_s)
                account()
                driver = Driver("soak_camera")  # the restarted driver: a new participant, its clock behind
                stamp -= args.stamp_jump_s
                t_next = time.monotonic()
                continue
            phase, with_rgb = "main", True
            if dropout_at <= el < dropout_at + args.dropout_s:
                phase, with_rgb = "dropout", False
                dropped_out = True
            elif restarted:
                phase = "after_restart"
            k = send(driver, stamp, phase, with_rgb)
            if restarted:
                restart.setdefault("first_sent", sent[k][1])
                if "matched" not in restart and driver.matched():
                    restart["matched"] = time.monotonic()
            stamp += period
            t_next = max(t_next + period, time.monotonic() - period)  # never a burst after a stall
            spin(max(0.0, t_next - time.monotonic()))
            if restarted and "matched" not in restart and driver.matched():
                restart["matched"] = time.monotonic()
        spin(2.0)  # the last answers, one more diagnostics period
    finally:
        if driver is not None:
            driver.close()
        code = node.stop()
        consumer.destroy_node()
        rclpy.try_shutdown()
    log = node.log()

    # ------------------------------------------------------------------ figures
    after = sorted((t, k) for k, (phase, t) in sent.items() if phase == "after_restart")  # (sent holds only those)
    served_after = sorted(received[k] for _, k in after if k in received)
    first_served_send = min((t for t, k in after if k in received), default=None)
    lost_after_first = sum(1 for t, k in after if first_served_send is not None and t > first_served_send
                           and k not in received)
    account()
    n_sent = sum(v[0] for v in phases.values())
    n_served = sum(v[1] for v in phases.values())
    recovery_s = served_after[0] - restart["first_sent"] if served_after else float("nan")
    recovery_matched_s = served_after[0] - restart["matched"] if served_after and "matched" in restart else \
        float("nan")
    discovery_s = restart["matched"] - restart["first_sent"] if "matched" in restart else float("nan")
    warm = [v for t, v in rss if t >= warm_s] or [v for _, v in rss]
    rss_warm, rss_end = (warm[0], warm[-1]) if warm else (float("nan"), float("nan"))
    counters = {k: v for k, v in diag.items() if k.startswith(("frames ", "dropped ", "rejected "))}
    figures = {
        "minutes": args.minutes, "rate_hz": args.rate, "hw": [h, w], "scale": args.scale,
        "exit_code": code, "sent": n_sent, "served": n_served, "dropped": n_sent - n_served,
        "phases": {p: {"sent": v[0], "served": v[1]} for p, v in phases.items()},
        "restart": {"gap_s": args.restart_gap_s, "stamp_jump_s": args.stamp_jump_s, "discovery_s": discovery_s,
                    "recovery_s": recovery_s, "recovery_after_match_s": recovery_matched_s,
                    "lost_after_first_served": lost_after_first},
        "latency_ms": {"median": percentile(lat, 50), "p95": percentile(lat, 95)},
        "rss_mib": {"after_warmup": rss_warm, "end": rss_end, "growth": rss_end - rss_warm,
                    "max": max((v for _, v in rss), default=float("nan")), "warmup_s": warm_s},
        "node_counters": counters,
        "log": {"gap_lines": len(re.findall(r"is back after [\d.]+ s without messages", log)),
                "warnings": log.count("[WARN]"), "errors": log.count("[ERROR]"), "traceback": "Traceback" in log},
    }
    ph = figures["phases"]
    print(f"\nsoak {args.minutes:g} min, driver at {args.rate:g} Hz, {w}x{h} RGB + "
          f"{w // args.scale}x{h // args.scale} depth, sr_node exit code {code}")
    print(f"frames: sent {n_sent}, served {n_served}, dropped {n_sent - n_served} "
          f"({100 * (n_sent - n_served) / max(n_sent, 1):.1f} %)")
    for p in ("main", "dropout", "after_restart"):
        if p in ph:
            print(f"  {p:14s} sent {ph[p]['sent']:6d}, served {ph[p]['served']:6d}")
    print("node counters: " + ", ".join(f"{k} {v}" for k, v in sorted(counters.items())))
    print(f"RGB dropout: {args.dropout_s:g} s at {dropout_at:.0f} s, {ph.get('dropout', {}).get('served', 0)} "
          f"frames served depth-only" + ("" if dropped_out else " (not reached)"))
    print(f"driver restart at {restart_at:.0f} s (gap {args.restart_gap_s:g} s, stamps {args.stamp_jump_s:g} s "
          f"back): first frame served {recovery_s:.3f} s after the new driver's first frame "
          f"(discovery {discovery_s:.3f} s, {recovery_matched_s:.3f} s after the node matched it); "
          f"{lost_after_first} lost after the first served one")
    print(f"latency send -> receive: median {figures['latency_ms']['median']:.1f} ms, "
          f"p95 {figures['latency_ms']['p95']:.1f} ms")
    print(f"RSS: {rss_warm:.1f} MiB after {warm_s:.0f} s warm-up, {rss_end:.1f} MiB at the end: "
          f"{rss_end - rss_warm:+.1f} MiB (max {figures['rss_mib']['max']:.1f})")
    print(f"node log: {figures['log']['gap_lines']} gap line(s), {figures['log']['warnings']} warnings, "
          f"{figures['log']['errors']} errors" + (", a traceback" if figures["log"]["traceback"] else ""))
    for line in [ln for ln in log.splitlines() if "[WARN]" in ln or "[ERROR]" in ln][:10]:
        print("  " + re.sub(r"^\[(\w+)\] \[[\d.]+\] ", r"\1 ", line)[:220])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if code == 0 and not figures["log"]["traceback"] else 1


if __name__ == "__main__":
    sys.exit(main())
