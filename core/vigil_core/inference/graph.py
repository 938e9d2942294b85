"""Rewrite a verified model graph in memory before onnxruntime loads it.

Ultralytics exports YOLOv8 with a fixed input size: the last layers reshape every level's maps
with constants sized for that input (3024 anchors at 384 px) and add anchor grids computed for
it. Everything before those layers is convolutional. `yolov8_dense_head` cuts the graph where
the three levels' raw box and class maps leave their last convolution and frees the input's
batch, height and width, so one session runs any multiple-of-32 rectangle: a wide vehicle crop
at 384×288, a plate's surroundings at 256×128 (a quarter of the 384×384 cost). The cut part (DFL
expectation, anchor grid, sigmoid) is done in numpy on the few cells above the threshold
(`postprocess.decode_yolov8_dense`). The file on disk is never changed.

`free_input_size` serves fully convolutional detectors (YOLOX) whose export merely declares a
fixed square input: it makes height and width symbolic, so a 16:9 frame runs at 416×256 instead
of being letterboxed into 416×416, at the same scale.
"""

from __future__ import annotations

DENSE_HEAD = "yolov8_dense_head"
"""Name of the rewrite (part of the session cache key)."""
FREE_INPUT = "free_input_size"
"""Name of the rewrite that frees a fully convolutional graph's input height and width."""


class GraphRewriteError(ValueError):
    """The graph does not have the structure the rewrite expects."""


def yolov8_dense_head(data: bytes) -> bytes:
    """Return the model with its fixed-size decode removed and a dynamic N×3×H×W input.

    Outputs are, per level from the finest stride: the box map [N, 4·bins, h, w] and the class
    map [N, C, h, w] (logits). Raise GraphRewriteError when the graph is not a YOLOv8 detect
    export (two concatenations of per-level ``Reshape(Conv, [1, C, -1])``, the box one feeding
    the DFL reshape).
    """
    try:
        import onnx  # noqa: PLC0415 - only needed when a model is rewritten
        from onnx import helper, numpy_helper  # noqa: PLC0415
    except ImportError as err:
        raise GraphRewriteError(f"the onnx package cannot be imported ({err})") from err

    try:
        model = onnx.load_from_string(data)
    except Exception as err:
        raise GraphRewriteError(f"not an ONNX model ({type(err).__name__})") from err
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)

    def level_map(name: str) -> str | None:
        """Return the Conv output a per-level ``Reshape(x, [1, C, -1])`` flattens, or None."""
        node = producer.get(name)
        if node is None or node.op_type != "Reshape" or len(node.input) < 2:
            return None
        shape = constants.get(node.input[1])
        source = producer.get(node.input[0])
        if shape is None or shape.shape != (3,) or int(shape[2]) != -1:
            return None
        if source is None or source.op_type != "Conv":
            return None
        return str(node.input[0])

    boxes: list[str] | None = None
    classes: list[str] | None = None
    bins = 0
    for node in graph.node:
        if node.op_type != "Concat" or len(node.input) < 2:
            continue
        maps = [level_map(name) for name in node.input]
        if any(m is None for m in maps):
            continue
        dfl = [
            c
            for c in consumers.get(node.output[0], [])
            if c.op_type == "Reshape" and constants.get(c.input[1]) is not None
        ]
        dfl_shape = constants[dfl[0].input[1]] if dfl else None
        if dfl_shape is not None and dfl_shape.shape == (4,) and int(dfl_shape[1]) == 4:
            boxes, bins = [m for m in maps if m], int(dfl_shape[2])
        else:
            classes = [m for m in maps if m]
    if boxes is None or classes is None or len(boxes) != len(classes) or bins < 2:
        raise GraphRewriteError("no YOLOv8 detect head (per-level box and class maps) found")

    outputs = [name for pair in zip(boxes, classes, strict=True) for name in pair]
    needed = set(outputs)
    kept: list[onnx.NodeProto] = []
    for node in reversed(graph.node):
        if any(out in needed for out in node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    kept.reverse()
    del graph.node[:]
    graph.node.extend(kept)
    initializers = [init for init in graph.initializer if init.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    del graph.value_info[:]
    del graph.output[:]
    for name in outputs:
        graph.output.append(
            helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["N", None, None, None])
        )
    if len(graph.input) != 1 or len(graph.input[0].type.tensor_type.shape.dim) != 4:
        raise GraphRewriteError("expected one N×C×H×W input")
    dims = graph.input[0].type.tensor_type.shape.dim
    for index, symbol in ((0, "N"), (2, "H"), (3, "W")):
        dims[index].Clear()
        dims[index].dim_param = symbol
    try:
        onnx.checker.check_model(model)
    except Exception as err:
        raise GraphRewriteError(f"the cut graph is invalid ({type(err).__name__})") from err
    return bytes(model.SerializeToString())


def is_dense_head(output_shapes: tuple[tuple[int | None, ...], ...]) -> bool:
    """Return whether a session's outputs are dense per-level maps (an even number of 4-D maps)."""
    return (
        len(output_shapes) >= 2
        and len(output_shapes) % 2 == 0
        and all(len(shape) == 4 for shape in output_shapes)
    )


def free_input_size(data: bytes) -> bytes:
    """Return the model with its input height and width symbolic (batch and channels kept).

    Declared shapes inside the graph are dropped and each output keeps only its first and last
    dims (batch and per-anchor values); onnxruntime infers the rest at run time. A graph with
    reshapes sized for the declared input fails when run at another size: the detector checks
    one run at a rectangle before using it.
    """
    try:
        import onnx  # noqa: PLC0415 - only needed when a model is rewritten
    except ImportError as err:
        raise GraphRewriteError(f"the onnx package cannot be imported ({err})") from err
    try:
        model = onnx.load_from_string(data)
    except Exception as err:
        raise GraphRewriteError(f"not an ONNX model ({type(err).__name__})") from err
    graph = model.graph
    if len(graph.input) != 1 or len(graph.input[0].type.tensor_type.shape.dim) != 4:
        raise GraphRewriteError("expected one N×C×H×W input")
    dims = graph.input[0].type.tensor_type.shape.dim
    for index, symbol in ((2, "H"), (3, "W")):
        dims[index].Clear()
        dims[index].dim_param = symbol
    del graph.value_info[:]
    for number, output in enumerate(graph.output):
        out_dims = output.type.tensor_type.shape.dim
        for index in range(1, len(out_dims) - 1):
            out_dims[index].Clear()
            out_dims[index].dim_param = f"out{number}_{index}"
    try:
        onnx.checker.check_model(model)
    except Exception as err:
        raise GraphRewriteError(f"the rewritten graph is invalid ({type(err).__name__})") from err
    return bytes(model.SerializeToString())
