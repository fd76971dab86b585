#!/usr/bin/env python3
"""Writes a small seed corpus for fuzz/onnx_importer_fuzz into DIR (argument).

Seeds cover the importer's paths: window ops (Conv/MaxPool attributes guarded before the
checker), attribute-to-input normalization (ReduceMean axes, Split, Clip, Pad), Constant nodes,
symbolic dims, an unsupported op, an external-data reference, opset 18+ (no libonnx checker).
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def model(nodes, inputs, outputs, inits=(), opset=17, ir=8):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir)


def vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def main(out):
    os.makedirs(out, exist_ok=True)
    w = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    seeds = {
        "conv": model([helper.make_node("Conv", ["x", "w"], ["y"], "conv", strides=[1, 1], pads=[1, 1, 1, 1],
                                        group=1)], [vi("x", ["N", 1, 5, 5])], [vi("y", None)], [w]),
        "maxpool": model([helper.make_node("MaxPool", ["x"], ["y"], "pool", kernel_shape=[2, 2], strides=[2, 2])],
                         [vi("x", [1, 1, 4, 4])], [vi("y", None)]),
        "reduce_axes_attr": model([helper.make_node("ReduceMean", ["x"], ["y"], "mean", axes=[1], keepdims=0)],
                                  [vi("x", [2, 3])], [vi("y", None)]),
        "reduce_axes_input": model([helper.make_node("ReduceMax", ["x", "a"], ["y"], "max")], [vi("x", [2, 3])],
                                   [vi("y", None)], [numpy_helper.from_array(np.array([0], np.int64), "a")],
                                   opset=18, ir=9),
        "split_clip_pad": model(
            [helper.make_node("Split", ["x", "s"], ["a", "b"], "split", axis=1),
             helper.make_node("Clip", ["a", "lo", ""], ["c"], "clip"),
             helper.make_node("Pad", ["b", "p"], ["d"], "pad", mode="constant")],
            [vi("x", [1, 4])], [vi("c", None), vi("d", None)],
            [numpy_helper.from_array(np.array([1, 3], np.int64), "s"),
             numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
             numpy_helper.from_array(np.array([0, 1, 0, 1], np.int64), "p")]),
        "constant_gemm": model(
            [helper.make_node("Constant", [], ["k"], "k", value=numpy_helper.from_array(np.ones((3, 2), np.float32))),
             helper.make_node("Gemm", ["x", "k"], ["y"], "gemm", alpha=0.5, transB=0)],
            [vi("x", ["batch", 3])], [vi("y", ["batch", 2])]),
        "unsupported": model([helper.make_node("TopK", ["x", "k"], ["v", "i"], "topk")], [vi("x", [4])],
                             [vi("v", None), vi("i", None, TensorProto.INT64)],
                             [numpy_helper.from_array(np.array([2], np.int64), "k")]),
        "softmax_layernorm": model(
            [helper.make_node("Softmax", ["x"], ["s"], "sm", axis=-1),
             helper.make_node("LayerNormalization", ["s", "g", "b"], ["y"], "ln", axis=-1, epsilon=1e-5)],
            [vi("x", [2, 4])], [vi("y", None)],
            [numpy_helper.from_array(np.ones(4, np.float32), "g"), numpy_helper.from_array(np.zeros(4, np.float32), "b")]),
    }
    ext = numpy_helper.from_array(np.ones(4, np.float32), "e")
    ext.ClearField("raw_data")
    ext.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "w.bin"), ("offset", "0"), ("length", "16")):
        e = ext.external_data.add()
        e.key, e.value = k, v
    seeds["external"] = model([helper.make_node("Add", ["x", "e"], ["y"], "add")], [vi("x", [4])], [vi("y", None)],
                              [ext])
    for name, m in seeds.items():
        with open(os.path.join(out, name + ".onnx"), "wb") as f:
            f.write(m.SerializeToString())


if __name__ == "__main__":
    main(sys.argv[1])
