"""``depth-refine``: the command-line entry point (bench, demo, models, model-init, build-engine, import)."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``depth-refine <command>``."""
    ap = argparse.ArgumentParser(prog="depth-refine", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    from depth_refine_ros.cli import bench, demo, eval_args, import_model, models

    bench.add_parser(sub)
    eval_args.add_eval_dataset(sub)
    eval_args.add_make_bag(sub)
    eval_args.add_eval_bag(sub)
    demo.add_parser(sub)
    models.add_parser(sub)
    import_model.add_parser(sub)
    args = ap.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
