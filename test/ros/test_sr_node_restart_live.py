"""A camera driver that restarts, over real DDS: the driver's participant goes away mid-stream (after an
RGB frame whose depth never came) and a new one comes back with stamps that restart from earlier.

sr_node must serve the new driver's frames within 1 s of the first one it can receive, serve every frame
after that, log the gap once, and reject nothing on the way (docs/nodes.md#a-driver-that-restarts).
Synthetic frames (no data needed), the classical backend: the pairing is what is tested.
"""
import re
import time

import pytest

from depth_refine_ros.ros.rig import Driver, camera_infos, synthetic_frame

pytestmark = [pytest.mark.ros, pytest.mark.slow]
H, W, S = 240, 320, 4
RESUMED = re.compile(r"depth_lr/image is back after [\d.]+ s without messages")


def stream(driver, rig, rgb, lr, stamps, pace_s=None, until=None):
    """Send a frame per stamp at 15 Hz (each after the previous answer, up to ``pace_s``; or until
    ``until(sent)``); returns {depth stamp key: (index, monotonic send time)}."""
    sent = {}
    for i, t in enumerate(stamps):
        t0 = time.monotonic()
        k = driver.send(rgb, lr, "16UC1", t, camera_infos(H, W, S, t))
        sent[k] = (i, t0)
        if pace_s is not None:
            rig.wait_for(lambda k=k: k in rig.images, pace_s)
        rig.spin(max(0.0, t0 + 1 / 15 - time.monotonic()))
        if until is not None and until(sent):
            break
    return sent


def wait_matched(driver, rig, timeout=20.0):
    t0 = time.monotonic()
    assert rig.wait_for(driver.matched, timeout), "the node never matched the driver's publishers"
    return time.monotonic() - t0


def test_driver_restart_resumes_within_1s_serves_every_frame_and_logs_the_gap_once(live_node):
    node, rig = live_node.start(inputs=False)  # the rig only records; drivers publish
    rgb, lr = synthetic_frame(H, W, S)
    first = Driver("camera_driver")
    try:
        wait_matched(first, rig)
        # prime (discovery of every output subscription), then a steady stream
        t = 1_700_000_000.0
        end = time.monotonic() + 20
        while not rig.images and time.monotonic() < end:
            first.send(rgb, lr, "16UC1", t, camera_infos(H, W, S, t))
            t += 0.01
            rig.wait_for(lambda: bool(rig.images), 1.0)
        assert rig.images, node.log()[-2000:]
        stamps_a = [t + 1 + i / 15 for i in range(30)]
        sent_a = stream(first, rig, rgb, lr, stamps_a, pace_s=5.0)
        rig.wait_for(lambda: set(sent_a) <= set(rig.images), 5)
        assert set(sent_a) <= set(rig.images), node.log()[-2000:]
        # mid-frame: the RGB half of the next frame goes out, its depth never does
        first.send(rgb, None, "16UC1", stamps_a[-1] + 1 / 15)
        rig.spin(0.1)
    finally:
        first.close()
    before = len(node.log())
    rig.spin(2.0)  # the driver is gone (shorter than qos.silent_input_warn_s: no watchdog line)

    second = Driver("camera_driver")  # the restarted driver: a new participant
    try:
        discovery_s = wait_matched(second, rig)
        # its clock restarted: stamps 0.9 s behind the old stream's last, just short of sync.jump_back_reset_s
        # (1 s), the jump that is not reset as a bag loop: before the gap handling every frame was rejected
        # as out of order until the stamps passed the old ones, 0.9 s later
        t_b = stamps_a[-1] - 0.9
        stamps_b = [t_b + i / 15 for i in range(45)]
        t_first = time.monotonic()
        unpaced = stream(second, rig, rgb, lr, stamps_b[:30], until=lambda sent: any(k in rig.images for k in sent))
        served = sorted((rig.images[k][0], k) for k in unpaced if k in rig.images)
        assert served, f"nothing served in {len(unpaced)} frames of the restarted driver\n{node.log()[-3000:]}"
        recovery_s = served[0][0] - t_first
        first_served = min(unpaced[k][0] for _, k in served)
        rest = stream(second, rig, rgb, lr, stamps_b[len(unpaced):], pace_s=5.0)
        rig.wait_for(lambda: set(rest) <= set(rig.images), 5)
    finally:
        second.close()
    assert not (set(unpaced) | set(rest)) & set(sent_a), "a new stamp equals an old one: they cannot be told apart"
    after = {k for k, (i, _) in unpaced.items() if i >= first_served} | set(rest)
    missing = sorted(after - set(rig.images))
    print(f"\ndiscovery {discovery_s:.3f} s, recovery {recovery_s:.3f} s after the first new frame, "
          f"first served: frame {first_served}, served after it {len(after) - len(missing)}/{len(after)}")
    assert recovery_s < 1.0, f"recovery {recovery_s:.2f} s\n{node.log()[-3000:]}"
    assert not missing, f"{len(missing)}/{len(after)} frames after the first served one were not served\n" \
                        f"{node.log()[-3000:]}"
    rig.spin(1.5)  # one more diagnostics period
    diag = rig.diag_values()
    log = live_node.stop()[before:]  # from the restart on
    assert len(RESUMED.findall(log)) == 1, log[-3000:]
    assert not re.search(r"rejected|jumped back|no partner|no publisher|matched on", log), log[-3000:]
    assert diag.get("frames input_gaps") == "1" and diag.get("frames rejected") == "0", diag
