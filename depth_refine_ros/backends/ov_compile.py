"""The background compile's child process: build one OpenVINO blob into the cache, at low priority.

A live node's :class:`~depth_refine_ros.backends.openvino_backend.OvEngine` runs this (through
:meth:`~depth_refine_ros.backends.ov_cache.OvCompiler.compile_in_child`) when a frame of a new size
arrives, then imports the blob it wrote (the ov_cache module docstring says why a process: OpenVINO
threads started from a niced thread inherit its niceness and later run frames).

Usage (one argument, a JSON object)::

    python -P -m depth_refine_ros.backends.ov_compile '{"model": DIR, "precision": "bf16", "threads": 1,
        "cache_dir": DIR, "rgb_u8": true, "nice": 19,
        "shapes": [["rgb", 3, 384, 512], ["depth", 1, 384, 512]], "blob": "<key>.ovblob"}'

``precision`` is the parent's resolved one (``fp32`` or ``bf16``), so both sides derive the same
graph edits and cache key; ``blob`` is the file name the parent expects, checked before compiling.
Prints one JSON line (``nice``, ``seconds``, ``blob``) and exits 0; on any error a message on stderr
and exit 1 (the parent then compiles itself).
"""
from __future__ import annotations

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    try:
        job = json.loads(argv[0])
        # first: everything below, imports included, yields to the node's frames (raising niceness
        # needs no privilege; set, not added, so a node run at -10 still gets 19)
        os.setpriority(os.PRIO_PROCESS, 0, max(int(job.get("nice", 19)), os.getpriority(os.PRIO_PROCESS, 0)))
        nice = os.getpriority(os.PRIO_PROCESS, 0)
        from depth_refine_ros.backends.net import load_for_engine
        from depth_refine_ros.backends.openvino_backend import OvEngine
        from depth_refine_ros.data.modeldir import GRAPH

        t0 = time.monotonic()
        engine = OvEngine(load_for_engine(job["model"], (GRAPH,)), job["precision"], int(job["threads"]),
                          opt_hw=None, cache_dir=job["cache_dir"], parity=False, rgb_u8=bool(job["rgb_u8"]))
        shapes = tuple((str(n), int(c), int(h), int(w)) for n, c, h, w in job["shapes"])
        path = engine.blob_path(shapes)
        if path.name != job["blob"]:
            raise RuntimeError(f"the cache key differs from the parent's ({path.name} != {job['blob']})")
        engine.compiler.load(shapes)
        if not path.is_file():
            raise RuntimeError(f"no blob written to {path}")
    except Exception as e:  # noqa: BLE001 - reported to the parent, which compiles itself
        print(f"ov_compile: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", file=sys.stderr)
        return 1
    print(json.dumps({"nice": nice, "seconds": round(time.monotonic() - t0, 3), "blob": path.name}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
