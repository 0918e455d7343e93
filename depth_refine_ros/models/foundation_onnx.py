"""An ONNX depth graph with a user-declared signature, adapted to the project's ``mono`` contract.

``depth-refine import model.onnx --output-kind ... --normalisation ...`` (docs/foundation_models.md):
the image input is renamed ``rgb`` and fed ``(1, 3, H, W) float32`` in [0, 1]; with ImageNet
normalisation declared, ``(x - mean) / std`` is prepended to the graph; the first output is renamed
``depth`` and, when it is ``(N, H, W)``, given its channel axis. Height and width must be dynamic in
the source (checked by the import's parity run at two sizes). Only the ``onnx`` package is used.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from depth_refine_ros.core.foundation import IMAGENET_MEAN, IMAGENET_STD


def adapt_graph(src: Path, dst: Path, input_name: str = "", imagenet: bool = True) -> dict[str, Any]:
    """Write the adapted graph to ``dst``.

    Returns:
        ``input`` / ``output`` (the source's names), ``opset``, ``params`` (initializer elements).

    Raises:
        ValueError: no such input, more than one input without ``input_name``, a rank other than 4 in.
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    g = model.graph
    inits = {i.name for i in g.initializer}
    ins = [i for i in g.input if i.name not in inits]
    if input_name:
        ins = [i for i in ins if i.name == input_name]
        if not ins:
            raise ValueError(f"{src}: no input named {input_name!r}")
    if len(ins) != 1:
        raise ValueError(f"{src}: {len(ins)} inputs ({', '.join(i.name for i in ins)}); name the image one "
                         "with --input (a monocular graph takes one image)")
    inp, out = ins[0], g.output[0]
    if len(inp.type.tensor_type.shape.dim) != 4:
        raise ValueError(f"{src}: input {inp.name} is not NCHW (rank {len(inp.type.tensor_type.shape.dim)})")
    old_in, old_out = inp.name, out.name
    feed = "rgb"
    nodes = []
    if imagenet:
        mean = numpy_helper.from_array(np.array(IMAGENET_MEAN, np.float32).reshape(1, 3, 1, 1), "import_mean")
        std = numpy_helper.from_array(np.array(IMAGENET_STD, np.float32).reshape(1, 3, 1, 1), "import_std")
        g.initializer.extend([mean, std])
        nodes += [helper.make_node("Sub", ["rgb", "import_mean"], ["import_centred"]),
                  helper.make_node("Div", ["import_centred", "import_std"], [old_in])]
    else:
        nodes.append(helper.make_node("Identity", ["rgb"], [old_in]))
    inp.name = feed
    rank = len(out.type.tensor_type.shape.dim)
    if rank == 3:
        g.initializer.append(numpy_helper.from_array(np.array([1], np.int64), "import_axis"))
        tail = helper.make_node("Unsqueeze", [old_out, "import_axis"], ["depth"])
    elif rank == 4:
        tail = helper.make_node("Identity", [old_out], ["depth"])
    else:
        raise ValueError(f"{src}: output {old_out} has rank {rank}; (N, H, W) or (N, 1, H, W) is expected")
    for i, n in enumerate(nodes):
        g.node.insert(i, n)
    g.node.append(tail)
    out.name = "depth"
    if rank == 3:
        d = out.type.tensor_type.shape.dim
        new = onnx.TensorShapeProto.Dimension()
        new.dim_value = 1
        d.insert(1, new)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    n = int(sum(np.prod(i.dims) for i in g.initializer if i.name not in ("import_mean", "import_std", "import_axis")))
    return {"input": old_in, "output": old_out, "opset": int(opset), "params": n}
