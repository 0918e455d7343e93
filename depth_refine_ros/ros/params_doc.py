"""The parameter reference of ``docs/nodes.md``, rendered from the one declaration in
:mod:`depth_refine_ros.pipeline.settings` (as :func:`~depth_refine_ros.ros.params.render_yaml` renders
``config/*.yaml``), so the documentation cannot drift from the code.

Regenerate after changing a parameter (``test/repo/test_docs.py`` fails until you do)::

    .venv/bin/python -m depth_refine_ros.ros.params_doc --write docs/nodes.md

Without ``--write`` the block is printed; ``--check FILE`` exits 1 when FILE's block is stale.
"""
from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys
from typing import Any

from depth_refine_ros.pipeline import settings
from depth_refine_ros.ros import params

COMMAND = "python -m depth_refine_ros.ros.params_doc --write docs/nodes.md"
BEGIN = f"<!-- BEGIN GENERATED parameters: `{COMMAND}` rewrites this block; do not edit it by hand -->"
END = "<!-- END GENERATED parameters -->"

_ROS_TYPE = {bool: "bool", int: "integer", float: "double", str: "string"}


def node_param_classes() -> list[type]:
    """Every node's parameter dataclass in :mod:`~depth_refine_ros.pipeline.settings` (a class with a
    ``node_name``), in the order the module defines them, so a node added there is documented without
    touching this file."""
    out = []
    for obj in vars(settings).values():
        if (isinstance(obj, type) and dataclasses.is_dataclass(obj) and getattr(obj, "node_name", "")
                and obj.__module__ == settings.__name__):
            out.append(obj)
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(v: Any) -> str:
    if isinstance(v, bool):
        return "`true`" if v else "`false`"
    if v == "":
        return '`""`'
    return f"`{v}`"


def render_markdown(cls: type) -> str:
    """A Markdown section for one node: every parameter of ``cls`` with its ROS type, default,
    allowed values and description, in declaration order."""
    node = cls.node_name
    short = node.replace("_node", "")
    lines = [
        f"### `{node}` parameters",
        "",
        f"Declared by `{cls.__name__}` in `depth_refine_ros/pipeline/settings.py`; `config/{short}.yaml` holds the "
        f"same defaults. Read once at start-up (read-only) unless marked changeable at run time; set them with "
        f"`-p name:=value` or a params file.",
        "",
        "| parameter | type | default | description |",
        "|---|---|---|---|",
    ]
    for f in dataclasses.fields(cls):
        meta = f.metadata
        doc = meta["doc"]
        if meta["choices"]:
            doc += " One of: " + ", ".join(f"`{c}`" for c in meta["choices"]) + "."
        if meta.get("runtime"):
            doc += " **" + params.RUNTIME_NOTE + "**"
        ros_type = _ROS_TYPE.get(type(f.default), type(f.default).__name__)
        if meta.get("any_type"):
            ros_type = "any (dynamic typing)"
        lines.append(f"| `{meta['ros']}` | {ros_type} | {_default(f.default)} | {_cell(doc)} |")
    return "\n".join(lines) + "\n"


def render_block() -> str:
    """The whole generated block (markers included) for every node."""
    body = "\n".join(render_markdown(cls) for cls in node_param_classes())
    return f"{BEGIN}\n\n{body}\n{END}\n"


def extract_block(text: str) -> str | None:
    """The generated block currently in ``text`` (markers included), or None when it has none."""
    i, j = text.find(BEGIN), text.find(END)
    if i < 0 or j < i:
        return None
    return text[i:j + len(END)] + "\n"


def replace_block(text: str, block: str) -> str:
    """``text`` with its generated block replaced by ``block``.

    Raises:
        ValueError: ``text`` has no block (the markers are missing).
    """
    i, j = text.find(BEGIN), text.find(END)
    if i < 0 or j < i:
        raise ValueError(f"no generated block: put the two marker lines\n{BEGIN}\n{END}\nwhere it belongs")
    end = j + len(END)
    if text[end:end + 1] == "\n":
        end += 1
    return text[:i] + block + text[end:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m depth_refine_ros.ros.params_doc", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--write", metavar="FILE", help="replace the generated block in FILE (docs/nodes.md)")
    g.add_argument("--check", metavar="FILE", help="exit 1 when FILE's generated block is not the rendering")
    a = ap.parse_args(argv)
    block = render_block()
    if not (a.write or a.check):
        sys.stdout.write(block)
        return 0
    path = pathlib.Path(a.write or a.check)
    text = path.read_text()
    if a.check:
        ok = extract_block(text) == block
        if not ok:
            print(f"{path}: the parameter block is stale; run: {COMMAND}", file=sys.stderr)
        return 0 if ok else 1
    new = replace_block(text, block)
    if new != text:
        path.write_text(new)
        print(f"{path}: parameter block rewritten", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
