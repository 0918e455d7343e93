"""Documentation that cannot rot.

* Every command in a fenced ``bash`` block of README.md and docs/*.md (not the dated lab log in
  docs/log/) is checked without running it: ``depth-refine ...`` and ``depth-refine-train ...`` parse
  with the real argparse parsers (and the training overrides with the real config loader); every
  model or method it names is shipped, classical, or made by an earlier command on the same page;
  ``sr_node``/``mono_node`` ``--ros-args`` name declared parameters with allowed values and the
  node's own topics; ``ros2 launch depth_refine_ros F a:=b`` names an existing launch file and its
  declared arguments; ``make X`` names a Makefile target; files and folders in the repository (and
  ``../shared`` when it is present) exist. Commands that cannot be checked here are in UNCHECKED with
  the reason; any other program is an error, so a new kind of command gets a checker.
* Relative links (and their ``#anchors``) in README.md and docs/ resolve; paths written in backticks
  in the prose exist.
* The parameter tables in docs/nodes.md are exactly what the code renders.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import importlib
import importlib.util
import io
import pathlib
import re
import shlex
import sys
from unittest import mock

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))  # commands and prose paths
LOG = sorted((ROOT / "docs" / "log").glob("*.md"))                  # history: links only
REGEN = ".venv/bin/python -m depth_refine_ros.ros.params_doc --write docs/nodes.md"

# Programs whose commands cannot be checked on this machine, and why.
UNCHECKED = {
    "colcon": "needs a ROS 2 colcon workspace (the venv has no colcon)",
    "rosdep": "needs rosdep and a ROS 2 apt install",
    "source": "sources a colcon workspace's setup script",
    "export": "only sets the environment",
    "ros2 launch <other package>": "another package's launch file (a camera driver)",
    "ros2 bag": "ros2bag is not installed in the venv",
    "cd": "changes the shell's directory",
    "git": "clones the repository (network)",
    "device_check.sh": "runs every model on every engine for minutes; test/repo/test_device_check.py runs its "
                       "--dry-run",
}
# Paths named in the prose that a change in progress is still adding: path -> why (empty when none).
PENDING: dict[str, str] = {}
LAUNCH_OPTIONS = {"--show-args", "-s", "--show-all-subprocesses-output", "-a", "--debug", "-d", "--print", "-p",
                  "--print-description"}
OUTPUT_DIRS = {"out", "runs", "build", "install", "log"}  # written by commands, never checked
# Generated paths the prose names: path -> its source. `make setup` generates the message's Python module in
# the checkout (git-ignored); a colcon workspace builds it into build/ and install/ instead, so there the
# source in the checkout stands for it.
GENERATED = {"depth_refine_ros/msg": "msg/RefineStats.msg"}
INTERFACE = re.compile(r"\w+/(msg|srv|action)/[A-Z]\w*")  # a ROS interface type (pkg/msg/Name), not a path
FORBIDDEN = ("this round", "this session", "previous session", "the previous run", "next session")


# ------------------------------------------------------------------------------------------ helpers
@dataclasses.dataclass
class Command:
    doc: pathlib.Path
    line: int
    argv: list[str]
    made: set[str]  # model names made by earlier commands on the same page (model-init, export)

    def __str__(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}: {shlex.join(self.argv)}"


FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.M | re.S)


def _logical_lines(block: str, first: int):
    buf, start = "", first
    for i, line in enumerate(block.splitlines()):
        if not buf:
            start = first + i
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        yield start, buf + line
        buf = ""
    if buf:
        yield start, buf


def commands(doc: pathlib.Path) -> list[Command]:
    """Every simple command in the page's bash blocks (split on ``&&``, ``||``, ``;``, ``|``)."""
    text = doc.read_text()
    out: list[Command] = []
    made: set[str] = set()
    for m in FENCE.finditer(text):
        if m.group(1) not in ("bash", "sh", "shell", "console"):
            continue
        first = text[:m.start(2)].count("\n") + 1
        for line_no, line in _logical_lines(m.group(2), first):
            tokens = shlex.split(line, comments=True)
            cur: list[str] = []
            for tok in tokens + [";"]:
                if tok in ("&&", "||", ";", "|"):
                    if cur:
                        while cur and re.match(r"^[A-Z_][A-Z0-9_]*=", cur[0]):  # VAR=value prefix
                            cur = cur[1:]
                        if cur:
                            out.append(Command(doc, line_no, cur, set(made)))
                            made |= _makes(cur)
                    cur = []
                else:
                    cur.append(tok)
    return out


def _settings(argv: list[str]) -> dict[str, str]:
    """The ``key=value`` settings of a ``depth-refine-train`` command (bare or after ``--set``)."""
    return dict(a.partition("=")[::2] for a in argv[2:] if "=" in a and not a.startswith("-"))


def _makes(argv: list[str]) -> set[str]:
    """Model names a command creates: ``depth-refine model-init K P DIR``, ``depth-refine-train export C DIR``,
    ``depth-refine-train adapt ... out=DIR``, ``depth-refine import SRC --out DIR``,
    ``depth-refine-train distill ... out=RUN`` (``RUN/model``, or its ``export=DIR``)."""
    prog = pathlib.Path(argv[0]).name
    pos = [a for a in argv[1:] if not a.startswith("-")]
    if prog == "depth-refine-train" and pos[:1] == ["distill"]:
        opts = _settings(argv)
        if opts.get("export"):
            return {opts["export"], pathlib.Path(opts["export"]).name}
        return {f"{opts['out']}/model"} if opts.get("out") else set()
    if prog == "depth-refine" and pos[:1] == ["model-init"] and len(pos) >= 4:
        return {pathlib.Path(pos[3]).name}
    if prog == "depth-refine-train" and pos[:1] == ["export"] and len(pos) >= 3:
        return {pos[2], pathlib.Path(pos[2]).name}  # named by path or by name
    if prog == "depth-refine-train" and pos[:1] == ["adapt"]:
        out = _settings(argv).get("out")
        return {out, pathlib.Path(out).name} if out else set()  # named by path or by name
    if prog == "depth-refine" and pos[:1] == ["import"]:
        outs = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--out"]
        return {n for v in outs for n in (v, pathlib.Path(v).name)}  # named by path or by name
    return set()


ALL_COMMANDS = [c for d in DOCS for c in commands(d)]


def _shipped() -> set[str]:
    return {p.parent.name for p in (ROOT / "depth_refine_ros" / "model_zoo").glob("*/card.yaml")}


def _classical() -> set[str]:
    up = importlib.import_module("depth_refine_ros.core.upsample")
    for name in ("CLASSICAL", "CLASSICAL_METHODS"):
        if hasattr(up, name):
            return set(getattr(up, name))
    from depth_refine_ros.eval.methods import CLASSICAL
    return set(CLASSICAL)


def check_model(value: str, cmd: Command, what: str, classical_ok: bool = True) -> None:
    """``value`` is a shipped model, a classical method, a model made earlier on the page, or a
    model directory in the repository."""
    if value == "":
        return
    names = _shipped() | cmd.made | (_classical() if classical_ok else set())
    if value in names or (ROOT / value / "card.yaml").is_file():
        return
    raise AssertionError(f"{cmd}\n  {what} '{value}' is not a shipped model"
                         f"{' or classical method' if classical_ok else ''} ({', '.join(sorted(names))})")


def check_path(value: str, cmd) -> None:
    """A path into the repository (first component is a top-level entry) or ../shared must exist."""
    value = value.rstrip("/")
    if not value or value.startswith(("~", "$", "/", "<", "-")) or "://" in value:
        return
    if INTERFACE.fullmatch(value):
        return
    if value.startswith("../shared/"):
        if SHARED.exists():
            assert (ROOT / value).exists(), f"{cmd}\n  {value} does not exist"
        return
    first = value.split("/")[0]
    if first in OUTPUT_DIRS or first not in _top_level():
        return
    assert (ROOT / value).exists(), f"{cmd}\n  {value} does not exist in the repository"


def _top_level() -> set[str]:
    return {p.name for p in ROOT.iterdir() if not p.name.startswith(".")} - OUTPUT_DIRS


def check_paths(argv: list[str], cmd: Command) -> None:
    for tok in argv[1:]:
        for v in (tok, tok.partition("=")[2], tok.partition(":=")[2]):
            if v and "/" in v or v in _top_level():
                check_path(v, cmd)


class _Parsed(Exception):
    pass


def run_parser(main, argv: list[str], cmd: Command) -> argparse.Namespace | None:
    """Run ``main(argv)`` only as far as its argparse call; return the namespace (None for --help)."""
    parsed = run_parser_of(main, argv, cmd)
    return parsed and parsed[0]


def run_parser_of(main, argv: list[str], cmd: Command) -> tuple[argparse.Namespace, argparse.ArgumentParser] | None:
    """Run ``main(argv)`` only as far as its argparse call; return the namespace and the parser that made it
    (None for --help)."""
    orig_parse, orig_inter = argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_intermixed_args

    def parse(self, args=None, namespace=None):
        raise _Parsed(orig_parse(self, args, namespace), self)

    def inter(self, args=None, namespace=None):
        raise _Parsed(orig_inter(self, args, namespace), self)

    err = io.StringIO()
    with mock.patch.object(argparse.ArgumentParser, "parse_args", parse), \
            mock.patch.object(argparse.ArgumentParser, "parse_intermixed_args", inter), \
            contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(list(argv))
        except _Parsed as p:
            return p.args[0], p.args[1]
        except SystemExit as e:
            if e.code in (0, None):
                return None
            raise AssertionError(f"{cmd}\n  does not parse: {err.getvalue().strip()}") from None
    raise AssertionError(f"{cmd}\n  main() returned without parsing its arguments")


# ------------------------------------------------------------------------------------------ checkers
def _cli_main():
    """The ``depth-refine`` entry point: ``depth_refine_ros.cli.main`` (else the older ``cli`` module)."""
    try:
        mod = importlib.import_module("depth_refine_ros.cli.main")
    except ModuleNotFoundError:
        mod = importlib.import_module("depth_refine_ros.cli")
    if hasattr(mod, "build_parser"):
        return lambda argv: mod.build_parser().parse_args(argv)
    return mod.main


def check_depth_refine(cmd: Command, args: list[str]) -> None:
    ns = run_parser(_cli_main(), args, cmd)
    if ns is None:
        return
    for opt in ("--method", "--methods", "--compare"):  # the values written on the page, not defaults
        for v in _option_values(args, opt):
            name, _, backend = v.partition("@")  # bench: model@backend
            check_model(name, cmd, opt)
            if backend:
                from depth_refine_ros.backends import available_backends
                assert backend in available_backends(), f"{cmd}\n  {v}: no backend '{backend}'"
    if getattr(ns, "cmd", "") == "build-engine":
        check_model(ns.model, cmd, "model", classical_ok=False)
    if getattr(ns, "cmd", "") == "bench":
        from depth_refine_ros.models import REGISTRY, preset_config
        for spec in _option_values(args, "--models"):
            kind, _, preset = spec.partition("/")
            if preset and kind in REGISTRY:  # kind/preset; any other path is a model directory
                try:
                    preset_config(kind, preset)
                except (KeyError, ValueError) as e:
                    raise AssertionError(f"{cmd}\n  --models {spec}: {e}") from None
            else:
                check_model(spec, cmd, "--models", classical_ok=False)


def _option_values(args: list[str], opt: str) -> list[str]:
    """The values following ``opt`` (``--opt a b`` or ``--opt=a``) up to the next option."""
    out, on = [], False
    for a in args:
        if a.startswith(opt + "="):
            out.append(a.partition("=")[2])
            on = False
        elif a == opt:
            on = True
        elif a.startswith("-"):
            on = False
        elif on:
            out.append(a)
    return out


def check_train(cmd: Command, args: list[str]) -> None:
    # a robot workspace (README "On a robot") has neither torch nor the training package: nothing to check with
    pytest.importorskip("torch", reason="depth-refine-train needs torch, which this environment lacks")
    pytest.importorskip("depth_refine_training", reason="the training package is not installed here")
    from depth_refine_training import cli as train_cli
    from depth_refine_training.config import ConfigParser, TrainConfig

    parsed = run_parser_of(train_cli.main, args, cmd)
    if parsed is None:
        return
    ns, parser = parsed
    if not isinstance(parser, ConfigParser):  # export: its own positional arguments, parsed above
        return
    if ns.config:
        ns.config = str(ROOT / ns.config)
    try:  # the YAML, the key=value settings and --set, as the command reads them
        cfg = parser.build(ns)
    except (ValueError, OSError) as e:
        raise AssertionError(f"{cmd}\n  {e}") from None
    if args[:1] == ["adapt"]:
        check_model(cfg.model, cmd, "model", classical_ok=False)
        return
    if args[:1] == ["distill"] and cfg.teacher not in ("auto", "dsr", "de", "none"):  # an imported model
        check_model(cfg.teacher, cmd, "teacher", classical_ok=False)
    if not isinstance(cfg, TrainConfig):
        return
    prior = (cfg.model_overrides or {}).get("prior_import")
    if prior:  # an imported foundation model as the SR net's prior: made earlier on the page
        check_model(str(prior), cmd, "model_overrides prior_import", classical_ok=False)
    for key in ("init", "init_prior"):
        v = getattr(cfg, key)
        if v and not (v.startswith(("runs/", "out/", "/path/")) or (ROOT / v).exists() or v in _shipped()):
            raise AssertionError(f"{cmd}\n  {key}={v} does not exist")


def _node_classes() -> dict[str, type]:
    from depth_refine_ros.ros import params_doc
    return {c.node_name: c for c in params_doc.node_param_classes()}


def _check_value(field: dataclasses.Field, value: str, cmd: Command, where: str) -> None:
    meta = field.metadata
    if meta["choices"]:
        assert value in meta["choices"], f"{cmd}\n  {where} '{value}' is not one of {', '.join(meta['choices'])}"
    elif isinstance(field.default, bool):
        assert value.lower() in ("true", "false"), f"{cmd}\n  {where} '{value}' is not a bool"
    elif isinstance(field.default, (int, float)):
        try:
            type(field.default)(value)
        except ValueError:
            raise AssertionError(f"{cmd}\n  {where} '{value}' is not a {type(field.default).__name__}") from None
    if meta["ros"] in ("model", "depth_only.model", "refine.model", "refine.mono_model"):
        check_model(value, cmd, where, classical_ok=False)


def check_node(cmd: Command, node: str, args: list[str]) -> None:
    cls = _node_classes()[node]
    fields = {f.metadata["ros"]: f for f in dataclasses.fields(cls)}
    topics = _node_topics().get(node)
    assert args[:1] == ["--ros-args"] or not args, f"{cmd}\n  node arguments go after --ros-args"
    it = iter(args[1:])
    for a in it:
        if a in ("-p", "--param"):
            name, sep, value = next(it, "").partition(":=")
            assert sep and name in fields, f"{cmd}\n  {node} declares no parameter '{name}' ({', '.join(fields)})"
            _check_value(fields[name], value, cmd, f"-p {name}")
        elif a == "--params-file":
            f = next(it, "")
            assert (ROOT / f).is_file() or f.startswith(("/", "~", "$")), f"{cmd}\n  params file {f} does not exist"
        elif a in ("-r", "--remap"):
            src, sep, _ = next(it, "").partition(":=")
            assert sep, f"{cmd}\n  remap needs from:=to"
            if topics is not None and not src.startswith("__"):
                assert src in topics, f"{cmd}\n  {node} has no topic '{src}' ({', '.join(sorted(topics))})"
        elif a == "--log-level":
            next(it, None)
        else:
            raise AssertionError(f"{cmd}\n  unknown --ros-args item '{a}'")


def _module_constants(tree: ast.Module) -> dict[str, ast.expr]:
    """Name -> value expression of a module's top-level (annotated or plain) assignments."""
    found = {t.id: n.value for n in tree.body if isinstance(n, ast.Assign)
             for t in n.targets if isinstance(t, ast.Name)}
    found.update({n.target.id: n.value for n in tree.body
                  if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.value is not None})
    return found


def _launch_info(path: pathlib.Path) -> dict:
    """From the launch file's text: declared arguments, the node's executable, its topics (remapped
    relative names), and which node parameter each launch argument sets."""
    tree = ast.parse(path.read_text())
    lists = _module_constants(tree)
    # constants the launch file imports from launch_support (SR_PARAM_ARGS), read from that module's text
    shared = _module_constants(ast.parse((ROOT / "depth_refine_ros" / "ros" / "launch_support.py").read_text()))
    for n in tree.body:
        if isinstance(n, ast.ImportFrom) and n.module == "depth_refine_ros.ros.launch_support":
            lists.update({a.asname or a.name: shared[a.name] for a in n.names if a.name in shared})
    declared, executable, param_of, topics, defaults = [], None, {}, set(), {}
    for name in ("PARAM_ARGS", "SR_PARAM_ARGS"):
        for elt in getattr(lists.get(name), "elts", []):  # (argument, node parameter)
            param_of[elt.elts[0].value] = elt.elts[1].value

    def is_call(n, name):
        return isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == name

    for n in ast.walk(tree):
        if is_call(n, "DeclareLaunchArgument") and n.args and isinstance(n.args[0], ast.Constant):
            declared.append(n.args[0].value)
            for k in n.keywords:
                if k.arg == "default_value" and isinstance(k.value, ast.Constant):
                    defaults[n.args[0].value] = k.value.value
        if isinstance(n, ast.ListComp) and is_call(n.elt, "DeclareLaunchArgument"):
            src = lists.get(getattr(n.generators[0].iter, "id", ""))
            for elt in getattr(src, "elts", []):
                declared.append(elt.elts[0].value)
        if is_call(n, "Node"):
            kw = {k.arg: k.value for k in n.keywords}
            exe = kw.get("executable")
            if isinstance(exe, ast.Constant) and exe.value != "rviz2":
                executable = exe.value
                for item in getattr(kw.get("parameters"), "elts", []):
                    if isinstance(item, ast.Dict):
                        for k, v in zip(item.keys, item.values, strict=True):
                            if is_call(v, "LaunchConfiguration"):
                                param_of[v.args[0].value] = k.value
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "REMAP_OF":
            topics = {v.value for v in n.value.values}
    return {"declared": declared, "executable": executable, "param_of": param_of, "topics": topics,
            "defaults": defaults}


def _launch_files() -> dict[str, dict]:
    return {p.name: _launch_info(p) for p in sorted((ROOT / "launch").glob("*.launch.py"))}


def _node_topics() -> dict[str, set[str]]:
    return {i["executable"]: i["topics"] for i in _launch_files().values() if i["executable"] and i["topics"]}


def check_ros2(cmd: Command, args: list[str]) -> None:
    if args[:1] == ["launch"]:
        if args[1:2] != ["depth_refine_ros"]:
            pytest.skip(UNCHECKED["ros2 launch <other package>"])
        files = _launch_files()
        name = args[2] if len(args) > 2 else ""
        assert name in files, f"{cmd}\n  no launch/{name} (there are {', '.join(files)})"
        info = files[name]
        fields = {f.metadata["ros"]: f for f in dataclasses.fields(_node_classes()[info["executable"]])}
        for a in args[3:]:
            if a.startswith("-"):
                assert a in LAUNCH_OPTIONS, f"{cmd}\n  unknown ros2 launch option {a}"
                continue
            arg, sep, value = a.partition(":=")
            assert sep, f"{cmd}\n  launch arguments are name:=value, not '{a}'"
            assert arg in info["declared"], \
                f"{cmd}\n  {name} declares no argument '{arg}' ({', '.join(info['declared'])})"
            param = info["param_of"].get(arg)
            if param in fields:
                _check_value(fields[param], value, cmd, f"{arg}:=")
            elif arg == "use_rviz":
                assert value in ("true", "false"), f"{cmd}\n  use_rviz:= true or false"
    elif args[:1] == ["run"]:
        assert args[1:2] == ["depth_refine_ros"], f"{cmd}\n  ros2 run of another package"
        if args[2:3] == ["depth-refine"]:  # the CLI, installed beside the nodes in a colcon workspace
            check_depth_refine(cmd, args[3:])
        else:
            check_node(cmd, args[2], args[3:])
    elif args[:1] == ["bag"]:
        pytest.skip(UNCHECKED["ros2 bag"])
    elif args[:1] == ["topic"]:
        # ros2 topic echo|hz|info TOPIC: an output topic of the package's nodes
        names = [a for a in args[2:] if not a.startswith("-")]
        assert args[1:2] and args[1] in ("echo", "hz", "info", "bw"), f"{cmd}\n  ros2 topic {args[1:2]}"
        assert names and names[0].lstrip("/") in _output_topics(), \
            f"{cmd}\n  {names[:1]} is not a topic the nodes publish ({', '.join(sorted(_output_topics()))})"
    elif args[:1] == ["interface"]:
        # ros2 interface show depth_refine_ros/msg/NAME: the package's own message
        assert args[1:2] == ["show"] and len(args) > 2, f"{cmd}\n  only ros2 interface show is documented"
        pkg, _, name = args[2].partition("/msg/")
        assert pkg == "depth_refine_ros" and (ROOT / "msg" / f"{name}.msg").is_file(), \
            f"{cmd}\n  no msg/{name}.msg"
    elif args[:1] == ["lifecycle"]:
        # ros2 lifecycle get|set|list NODE [TRANSITION]: the managed sr_node (sr_lifecycle_node)
        assert args[1:2] and args[1] in ("get", "set", "list", "nodes"), f"{cmd}\n  ros2 lifecycle {args[1:2]}"
        if args[1] != "nodes":
            assert len(args) > 2 and args[2].rstrip("/").split("/")[-1] == "sr_node", \
                f"{cmd}\n  the managed node is sr_node (sr_lifecycle_node), not {args[2:3]}"
        if args[1] == "set":
            assert args[3:4] and args[3] in LIFECYCLE_TRANSITIONS, \
                f"{cmd}\n  transition {args[3:4]} is not one of {', '.join(LIFECYCLE_TRANSITIONS)}"
    else:
        raise AssertionError(f"{cmd}\n  no checker for 'ros2 {args[:1]}': add one to test/repo/test_docs.py")


#: the transitions `ros2 lifecycle set` takes (lifecycle_msgs/msg/Transition labels)
LIFECYCLE_TRANSITIONS = ("configure", "activate", "deactivate", "cleanup", "shutdown")


def _output_topics() -> set[str]:
    """The topics sr_node and mono_node publish (their ``_setup_outputs`` prefixes x the suffixes)."""
    src = (ROOT / "depth_refine_ros" / "ros" / "node_base.py").read_text()
    suffixes = set(re.findall(r'f"\{prefix\}/(\w+)"', src))
    prefixes = set()
    for node in ("sr_node", "mono_node"):
        node_src = (ROOT / "depth_refine_ros" / "ros" / f"{node}.py").read_text()
        prefixes |= set(re.findall(r'_setup_outputs\("(\w+)"\)', node_src))
    return {f"{p}/{s}" for p in prefixes for s in suffixes} | {"diagnostics"}


def _make_targets() -> set[str]:
    return set(re.findall(r"^([\w.-]+)\s*:(?!=)", (ROOT / "Makefile").read_text(), re.M))


def _markers() -> set[str]:
    import tomllib
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {m.split(":")[0].strip() for m in cfg["tool"]["pytest"]["ini_options"]["markers"]}


def check_pytest(cmd: Command, args: list[str]) -> None:
    it = iter(args)
    for a in it:
        if a == "-m":
            expr = next(it, "")
            words = set(re.findall(r"\w+", expr)) - {"and", "or", "not"}
            assert words <= _markers(), f"{cmd}\n  unknown markers {sorted(words - _markers())}"
        elif not a.startswith("-"):
            assert (ROOT / a.split("::")[0]).exists(), f"{cmd}\n  {a} does not exist"


def check_python(cmd: Command, args: list[str]) -> None:
    if args[:1] == ["-m"]:
        mod = args[1]
        assert importlib.util.find_spec(mod) is not None, f"{cmd}\n  no module {mod}"
        if mod == "pytest":
            check_pytest(cmd, args[2:])
        elif mod == "depth_refine_training.cli":
            check_train(cmd, args[2:])
        elif mod == "depth_refine_ros.cli.main":
            check_depth_refine(cmd, args[2:])
    else:
        assert args and (ROOT / args[0]).is_file(), f"{cmd}\n  no script {args[:1]}"


def _pins() -> dict[str, str]:
    """requirements.txt's ``name==version`` pins (names lower-case)."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {m.group(1).lower(): m.group(2) for m in (re.match(r"^([\w.-]+)==(\S+)", s) for s in lines) if m}


def check_pip(cmd: Command, args: list[str]) -> None:
    """``pip install``: every pinned package at requirements.txt's pin; ``-r`` names requirements.txt."""
    assert args[:1] == ["install"], f"{cmd}\n  only pip install is documented"
    for f in _option_values(args, "-r"):
        assert pathlib.Path(f).name == "requirements.txt", f"{cmd}\n  -r {f}: the package's file is requirements.txt"
    pins = _pins()
    for spec in args[1:]:
        name, sep, version = spec.partition("==")
        if sep:
            assert pins.get(name.lower()) == version, \
                f"{cmd}\n  {spec}: requirements.txt pins {name}=={pins.get(name.lower(), '(nothing)')}"


def check_launch_test(cmd: Command, args: list[str]) -> None:
    """``launch_test FILE``: a launch_testing file of test/launch/."""
    files = [a for a in args if not a.startswith("-") and ":=" not in a]
    assert files, f"{cmd}\n  launch_test needs a test file"
    path = ROOT / files[0]
    assert path.is_file() and path.parent == ROOT / "test" / "launch", f"{cmd}\n  no test/launch/{path.name}"
    assert "def generate_test_description" in path.read_text(), f"{cmd}\n  {files[0]} is not a launch test"


def check_command(cmd: Command) -> None:
    argv = cmd.argv
    prog = pathlib.Path(argv[0]).name
    if prog in UNCHECKED:
        pytest.skip(f"{prog}: {UNCHECKED[prog]}")
    check_paths(argv, cmd)
    args = argv[1:]
    if prog == "make":
        targets = [a for a in args if not a.startswith("-") and "=" not in a]
        missing = set(targets) - _make_targets()
        assert not missing, f"{cmd}\n  no Makefile target {sorted(missing)}"
    elif prog == "depth-refine":
        check_depth_refine(cmd, args)
    elif prog == "depth-refine-train":
        check_train(cmd, args)
    elif prog in _node_classes():
        check_node(cmd, prog, args)
    elif prog == "ros2":
        check_ros2(cmd, args)
    elif prog in ("bash", "sh"):
        assert args and (ROOT / args[0]).is_file(), f"{cmd}\n  no script {args[:1]}"
    elif prog in ("python", "python3"):
        check_python(cmd, args)
    elif prog == "pytest":
        check_pytest(cmd, args)
    elif prog in ("pip", "pip3"):
        check_pip(cmd, args)
    elif prog == "launch_test":
        check_launch_test(cmd, args)
    elif prog == "torchrun":
        i = args.index("-m") if "-m" in args else None
        assert i is not None, f"{cmd}\n  torchrun without -m"
        check_python(cmd, args[i:])
    else:
        raise AssertionError(f"{cmd}\n  no checker for '{prog}': add one to test/repo/test_docs.py, or list it in "
                             "UNCHECKED with the reason")


# ------------------------------------------------------------------------------------------ tests
@pytest.mark.unit
@pytest.mark.parametrize("cmd", ALL_COMMANDS, ids=[f"{c.doc.name}:{c.line}:{pathlib.Path(c.argv[0]).name}"
                                                     for c in ALL_COMMANDS])
def test_command_in_docs_is_valid(cmd):
    check_command(cmd)


@pytest.mark.unit
def test_docs_have_commands_and_the_checkers_see_them():
    progs = {pathlib.Path(c.argv[0]).name for c in ALL_COMMANDS}
    assert {"make", "depth-refine", "depth-refine-train", "sr_node", "ros2"} <= progs, progs
    assert all((ROOT / "docs" / n).is_file() for n in
               ("nodes.md", "models.md", "training.md", "evaluation.md", "architecture.md", "results.md"))


@pytest.mark.unit
def test_the_checkers_reject_wrong_commands():
    """The checkers are not vacuous: each of these wrong commands fails."""
    doc = ROOT / "README.md"
    wrong = [
        "ros2 launch depth_refine_ros mono.launch.py model:=mono_resnet18",
        "ros2 launch depth_refine_ros sr.launch.py no_such_argument:=1",
        "ros2 launch depth_refine_ros nope.launch.py",
        ".venv/bin/depth-refine eval-dataset --root ../shared/data/rgbdd --no-such-option",
        ".venv/bin/depth-refine eval-bag out/bag --method no_such_model",
        ".venv/bin/depth-refine-train sr --config training/configs/tiny_cpu.yaml no_such_key=1",
        ".venv/bin/depth-refine-train selfsup no_such_key=1",
        ".venv/bin/depth-refine-train distill --teacher none",
        ".venv/bin/depth-refine-train adapt bag=out/bag model=no_such_model",
        ".venv/bin/sr_node --ros-args -p no.such.param:=1",
        ".venv/bin/sr_node --ros-args -p backend:=no_such_backend",
        ".venv/bin/sr_node --ros-args -r no/such/topic:=/x",
        "make no-such-target",
        "bash training/experiments/no_such_script.sh",
        "pip install torch==0.0.1",
        "launch_test test/launch/no_such_test.py",
        "ros2 topic echo /depth_refined/no_such_topic",
        "ros2 interface show depth_refine_ros/msg/NoSuchMessage",
    ]
    for line in wrong:
        with pytest.raises(AssertionError):
            check_command(Command(doc, 0, shlex.split(line), set()))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(doc: pathlib.Path) -> set[str]:
    text = FENCE.sub("", doc.read_text())
    out = {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}
    return out | set(re.findall(r'<a id="([^"]+)"', text))


@pytest.mark.unit
@pytest.mark.parametrize("doc", DOCS + LOG, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    text = FENCE.sub("", doc.read_text())
    bad = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            bad.append(f"{target}: no heading or <a id> '{anchor}' in {dest.name}")
    assert not bad, f"{doc.relative_to(ROOT)}: broken links:\n  " + "\n  ".join(bad)


@pytest.mark.unit
@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_paths_in_prose_exist(doc):
    """Repository paths written in backticks (``config/sr.yaml``, ``core/degrade.py``) exist; a path
    inside the package may be written from ``depth_refine_ros/`` or ``training/``."""
    pkg = {p.name for p in (ROOT / "depth_refine_ros").iterdir() if p.is_dir()}
    train = {p.name for p in (ROOT / "training").iterdir() if p.is_dir()}
    bad = []
    for tok in re.findall(r"`([\w./-]+/[\w./:-]*)`", FENCE.sub("", doc.read_text())):
        path = tok.split(":")[0].rstrip("/")
        first = path.split("/")[0]
        if path in PENDING or first in OUTPUT_DIRS or INTERFACE.fullmatch(path):
            continue
        if path in GENERATED:
            ok = (ROOT / GENERATED[path]).exists()
        elif first in _top_level():
            ok = (ROOT / path).exists()
        elif first in pkg or first in train:
            ok = (ROOT / "depth_refine_ros" / path).exists() or (ROOT / "training" / path).exists()
        elif path.startswith("../shared/"):
            ok = not SHARED.exists() or (ROOT / path).exists()
        else:
            continue
        if not ok:
            bad.append(tok)
    assert not bad, f"{doc.relative_to(ROOT)} names paths that do not exist: {bad}"


@pytest.mark.unit
def test_nodes_md_parameter_tables_are_the_rendering_of_the_code():
    from depth_refine_ros.ros import params_doc

    text = (ROOT / "docs" / "nodes.md").read_text()
    current = params_doc.extract_block(text)
    assert current is not None, f"docs/nodes.md lost its generated parameter block; restore the markers " \
                                f"and run: {REGEN}"
    assert current == params_doc.render_block(), \
        f"docs/nodes.md's parameter tables differ from depth_refine_ros/pipeline/settings.py; regenerate them: {REGEN}"


@pytest.mark.unit
def test_every_launch_argument_is_documented():
    text = (ROOT / "docs" / "nodes.md").read_text()
    for name, info in _launch_files().items():
        missing = [a for a in info["declared"] if f"`{a}`" not in text]
        assert not missing, f"docs/nodes.md does not document {name}'s arguments {missing}"


@pytest.mark.unit
def test_readme_defaults_are_the_code_defaults():
    """The README's one "Defaults" paragraph: every `name: value` is sr_node's default (config/sr.yaml)
    and every `argument` defaults to `value` is sr.launch.py's."""
    text = (ROOT / "README.md").read_text()
    m = re.search(r"^\*\*Defaults\.\*\*(.*?)(?:\n\n|\Z)", text, re.M | re.S)
    assert m, "README.md lost its **Defaults.** paragraph"
    para = " ".join(m.group(1).split())
    fields = {f.metadata["ros"]: f for f in dataclasses.fields(_node_classes()["sr_node"])}
    pairs = re.findall(r"`([\w.]+): ([^`]*)`", para)
    assert pairs, "the Defaults paragraph names no `parameter: value`"
    for name, value in pairs:
        assert name in fields, f"README Defaults: sr_node has no parameter {name}"
        default = fields[name].default
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        assert value == shown, f"README Defaults says {name}: {value}, config/sr.yaml says {shown}: update README.md"
    launch = _launch_files()["sr.launch.py"]["defaults"]
    for arg, value in re.findall(r"`(\w+)` defaults to `([^`]*)`", para):
        assert launch.get(arg) == value, \
            f"README Defaults says {arg} defaults to {value}, sr.launch.py says {launch.get(arg)}: update README.md"


@pytest.mark.unit
def test_methods_have_stable_anchors():
    """Code cites "METHODS 1" .. "METHODS 5" as docs/architecture.md#methods-N-...."""
    anchors = _anchors(ROOT / "docs" / "architecture.md")
    for n in range(1, 6):
        assert any(a.startswith(f"methods-{n}-") for a in anchors), f"no methods-{n}-... anchor"
    assert "methods-3-sddr" in anchors


@pytest.mark.unit
def test_readme_is_a_first_screen_and_docs_do_not_narrate():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 130, "README.md is a first screen (<= 130 lines); move reference to docs/"
    for doc in DOCS:
        low = doc.read_text().lower()
        found = [p for p in FORBIDDEN if p in low]
        assert not found, f"{doc.relative_to(ROOT)} narrates history ({found}): that goes to docs/log/"


@pytest.mark.unit
def test_images_are_small():
    for img in (ROOT / "docs").rglob("*.png"):
        assert img.stat().st_size < 300_000, f"{img.relative_to(ROOT)} is {img.stat().st_size} bytes (< 300 KB)"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
