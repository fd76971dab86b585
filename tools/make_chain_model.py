#!/usr/bin/env python3
"""Writes a deterministic ONNX model that is one long chain of nodes, for scaling tests.

    make_chain_model.py NODES OUT.onnx [--ops add,mul,relu,matmul] [--width 4] [--opset 17]

The chain reads input "x" (float32 [1, WIDTH]) and writes output "y" of the same shape. Node k
applies op OPS[k % len(OPS)] to the previous value; every node has its own constants (named
after the node), as in a real model. The constants are exact in float32 and keep values
bounded however long the chain is, so any correct evaluator gives the same output:

    add     Add(v, c)      c = +0.25 / -0.25 on alternate add nodes
    mul     Mul(v, c)      c = 2 / 0.5 on alternate mul nodes
    relu    Relu(v)
    matmul  MatMul(v, W)   W a [WIDTH, WIDTH] cyclic permutation (moves lane i to i+1)
    linear  Add(MatMul(v, W), b)  W as matmul, b as add (two nodes: squint fuses them)
    identity Identity(v)
    sigmoid Sigmoid(v)

NODES counts ONNX nodes (a "linear" entry is two). Importable as a module: make_chain(...)
returns the ModelProto.
"""
import argparse
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPS = ("add", "mul", "relu", "matmul", "linear", "identity", "sigmoid")


def _permutation(width):
    w = np.zeros((width, width), np.float32)
    for i in range(width):
        w[i, (i + 1) % width] = 1.0
    return w


def make_chain(nodes, ops=("add", "mul", "relu", "matmul"), width=4, opset=17):
    if nodes < 1:
        raise ValueError(f"nodes must be >= 1, got {nodes}")
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    bad = [o for o in ops if o not in OPS]
    if bad or not ops:
        raise ValueError(f"unknown ops {bad or ops}; choose from {', '.join(OPS)}")
    perm = _permutation(width)
    graph_nodes, inits = [], []
    counters = {"add": 0, "mul": 0}
    cur = "x"
    k = 0  # ONNX nodes written so far

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    def add_const(name):
        sign = 1.0 if counters["add"] % 2 == 0 else -1.0
        counters["add"] += 1
        return const(name, np.full((width,), 0.25 * sign, np.float32))

    step = 0
    while k < nodes:
        op = ops[step % len(ops)]
        step += 1
        if op == "linear" and nodes - k < 2:
            op = "matmul"
        name = f"n{k}"
        out = f"v{k}"
        if op == "add":
            graph_nodes.append(helper.make_node("Add", [cur, add_const(name + "_c")], [out], name=name))
        elif op == "mul":
            c = 2.0 if counters["mul"] % 2 == 0 else 0.5
            counters["mul"] += 1
            graph_nodes.append(
                helper.make_node("Mul", [cur, const(name + "_c", np.full((width,), c))], [out], name=name))
        elif op == "relu":
            graph_nodes.append(helper.make_node("Relu", [cur], [out], name=name))
        elif op == "identity":
            graph_nodes.append(helper.make_node("Identity", [cur], [out], name=name))
        elif op == "sigmoid":
            graph_nodes.append(helper.make_node("Sigmoid", [cur], [out], name=name))
        elif op == "matmul":
            graph_nodes.append(helper.make_node("MatMul", [cur, const(name + "_w", perm)], [out], name=name))
        else:  # linear: MatMul then Add of a bias, two nodes
            mid = f"v{k}_mm"
            graph_nodes.append(helper.make_node("MatMul", [cur, const(name + "_w", perm)], [mid], name=name))
            k += 1
            name, out = f"n{k}", f"v{k}"
            graph_nodes.append(helper.make_node("Add", [mid, add_const(name + "_b")], [out], name=name))
        cur = out
        k += 1
    graph_nodes[-1].output[0] = "y"
    graph = helper.make_graph(
        graph_nodes, f"chain_{nodes}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, width])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="make_chain_model")
    model.ir_version = 8
    return model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("nodes", type=int, help="number of ONNX nodes in the chain")
    p.add_argument("out", help="output .onnx path")
    p.add_argument("--ops", default="add,mul,relu,matmul",
                   help=f"comma-separated op cycle, from: {','.join(OPS)} (default add,mul,relu,matmul)")
    p.add_argument("--width", type=int, default=4, help="features per value (default 4)")
    p.add_argument("--opset", type=int, default=17, help="default-domain opset (default 17)")
    a = p.parse_args(argv)
    try:
        model = make_chain(a.nodes, tuple(o.strip() for o in a.ops.split(",") if o.strip()), a.width, a.opset)
    except ValueError as e:
        print(f"make_chain_model.py: {e}", file=sys.stderr)
        return 2
    onnx.save(model, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
