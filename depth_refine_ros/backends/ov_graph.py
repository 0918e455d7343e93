"""OpenVINO graph edits, made when the openvino backend loads a graph; each edit's ID goes into the
compiled-model cache key (a change here invalidates the cached blobs).

:func:`keep_standardisation_f32` keeps bf16 inference as accurate as fp32 for the depth networks.
With ``INFERENCE_PRECISION_HINT=bf16`` the CPU plugin runs every node in bf16 except the
graph's *tail* (the nodes between an output and the last convolution). The SR and depth-only
graphs standardise their depth input per image, ``dn = (depth - mean) / (std + eps)``, which
OpenVINO fuses into one MVN node. That node is not in the tail, so the plugin converts the raw
depth input to bf16 *before* subtracting the mean. After standardisation that rounding is a large
part of the depth's spread. The network reads it as detail, and the output loses much of its gain
over bicubic. The output's own residual add is already in the f32 tail. The fix: the
standardisation becomes an explicit MVN node and a scalar ``ReduceMax`` of it becomes an extra graph
output. So the MVN is in the tail and stays f32; only its standardised result (values of order 1)
is rounded to bf16 for the convolutions. bf16 then scores as fp32 and runs faster
(docs/results.md#bf16). rt_info markers (``disable_fp16_compression``) do not survive the MVN
fusion, hence the extra output. The extra output is the last one; callers read the model's own
outputs by index and never see it.

:func:`rgb_u8_input` makes a static-shape graph take its ``rgb`` input as the camera's
``(1, H, W, 3) uint8`` image and convert it to the ``(1, 3, H, W) float32 / 255`` the ONNX graph
expects itself (OpenVINO's pre-processing, fused into the first layers): the pipeline skips its
float pass over the image and a quarter of the bytes reach the engine. The values are the same up
to float rounding (x / 255 computed two ways).
"""
from __future__ import annotations

import logging

LOG = logging.getLogger("depth_refine_ros.openvino")
KEEP_F32_OUTPUT = "keep_standardisation_f32"
"""Name of the extra scalar output that pins the standardisation to f32."""
PATCH_ID = "keep-standardisation-f32/1"
"""Goes into the compiled-model cache key of a patched graph (a change here invalidates blobs)."""
RGB_U8_ID = "+rgb_u8_nhwc/1"
"""Appended to the cache key's graph edits when the ``rgb`` input is taken as bytes (:func:`rgb_u8_input`)."""


def _const_scalar(node) -> float | None:
    if node.get_type_name() != "Constant":
        return None
    data = node.get_data()
    return float(data.reshape(-1)[0]) if data.size == 1 else None


def _axes(node) -> set[int] | None:
    """The constant reduction axes of a Reduce* node (None: not constant)."""
    ax = node.input_value(1).get_node()
    return {int(a) for a in ax.get_data().reshape(-1)} if ax.get_type_name() == "Constant" else None


def _is_spatial_mean_of(node, x) -> bool:
    """``node`` is ``ReduceMean(x, axes {2, 3})`` (or axes -2, -1 of a 4-d tensor)."""
    return (node.get_type_name() == "ReduceMean" and node.input_value(0) == x
            and _axes(node) in ({2, 3}, {-2, -1}))


def _is_std_of(node, centred) -> bool:
    """``node`` is ``Sqrt(ReduceMean(centred ** 2 | centred * centred, axes {2, 3}))``."""
    if node.get_type_name() != "Sqrt":
        return False
    mean = node.input_value(0).get_node()
    if mean.get_type_name() != "ReduceMean" or _axes(mean) not in ({2, 3}, {-2, -1}):
        return False
    sq = mean.input_value(0).get_node()
    if sq.get_type_name() == "Power":
        return sq.input_value(0) == centred and _const_scalar(sq.input_value(1).get_node()) == 2.0
    return sq.get_type_name() == "Multiply" and sq.input_value(0) == centred and sq.input_value(1) == centred


def _standardisations(model, input_name: str) -> list[tuple[object, object, float]]:
    """``(divide_node, depth_output, eps)`` for each ``(x - mean(x)) / (sqrt(mean((x - mean)^2)) + eps)``
    of the input, means over the spatial axes (2, 3)."""
    params = [p for p in model.get_parameters() if p.get_friendly_name() == input_name]
    if not params:
        return []
    x = params[0].output(0)
    found = []
    for sub_in in x.get_target_inputs():
        sub = sub_in.get_node()
        if sub.get_type_name() != "Subtract" or sub_in.get_index() != 0:
            continue
        if not _is_spatial_mean_of(sub.input_value(1).get_node(), x):
            continue
        for div_in in sub.output(0).get_target_inputs():
            div = div_in.get_node()
            if div.get_type_name() != "Divide" or div_in.get_index() != 0:
                continue
            add = div.input_value(1).get_node()
            if add.get_type_name() != "Add":
                continue
            parts = [add.input_value(i).get_node() for i in range(2)]
            eps = [_const_scalar(p) for p in parts]
            stds = [p for p in parts if _is_std_of(p, sub.output(0))]
            if len(stds) == 1 and sum(e is not None for e in eps) == 1:
                found.append((div, x, next(e for e in eps if e is not None)))
    return found


def keep_standardisation_f32(model, input_name: str = "depth") -> int:
    """Rewrite ``model`` in place so the per-image standardisation of ``input_name`` runs in f32.

    The pattern is the one :class:`~depth_refine_ros.models.sr_net.GuidedSRNet` exports, checked
    node by node (axes included): Subtract of the input's spatial ReduceMean, divided by
    ``Sqrt(spatial mean of its square) + eps``. It is replaced by
    ``MVN(axes 2, 3, normalize_variance, eps outside the sqrt)`` (the same formula) and a scalar
    ``ReduceMax`` of it is added as the last output, named :data:`KEEP_F32_OUTPUT` (``_1``, ... for
    further matches).

    Args:
        model: an ``openvino.Model`` read from a depth network's ONNX graph.
        input_name: the graph input holding the ``(1, 1, H, W)`` float32 depth.

    Returns:
        How many standardisations were rewritten (0: the graph has no such pattern; unchanged).
    """
    import openvino as ov
    import openvino.opset13 as ops

    found = _standardisations(model, input_name)
    for i, (div, x, eps) in enumerate(found):
        axes = ops.constant([2, 3], dtype=ov.Type.i64)
        mvn = ops.mvn(x, axes, True, eps, "outside_sqrt")
        div.output(0).replace(mvn.output(0))
        keep = ops.reduce_max(mvn.output(0), ops.constant([0, 1, 2, 3], dtype=ov.Type.i64), False)
        result = ops.result(keep)
        name = KEEP_F32_OUTPUT if i == 0 else f"{KEEP_F32_OUTPUT}_{i}"
        result.set_friendly_name(name)
        result.output(0).get_tensor().set_names({name})
        model.add_results([result])
    if found:
        model.validate_nodes_and_infer_types()
    return len(found)


def rgb_u8_input(ov, graph):
    """``graph`` with its ``rgb`` input taken as ``(1, H, W, 3) uint8`` and converted inside the
    graph to the ``(1, 3, H, W) float32 / 255`` the ONNX graph expects (OpenVINO's
    PrePostProcessor; the graph must already have a static shape)."""
    from openvino.preprocess import PrePostProcessor

    ppp = PrePostProcessor(graph)
    ppp.input("rgb").tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    ppp.input("rgb").model().set_layout(ov.Layout("NCHW"))
    ppp.input("rgb").preprocess().convert_element_type(ov.Type.f32).scale(255.0)
    return ppp.build()


__all__ = ["KEEP_F32_OUTPUT", "PATCH_ID", "RGB_U8_ID", "keep_standardisation_f32", "rgb_u8_input"]
