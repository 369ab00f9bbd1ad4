"""Flatbuffer surgery on TFLite models: a smaller fixed input size, and the MediaPipe custom transpose-conv
rewritten to the builtin TRANSPOSE_CONV. Uses the schema bindings that ship with LiteRT."""
from __future__ import annotations

import numpy as np
import flatbuffers
from ai_edge_litert import schema_py_generated as s

_IDENT = b"TFL3"


def load(buf: bytes) -> "s.ModelT":
    return s.ModelT.InitFromPackedBuf(buf, 0)


def dump(model: "s.ModelT") -> bytes:
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=_IDENT)
    return bytes(b.Output())


def _op_name(model, op) -> str:
    code = model.operatorCodes[op.opcodeIndex]
    if code.customCode:
        c = code.customCode
        return c.decode() if isinstance(c, (bytes, bytearray)) else str(c)
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    for k, v in vars(s.BuiltinOperator).items():
        if v == builtin and not k.startswith("_"):
            return k
    return str(builtin)


def op_names(buf: bytes) -> list[str]:
    m = load(buf)
    return [_op_name(m, op) for op in m.subgraphs[0].operators]


def _buffer_array(model, tensor, dtype) -> np.ndarray | None:
    data = model.buffers[tensor.buffer].data
    if data is None or len(data) == 0:
        return None
    return np.frombuffer(bytes(np.asarray(data, dtype=np.uint8)), dtype=dtype)


def resize_input(buf: bytes, new_hw: tuple[int, int]) -> bytes:
    """Rewrite a fully-convolutional model to a new fixed input size (H, W).

    Every activation tensor's static (h, w) at each stride level is scaled, and the constant `size` operands of
    RESIZE_BILINEAR are rewritten. Requires the new size to divide like the old one at every level (checked)."""
    m = load(buf)
    g = m.subgraphs[0]
    inp = g.tensors[g.inputs[0]]
    old_h, old_w = int(inp.shape[1]), int(inp.shape[2])
    new_h, new_w = new_hw
    levels = {}
    for k in range(8):
        f = 2 ** k
        if old_h % f or old_w % f:
            break
        if new_h % f or new_w % f:
            raise ValueError(f"{new_h}x{new_w} does not divide by {f} like {old_h}x{old_w}")
        levels[(old_h // f, old_w // f)] = (new_h // f, new_w // f)

    def mapped(hw):
        return levels.get((int(hw[0]), int(hw[1])))

    for t in g.tensors:
        shape = None if t.shape is None else [int(x) for x in t.shape]
        if shape is None or len(shape) != 4 or shape[0] != 1:
            continue
        if _buffer_array(m, t, np.uint8) is not None:
            continue  # constants keep their shape
        nh = mapped(shape[1:3])
        if nh is None:
            continue
        t.shape = np.array([1, nh[0], nh[1], shape[3]], dtype=np.int32)
        if t.shapeSignature is not None and len(t.shapeSignature):
            t.shapeSignature = np.array([1, nh[0], nh[1], shape[3]], dtype=np.int32)

    for op in g.operators:
        if _op_name(m, op) != "RESIZE_BILINEAR":
            continue
        size_t = g.tensors[op.inputs[1]]
        size = _buffer_array(m, size_t, np.int32)
        nh = mapped(size)
        if nh is None:
            raise ValueError(f"resize to {size.tolist()} is not at a stride level")
        m.buffers[size_t.buffer].data = np.frombuffer(np.array(nh, dtype=np.int32).tobytes(), dtype=np.uint8)
    return dump(m)


def _opcode_index(m, builtin: int, version: int = 1) -> int:
    for i, c in enumerate(m.operatorCodes):
        if not c.customCode and max(c.builtinCode, c.deprecatedBuiltinCode) == builtin:
            return i
    c = s.OperatorCodeT()
    c.builtinCode = builtin
    c.deprecatedBuiltinCode = min(builtin, 127)
    c.version = version
    m.operatorCodes.append(c)
    return len(m.operatorCodes) - 1


def custom_transpose_to_builtin(buf: bytes) -> bytes:
    """Replace MediaPipe's Convolution2DTransposeBias with builtin TRANSPOSE_CONV (+bias, version 3).

    The custom op's options are TfLiteTransposeConvParams as raw int32s (padding, stride_w, stride_h); its inputs
    are (input, weights[OC,KH,KW,IC], bias) - the builtin wants (output_shape, weights, input, bias)."""
    m = load(buf)
    g = m.subgraphs[0]
    tc = _opcode_index(m, s.BuiltinOperator.TRANSPOSE_CONV, version=3)
    n = 0
    for op in g.operators:
        if _op_name(m, op) != "Convolution2DTransposeBias":
            continue
        padding, stride_w, stride_h = np.frombuffer(bytes(np.asarray(op.customOptions, np.uint8)), np.int32)[:3]
        out_shape = np.array(g.tensors[op.outputs[0]].shape, dtype=np.int32)
        b = s.BufferT()
        b.data = np.frombuffer(out_shape.tobytes(), dtype=np.uint8)
        m.buffers.append(b)
        t = s.TensorT()
        t.shape = np.array([4], dtype=np.int32)
        t.type = s.TensorType.INT32
        t.buffer = len(m.buffers) - 1
        t.name = f"transpose_conv_output_shape_{n}".encode()
        g.tensors.append(t)
        inp, weights, bias = list(op.inputs)
        op.opcodeIndex = tc
        op.inputs = np.array([len(g.tensors) - 1, weights, inp, bias], dtype=np.int32)
        opts = s.TransposeConvOptionsT()
        opts.padding = s.Padding.SAME if padding == 1 else s.Padding.VALID
        opts.strideW = int(stride_w)
        opts.strideH = int(stride_h)
        op.builtinOptionsType = s.BuiltinOptions.TransposeConvOptions
        op.builtinOptions = opts
        op.customOptions = None
        op.customOptionsFormat = 0
        n += 1
    if n == 0:
        raise ValueError("model has no Convolution2DTransposeBias op")
    return dump(m)
