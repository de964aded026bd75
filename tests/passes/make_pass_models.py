#!/usr/bin/python3
"""Small ONNX models holding the patterns the graph passes rewrite, for
tests/unit/test_passes.c.  Usage: make_pass_models.py OUT_DIR

Models built with onnx.helper where exporters would already fold the pattern
(PyTorch folds BatchNormalization into Conv in eval mode), torch.onnx.export
where the exporter's own spelling is the point (LayerNorm, GELU, shape
arithmetic)."""
import inspect
import os
import sys
import warnings

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

warnings.filterwarnings("ignore")
OUT = sys.argv[1] if len(sys.argv) > 1 else "."
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(0)


def f32(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def vi(name, shape, dt=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dt, shape)


def save(name, nodes, inputs, outputs, inits, opset=13, extra_opsets=()):
    g = helper.make_graph(nodes, name, inputs, outputs, inits)
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    m = helper.make_model(g, opset_imports=ops, producer_name="make_pass_models")
    m.ir_version = 8
    if opset <= 17:  # the checker of onnx 1.12 knows opsets up to 17
        onnx.checker.check_model(m)
    onnx.save(m, os.path.join(OUT, name + ".onnx"))


def bn_params(prefix, c):
    return [init(prefix + "_s", rng.uniform(0.5, 1.5, c).astype(np.float32)),
            init(prefix + "_b", f32(c)),
            init(prefix + "_m", f32(c, scale=0.3)),
            init(prefix + "_v", rng.uniform(0.5, 2.0, c).astype(np.float32))]


def bn(prefix, x, y, **kw):
    return helper.make_node("BatchNormalization", [x, prefix + "_s", prefix + "_b", prefix + "_m", prefix + "_v"],
                            [y], **kw)


# Conv + BN + Relu
save("conv_bn_relu",
     [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
      bn("bn", "c", "n", epsilon=1e-3),
      helper.make_node("Relu", ["n"], ["y"])],
     [vi("x", [2, 3, 8, 8])], [vi("y", [2, 4, 8, 8])],
     [init("w", f32(4, 3, 3, 3)), init("b", f32(4))] + bn_params("bn", 4))

# grouped Conv without bias + BN + Clip(0, 6) from constant inputs
save("conv_bn_clip",
     [helper.make_node("Conv", ["x", "w"], ["c"], group=2, strides=[2, 2]),
      bn("bn", "c", "n"),
      helper.make_node("Clip", ["n", "lo", "hi"], ["y"])],
     [vi("x", [1, 4, 9, 9])], [vi("y", [1, 6, 4, 4])],
     [init("w", f32(6, 2, 3, 3)), init("lo", np.float32(0)), init("hi", np.float32(6))] + bn_params("bn", 6))

# Conv + LeakyRelu, Conv + HardSigmoid, Conv + Sigmoid, Conv + Tanh; a Conv
# whose output is read twice stays unfused
save("conv_acts",
     [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
      helper.make_node("LeakyRelu", ["c1"], ["a1"], alpha=0.2),
      helper.make_node("Conv", ["a1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
      helper.make_node("HardSigmoid", ["c2"], ["a2"], alpha=0.3, beta=0.4),
      helper.make_node("Conv", ["a2", "w3", "b3"], ["c3"]),
      helper.make_node("Sigmoid", ["c3"], ["a3"]),
      helper.make_node("Conv", ["a3", "w4", "b4"], ["c4"]),
      helper.make_node("Tanh", ["c4"], ["a4"]),
      helper.make_node("Conv", ["a4", "w5"], ["c5"]),
      helper.make_node("Relu", ["c5"], ["r5"]),
      helper.make_node("Add", ["c5", "r5"], ["y"])],
     [vi("x", [1, 3, 6, 6])], [vi("y", [1, 2, 6, 6])],
     [init("w1", f32(4, 3, 3, 3)), init("b1", f32(4)), init("w2", f32(4, 4, 3, 3)),
      init("w3", f32(5, 4, 1, 1)), init("b3", f32(5)), init("w4", f32(3, 5, 1, 1)), init("b4", f32(3)),
      init("w5", f32(2, 3, 1, 1))])

# Gemm(transB=1, alpha, beta) + BN + Sigmoid
save("gemm_bn",
     [helper.make_node("Gemm", ["x", "w", "c"], ["g"], transB=1, alpha=0.5, beta=2.0),
      bn("bn", "g", "n"),
      helper.make_node("Sigmoid", ["n"], ["y"])],
     [vi("x", [4, 8])], [vi("y", [4, 6])],
     [init("w", f32(6, 8)), init("c", f32(6))] + bn_params("bn", 6))

# Gemm(transB=0) without C + BN + LeakyRelu
save("gemm_bn_nobias",
     [helper.make_node("Gemm", ["x", "w"], ["g"]),
      bn("bn", "g", "n"),
      helper.make_node("LeakyRelu", ["n"], ["y"])],
     [vi("x", [3, 8])], [vi("y", [3, 5])],
     [init("w", f32(8, 5))] + bn_params("bn", 5))

# MatMul + Add + Relu on a 2-D input -> Gemm -> FusedGemm
save("matmul_add_relu",
     [helper.make_node("MatMul", ["x", "w"], ["m"]),
      helper.make_node("Add", ["m", "b"], ["a"]),
      helper.make_node("Relu", ["a"], ["y"])],
     [vi("x", [4, 8])], [vi("y", [4, 5])],
     [init("w", f32(8, 5)), init("b", f32(5))])

# the same on a 3-D input: MatMul stays
save("matmul_add_relu_3d",
     [helper.make_node("MatMul", ["x", "w"], ["m"]),
      helper.make_node("Add", ["b", "m"], ["a"]),
      helper.make_node("Relu", ["a"], ["y"])],
     [vi("x", [2, 4, 8])], [vi("y", [2, 4, 5])],
     [init("w", f32(8, 5)), init("b", f32(5))])

# MatMul + Add + BN + Tanh (2-D), and MatMul + BN without bias
save("matmul_bn",
     [helper.make_node("MatMul", ["x", "w"], ["m"]),
      helper.make_node("Add", ["m", "b"], ["a"]),
      bn("bn", "a", "n"),
      helper.make_node("Tanh", ["n"], ["t"]),
      helper.make_node("MatMul", ["t", "w2"], ["m2"]),
      bn("bn2", "m2", "y")],
     [vi("x", [4, 8])], [vi("y", [4, 3])],
     [init("w", f32(8, 5)), init("b", f32(5)), init("w2", f32(5, 3))] + bn_params("bn", 5) + bn_params("bn2", 3))

# opset 6: Add and Gemm broadcast only with broadcast=1, BN has is_test
save("opset6_mlp",
     [helper.make_node("MatMul", ["x", "w"], ["m"]),
      helper.make_node("Add", ["m", "b"], ["a"], broadcast=1),
      helper.make_node("Relu", ["a"], ["r"]),
      helper.make_node("Gemm", ["r", "w2", "c2"], ["g"], transB=1, broadcast=1),
      bn("bn", "g", "y", is_test=1)],
     [vi("x", [4, 8])], [vi("y", [4, 3])],
     [init("w", f32(8, 5)), init("b", f32(5)), init("w2", f32(3, 5)), init("c2", f32(3))] + bn_params("bn", 3),
     opset=6)

# Identity / Dropout chains, a dead branch, an unused initializer; the
# graph output is an Identity's output
save("identity_dropout",
     [helper.make_node("Identity", ["x"], ["i1"]),
      helper.make_node("Relu", ["i1"], ["r"]),
      helper.make_node("Dropout", ["r", "ratio"], ["d"]),
      helper.make_node("Sigmoid", ["x"], ["dead1"]),
      helper.make_node("Neg", ["dead1"], ["dead2"]),
      helper.make_node("Identity", ["d"], ["i2"]),
      helper.make_node("Mul", ["i2", "k"], ["m"]),
      helper.make_node("Identity", ["m"], ["y"]),
      helper.make_node("Identity", ["x"], ["y2"])],
     [vi("x", [3, 4])], [vi("y", [3, 4]), vi("y2", [3, 4])],
     [init("ratio", np.float32(0.3)), init("k", f32(4)), init("unused", f32(100))])

# Dropout in training mode with ratio 0 (Swin's attention, as PyTorch
# exports it): the identity, bypassed; the same with its mask read stays
save("dropout_train_zero",
     [helper.make_node("Relu", ["x"], ["r"]),
      helper.make_node("Dropout", ["r", "zero", "yes"], ["d"]),
      helper.make_node("Mul", ["d", "k"], ["y"]),
      helper.make_node("Dropout", ["x", "zero", "yes"], ["y2", "mask"])],
     [vi("x", [3, 4])], [vi("y", [3, 4]), vi("y2", [3, 4]), vi("mask", [3, 4], TensorProto.BOOL)],
     [init("zero", np.float32(0.0)), init("yes", np.array(True)), init("k", f32(4))])

# Constant nodes and constant arithmetic
save("const_fold",
     [helper.make_node("Constant", [], ["c1"], value=init("cv", f32(4))),
      helper.make_node("Add", ["c1", "k"], ["c2"]),
      helper.make_node("Mul", ["c2", "c2"], ["c3"]),
      helper.make_node("Shape", ["k"], ["ks"]),
      helper.make_node("Cast", ["ks"], ["ksf"], to=TensorProto.FLOAT),
      helper.make_node("Mul", ["x", "c3"], ["xm"]),
      helper.make_node("Add", ["xm", "ksf"], ["y"])],
     [vi("x", [2, 4])], [vi("y", [2, 4])],
     [init("k", f32(4))])

# LayerNorm spelled by hand: Mul(d, d) for the square, Reciprocal + Mul for
# the division, opset 18 (ReduceMean axes as an input), no beta
save("layernorm_recip_op18",
     [helper.make_node("ReduceMean", ["x", "axes"], ["mu"]),
      helper.make_node("Sub", ["x", "mu"], ["d"]),
      helper.make_node("Mul", ["d", "d"], ["sq"]),
      helper.make_node("ReduceMean", ["sq", "axes"], ["var"]),
      helper.make_node("Add", ["var", "eps"], ["ve"]),
      helper.make_node("Sqrt", ["ve"], ["sd"]),
      helper.make_node("Reciprocal", ["sd"], ["rs"]),
      helper.make_node("Mul", ["d", "rs"], ["nrm"]),
      helper.make_node("Mul", ["gamma", "nrm"], ["y"])],
     [vi("x", [3, 7, 10])], [vi("y", [3, 7, 10])],
     [init("axes", np.array([-1], np.int64)), init("eps", np.float32(1e-6)), init("gamma", f32(10))], opset=18)

# LayerNorm over the last two axes without gamma/beta (shape from the input)
save("layernorm_2axes",
     [helper.make_node("ReduceMean", ["x"], ["mu"], axes=[-2, -1]),
      helper.make_node("Sub", ["x", "mu"], ["d"]),
      helper.make_node("Pow", ["d", "two"], ["sq"]),
      helper.make_node("ReduceMean", ["sq"], ["var"], axes=[-1, -2]),
      helper.make_node("Add", ["eps", "var"], ["ve"]),
      helper.make_node("Sqrt", ["ve"], ["sd"]),
      helper.make_node("Div", ["d", "sd"], ["y"])],
     [vi("x", [2, 3, 4, 5])], [vi("y", [2, 3, 4, 5])],
     [init("two", np.float32(2)), init("eps", np.float32(1e-5))])

# GELU by hand in the other operand orders
def gelu_model(name, form):
    nodes = []
    if form == "mul_sqrt":
        nodes.append(helper.make_node("Mul", ["x", "inv_sqrt2"], ["a"]))
    else:
        nodes.append(helper.make_node("Div", ["x", "sqrt2"], ["a"]))
    nodes += [helper.make_node("Erf", ["a"], ["e"]),
              helper.make_node("Add", ["one", "e"], ["c"])]
    if form == "half_first":
        nodes += [helper.make_node("Mul", ["half", "x"], ["h"]),
                  helper.make_node("Mul", ["c", "h"], ["y"])]
    elif form == "half_c":
        nodes += [helper.make_node("Mul", ["c", "half"], ["h"]),
                  helper.make_node("Mul", ["x", "h"], ["y"])]
    else:
        nodes += [helper.make_node("Mul", ["c", "x"], ["h"]),
                  helper.make_node("Mul", ["h", "half"], ["y"])]
    save(name, nodes, [vi("x", [4, 9])], [vi("y", [4, 9])],
         [init("sqrt2", np.float32(1.4142135)), init("inv_sqrt2", np.float32(0.70710678)),
          init("one", np.float32(1)), init("half", np.float32(0.5))])


gelu_model("gelu_mul_sqrt", "mul_sqrt")
gelu_model("gelu_half_first", "half_first")
gelu_model("gelu_half_c", "half_c")

# a Conv whose output is a graph output, and an activation reading a graph
# input: nothing to fuse
save("no_fuse",
     [helper.make_node("Conv", ["x", "w"], ["c"]),
      helper.make_node("Relu", ["c"], ["y"]),
      helper.make_node("Relu", ["x"], ["y3"])],
     [vi("x", [1, 2, 4, 4])], [vi("c", [1, 2, 4, 4]), vi("y", [1, 2, 4, 4]), vi("y3", [1, 2, 4, 4])],
     [init("w", f32(2, 2, 1, 1))])

# SiLU: x * Sigmoid(x) in both operand orders after two Convs and a Gemm
# (-> FusedConv/FusedGemm with QuickGelu), and on a graph input (a
# QuickGelu stays)
save("silu",
     [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
      helper.make_node("Sigmoid", ["c1"], ["s1"]),
      helper.make_node("Mul", ["c1", "s1"], ["a1"]),
      helper.make_node("Conv", ["a1", "w2"], ["c2"]),
      helper.make_node("Sigmoid", ["c2"], ["s2"]),
      helper.make_node("Mul", ["s2", "c2"], ["a2"]),
      helper.make_node("Flatten", ["a2"], ["f"]),
      helper.make_node("Gemm", ["f", "wg", "bg"], ["g"], transB=1),
      helper.make_node("Sigmoid", ["g"], ["s3"]),
      helper.make_node("Mul", ["g", "s3"], ["y"]),
      helper.make_node("Sigmoid", ["x2"], ["s4"]),
      helper.make_node("Mul", ["s4", "x2"], ["y2"])],
     [vi("x", [1, 3, 5, 5]), vi("x2", [2, 7])], [vi("y", [1, 6]), vi("y2", [2, 7])],
     [init("w1", f32(4, 3, 3, 3)), init("b1", f32(4)), init("w2", f32(2, 4, 1, 1)),
      init("wg", f32(6, 50, scale=0.3)), init("bg", f32(6))])

# near misses: a Sigmoid read twice, Mul(x, Sigmoid(z)) with z != x (the
# squeeze-and-excitation gate), Mul(Sigmoid(x), Sigmoid(x))
save("silu_nofuse",
     [helper.make_node("Conv", ["x", "w1"], ["c1"]),
      helper.make_node("Sigmoid", ["c1"], ["s1"]),
      helper.make_node("Mul", ["c1", "s1"], ["a1"]),
      helper.make_node("Add", ["a1", "s1"], ["y"]),
      helper.make_node("Sigmoid", ["z"], ["s2"]),
      helper.make_node("Mul", ["x", "s2"], ["y2"]),
      helper.make_node("Sigmoid", ["x"], ["s3"]),
      helper.make_node("Mul", ["s3", "s3"], ["y3"])],
     [vi("x", [1, 2, 3, 3]), vi("z", [1, 2, 1, 1])],
     [vi("y", [1, 2, 3, 3]), vi("y2", [1, 2, 3, 3]), vi("y3", [1, 2, 3, 3])],
     [init("w1", f32(2, 2, 1, 1))])

# HardSwish as exporters write it below opset 14, x * HardSigmoid(x):
# PyTorch's alpha 1/6 after a Conv (-> FusedConv with HardSwish), other
# alpha and beta, the other operand order, after a Gemm (-> FusedGemm),
# on a graph input (an ai.speedster HardSwish stays); and the
# squeeze-and-excitation gate Mul(x, HardSigmoid(z)), z != x, left alone
save("hardswish",
     [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
      helper.make_node("HardSigmoid", ["c1"], ["h1"], alpha=1.0 / 6),
      helper.make_node("Mul", ["c1", "h1"], ["a1"]),
      helper.make_node("Flatten", ["a1"], ["f"]),
      helper.make_node("Gemm", ["f", "wg", "bg"], ["g"], transB=1),
      helper.make_node("HardSigmoid", ["g"], ["h2"], alpha=0.3, beta=0.4),
      helper.make_node("Mul", ["h2", "g"], ["y"]),
      helper.make_node("HardSigmoid", ["x2"], ["h3"], alpha=1.0 / 6),
      helper.make_node("Mul", ["x2", "h3"], ["y2"]),
      helper.make_node("GlobalAveragePool", ["a1"], ["p"]),
      helper.make_node("HardSigmoid", ["p"], ["h4"], alpha=1.0 / 6),
      helper.make_node("Mul", ["a1", "h4"], ["y3"])],
     [vi("x", [1, 3, 5, 5]), vi("x2", [2, 7])],
     [vi("y", [1, 6]), vi("y2", [2, 7]), vi("y3", [1, 4, 5, 5])],
     [init("w1", f32(4, 3, 3, 3)), init("b1", f32(4)), init("wg", f32(6, 100, scale=0.3)), init("bg", f32(6))])

# ai.onnx HardSwish (opset 14) after a Conv joins it as well
save("hardswish_op14",
     [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
      helper.make_node("HardSwish", ["c1"], ["y"])],
     [vi("x", [1, 3, 6, 6])], [vi("y", [1, 5, 6, 6])],
     [init("w1", f32(5, 3, 3, 3)), init("b1", f32(5))], opset=14)

# DenseNet's pre-activation: Concat -> BatchNormalization -> Relu -> Conv
# (nothing before the BN to fold it into: ChannelAffine with the Relu), a
# BN on a graph input (ChannelAffine alone), and a BN after a Conv (folded)
save("bn_affine",
     [helper.make_node("Concat", ["x", "x2"], ["cat"], axis=1),
      helper.make_node("BatchNormalization", ["cat", "g1", "b1", "m1", "v1"], ["bn"], epsilon=1e-3),
      helper.make_node("Relu", ["bn"], ["r"]),
      helper.make_node("Conv", ["r", "w1"], ["c"]),
      helper.make_node("BatchNormalization", ["c", "g2", "b2", "m2", "v2"], ["y"]),
      helper.make_node("BatchNormalization", ["x2", "g3", "b3", "m3", "v3"], ["y2"])],
     [vi("x", [2, 3, 5, 4]), vi("x2", [2, 2, 5, 4])], [vi("y", [2, 4, 5, 4]), vi("y2", [2, 2, 5, 4])],
     [init("g1", f32(5)), init("b1", f32(5)), init("m1", f32(5)), init("v1", np.abs(f32(5)) + 0.5),
      init("w1", f32(4, 5, 1, 1)),
      init("g2", f32(4)), init("b2", f32(4)), init("m2", f32(4)), init("v2", np.abs(f32(4)) + 0.5),
      init("g3", f32(2)), init("b3", f32(2)), init("m3", f32(2)), init("v3", np.abs(f32(2)) + 0.5)])

# Pads: a zero-fill of the spatial axes before a Conv (into its pads, with
# the Conv's own) and before an AveragePool (Inception's avg_pool2d with
# padding: its pads, counted), a Pad by zeros before an AveragePool
# (DenseNet's transitions: removed), and ones that stay: value 1, the
# channel axis, edge mode, before a pool that does not count its own pads
save("pad_conv",
     [helper.make_node("Pad", ["x", "p1"], ["xp"]),
      helper.make_node("Conv", ["xp", "w1"], ["y"], pads=[1, 0, 1, 2]),
      helper.make_node("Pad", ["x", "p0"], ["x0"]),
      helper.make_node("AveragePool", ["x0"], ["y2"], kernel_shape=[2, 2], strides=[2, 2]),
      helper.make_node("Pad", ["x", "p1", "one"], ["x1"]),
      helper.make_node("Conv", ["x1", "w1"], ["y3"]),
      helper.make_node("Pad", ["x", "pc"], ["xc"]),
      helper.make_node("Conv", ["xc", "w2"], ["y4"]),
      helper.make_node("Pad", ["x", "p1"], ["xe"], mode="edge"),
      helper.make_node("Conv", ["xe", "w1"], ["y5"]),
      helper.make_node("Pad", ["x", "p1"], ["xa"]),
      helper.make_node("AveragePool", ["xa"], ["y6"], kernel_shape=[3, 3], strides=[1, 1]),
      helper.make_node("Pad", ["x", "p1"], ["xb"]),
      helper.make_node("AveragePool", ["xb"], ["y7"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
     [vi("x", [1, 3, 6, 7])],
     [vi("y", [1, 4, 9, 10]), vi("y2", [1, 3, 3, 3]), vi("y3", [1, 4, 7, 8]), vi("y4", [1, 4, 6, 7]),
      vi("y5", [1, 4, 7, 8]), vi("y6", [1, 3, 6, 7]), vi("y7", [1, 3, 9, 8])],
     [init("p1", np.array([0, 0, 1, 2, 0, 0, 1, 0], np.int64)), init("p0", np.zeros(8, np.int64)),
      init("pc", np.array([0, 1, 0, 0, 0, 0, 0, 0], np.int64)), init("one", np.array(1.0, np.float32)),
      init("w1", f32(4, 3, 2, 2)), init("w2", f32(4, 4, 1, 1))])

# com.microsoft QuickGelu (alpha 1.702) after a Conv, a FusedConv without
# activation (Conv + residual) followed by QuickGelu, Gemm + Gelu
save("ms_acts",
     [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
      helper.make_node("QuickGelu", ["c1"], ["a1"], domain="com.microsoft"),
      helper.make_node("FusedConv", ["a1", "w2", "b2", "a1"], ["c2"], domain="com.microsoft", pads=[1, 1, 1, 1]),
      helper.make_node("QuickGelu", ["c2"], ["a2"], domain="com.microsoft", alpha=0.8),
      helper.make_node("Flatten", ["a2"], ["f"]),
      helper.make_node("Gemm", ["f", "wg", "bg"], ["g"]),
      helper.make_node("Gelu", ["g"], ["y"], domain="com.microsoft")],
     [vi("x", [1, 3, 4, 4])], [vi("y", [1, 5])],
     [init("w1", f32(3, 3, 3, 3)), init("b1", f32(3)), init("w2", f32(3, 3, 3, 3, scale=0.3)), init("b2", f32(3)),
      init("wg", f32(48, 5, scale=0.3)), init("bg", f32(5))],
     extra_opsets=[("com.microsoft", 1)])

# MatMul + bias on a 3-D input, Relu between two of them: with samples
# Reshape -> FusedGemm -> Gemm -> Reshape (the Reshape pair between the two
# Gemms cancels); a [1, 1, N] bias
save("matmul_bias_3d",
     [helper.make_node("MatMul", ["x", "w1"], ["m1"]),
      helper.make_node("Add", ["m1", "b1"], ["a1"]),
      helper.make_node("Relu", ["a1"], ["r1"]),
      helper.make_node("MatMul", ["r1", "w2"], ["m2"]),
      helper.make_node("Add", ["b2", "m2"], ["y"])],
     [vi("x", [2, 3, 8])], [vi("y", [2, 3, 5])],
     [init("w1", f32(8, 16)), init("b1", f32(16)), init("w2", f32(16, 5)), init("b2", f32(1, 1, 5))])

# near misses: a W that is not a constant, a bias that is not a row vector,
# a MatMul result read twice
save("matmul_nofuse",
     [helper.make_node("MatMul", ["x", "wx"], ["m1"]),
      helper.make_node("Add", ["m1", "b"], ["y1"]),
      helper.make_node("MatMul", ["x", "w"], ["m2"]),
      helper.make_node("Add", ["m2", "bfull"], ["y2"]),
      helper.make_node("MatMul", ["x", "w"], ["m3"]),
      helper.make_node("Add", ["m3", "b"], ["a3"]),
      helper.make_node("Mul", ["a3", "m3"], ["y3"])],
     [vi("x", [4, 8]), vi("wx", [8, 5])], [vi("y1", [4, 5]), vi("y2", [4, 5]), vi("y3", [4, 5])],
     [init("w", f32(8, 5)), init("b", f32(5)), init("bfull", f32(4, 5))])

# self-attention as exporters write it: Q, K, V projections of one input
# (MatMul + Add + Reshape + Transpose), scores Div by a scalar, the output
# projection after Transpose + Reshape; a second head block scales by Mul
def attention_nodes(p, x, scale_op):
    n = [helper.make_node("MatMul", [x, p + "wq"], [p + "mq"]),
         helper.make_node("Add", [p + "bq", p + "mq"], [p + "q"]),
         helper.make_node("Reshape", [p + "q", "heads"], [p + "qh"]),
         helper.make_node("Transpose", [p + "qh"], [p + "qt"], perm=[0, 2, 1, 3]),
         helper.make_node("MatMul", [x, p + "wk"], [p + "mk"]),
         helper.make_node("Add", [p + "mk", p + "bk"], [p + "k"]),
         helper.make_node("Reshape", [p + "k", "heads"], [p + "kh"]),
         helper.make_node("Transpose", [p + "kh"], [p + "kt"], perm=[0, 2, 3, 1]),
         helper.make_node("MatMul", [x, p + "wv"], [p + "mv"]),
         helper.make_node("Add", [p + "mv", p + "bv"], [p + "v"]),
         helper.make_node("Reshape", [p + "v", "heads"], [p + "vh"]),
         helper.make_node("Transpose", [p + "vh"], [p + "vt"], perm=[0, 2, 1, 3]),
         helper.make_node("MatMul", [p + "qt", p + "kt"], [p + "sc"])]
    if scale_op == "Div":
        n.append(helper.make_node("Div", [p + "sc", "sqrt_d"], [p + "ss"]))
    else:
        n.append(helper.make_node("Mul", ["inv_sqrt_d", p + "sc"], [p + "ss"]))
    n += [helper.make_node("Softmax", [p + "ss"], [p + "pr"], axis=-1),
          helper.make_node("MatMul", [p + "pr", p + "vt"], [p + "o"]),
          helper.make_node("Transpose", [p + "o"], [p + "ot"], perm=[0, 2, 1, 3]),
          helper.make_node("Reshape", [p + "ot", "merged"], [p + "om"]),
          helper.make_node("MatMul", [p + "om", p + "wo"], [p + "mo"]),
          helper.make_node("Add", [p + "mo", p + "bo"], [p + "out"])]
    inits = [init(p + k, f32(8, 8, scale=0.5)) for k in ("wq", "wk", "wv", "wo")]
    inits += [init(p + k, f32(8)) for k in ("bq", "bk", "bv", "bo")]
    return n, inits


n1, i1 = attention_nodes("l1_", "x", "Div")
n2, i2 = attention_nodes("l2_", "l1_out", "Mul")
save("attention", n1 + n2, [vi("x", [1, 6, 8])], [vi("l2_out", [1, 6, 8])],
     i1 + i2 + [init("heads", np.array([1, 6, 2, 4], np.int64)), init("merged", np.array([1, 6, 8], np.int64)),
                init("sqrt_d", np.float32(2.0)), init("inv_sqrt_d", np.float32(0.5))])

# ViT's attention input: Transpose moving a size-1 dim, one fused Q/K/V
# projection sliced along its last dim, the Q scale before the MatMul
save("fused_qkv",
     [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
      helper.make_node("MatMul", ["xt", "w"], ["m"]),
      helper.make_node("Add", ["b", "m"], ["qkv"]),
      helper.make_node("Slice", ["qkv", "s0", "s1", "ax"], ["q"]),
      helper.make_node("Slice", ["qkv", "s1", "s2", "ax"], ["k"]),
      helper.make_node("Slice", ["qkv", "s2", "s3", "ax"], ["v"]),
      helper.make_node("Reshape", ["q", "heads"], ["qh"]),
      helper.make_node("Reshape", ["k", "heads"], ["kh"]),
      helper.make_node("Reshape", ["v", "heads"], ["vh"]),
      helper.make_node("Transpose", ["qh"], ["qt"], perm=[1, 0, 2]),
      helper.make_node("Transpose", ["kh"], ["kt"], perm=[1, 2, 0]),
      helper.make_node("Transpose", ["vh"], ["vt"], perm=[1, 0, 2]),
      helper.make_node("Div", ["qt", "sqrt_d"], ["qs"]),
      helper.make_node("MatMul", ["qs", "kt"], ["sc"]),
      helper.make_node("Softmax", ["sc"], ["pr"], axis=-1),
      helper.make_node("MatMul", ["pr", "vt"], ["y"])],
     [vi("x", [1, 5, 8])], [vi("y", [2, 5, 4])],
     [init("w", f32(8, 24, scale=0.5)), init("b", f32(24)), init("s0", np.array([0], np.int64)),
      init("s1", np.array([8], np.int64)), init("s2", np.array([16], np.int64)), init("s3", np.array([24], np.int64)),
      init("ax", np.array([-1], np.int64)), init("heads", np.array([5, 2, 4], np.int64)),
      init("sqrt_d", np.float32(2.0))])

# residual blocks: Add(Conv, x) + Relu, Add(r, Conv without bias); a
# broadcast constant added to a Conv stays an Add
save("conv_residual",
     [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
      helper.make_node("Add", ["c1", "x"], ["a"]),
      helper.make_node("Relu", ["a"], ["r"]),
      helper.make_node("Conv", ["r", "w2"], ["c2"]),
      helper.make_node("Add", ["r", "c2"], ["y"]),
      helper.make_node("Conv", ["y", "w3", "b3"], ["c3"]),
      helper.make_node("Add", ["c3", "k"], ["y2"])],
     [vi("x", [1, 4, 5, 5])], [vi("y", [1, 4, 5, 5]), vi("y2", [1, 4, 5, 5])],
     [init("w1", f32(4, 4, 3, 3, scale=0.3)), init("b1", f32(4)), init("w2", f32(4, 4, 1, 1)),
      init("w3", f32(4, 4, 1, 1)), init("b3", f32(4)), init("k", f32(4, 1, 1))])


# Depthwise-separable chains: channels-last (NhwcConv) when a chain holds a
# depthwise convolution, has 4+ convolutions per layout change and small
# activations; a stem, four depthwise + pointwise blocks (one with a
# residual), then a mean over the plane.
def ds_chain(name, c, h, w, se=False, batch=1):
    nodes = [helper.make_node("Conv", ["x", "ws", "bs"], ["s"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["s"], ["h0"])]
    inits = [init("ws", f32(c, 3, 3, 3, scale=0.3)), init("bs", f32(c))]
    for i in range(4):
        x, d, p = "h%d" % i, "d%d" % i, "p%d" % i
        nodes += [helper.make_node("Conv", [x, "wd%d" % i, "bd%d" % i], [d + "c"], pads=[1, 1, 1, 1], group=c),
                  helper.make_node("Clip", [d + "c", "lo", "hi"], [d])]
        if se and i == 1:  # squeeze-and-excitation reads the depthwise output outside the chain
            nodes += [helper.make_node("GlobalAveragePool", [d], [d + "g"]),
                      helper.make_node("Sigmoid", [d + "g"], [d + "s"]),
                      helper.make_node("Mul", [d, d + "s"], [d + "m"])]
            d = d + "m"
        nodes.append(helper.make_node("Conv", [d, "wp%d" % i, "bp%d" % i], [p]))
        if i == 2:
            nodes.append(helper.make_node("Add", [p, x], [p + "r"]))
            p = p + "r"
        nodes.append(helper.make_node("Relu", [p], ["h%d" % (i + 1)]))
        inits += [init("wd%d" % i, f32(c, 1, 3, 3, scale=0.3)), init("bd%d" % i, f32(c)),
                  init("wp%d" % i, f32(c, c, 1, 1, scale=0.3)), init("bp%d" % i, f32(c))]
    nodes.append(helper.make_node("ReduceMean", ["h4"], ["y"], axes=[2, 3], keepdims=0))
    inits += [init("lo", np.float32(0.0)), init("hi", np.float32(6.0))]
    save(name, nodes, [vi("x", [batch, 3, h, w])], [vi("y", [batch, c])], inits)


ds_chain("ds_chain", 24, 20, 10)         # 24 x 10 x 5 = 1200 values an activation
ds_chain("ds_chain_se", 24, 20, 10, se=True)
ds_chain("ds_chain_big", 16, 512, 128)   # 16 x 256 x 64 = 262144 values: stays channels-first
# 24 x 20 x 20 = 9600 values an image, 192000 in the batch: the size that
# counts is an image's (the batch only lengthens the channels-last GEMMs)
ds_chain("ds_chain_batch", 24, 40, 40, batch=20)

# A squeezenet fire module: a 1x1 squeeze, then a 1x1 and a 3x3 expand of it
# concatenated along the channels. In a batch the Concat would copy: both
# expands become one ConvConcat. At batch 1 the memory plan's in-place
# Concat already costs nothing, and the graph stays as it is.
def fire(name, batch):
    nodes = [helper.make_node("Conv", ["x", "ws", "bs"], ["s0"]),
             helper.make_node("Relu", ["s0"], ["s"]),
             helper.make_node("Conv", ["s", "w1", "b1"], ["e1c"]),
             helper.make_node("Relu", ["e1c"], ["e1"]),
             helper.make_node("Conv", ["s", "w3", "b3"], ["e3c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["e3c"], ["e3"]),
             helper.make_node("Concat", ["e1", "e3"], ["y"], axis=1)]
    inits = [init("ws", f32(8, 16, 1, 1, scale=0.3)), init("bs", f32(8)),
             init("w1", f32(16, 8, 1, 1, scale=0.3)), init("b1", f32(16)),
             init("w3", f32(16, 8, 3, 3, scale=0.3)), init("b3", f32(16))]
    save(name, nodes, [vi("x", [batch, 16, 9, 9])], [vi("y", [batch, 32, 9, 9])], inits)


fire("fire", 1)
fire("fire_batch", 3)

# ---------------------------------------------------------------- torch
try:
    import torch
except ImportError:
    torch = None

if torch is not None:
    torch.manual_seed(0)

    def export(name, mod, args, opset=13, dynamic_axes=None, names=None):
        mod.eval()
        names = names or ["x"]
        # TorchScript's exporter: torch >= 2.9 defaults to dynamo's, whose
        # graphs (static shapes, its own spellings) are not what is tested
        extra = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
        torch.onnx.export(mod, args, os.path.join(OUT, name + ".onnx"), opset_version=opset,
                          input_names=names, output_names=["y"], dynamic_axes=dynamic_axes, **extra)

    class LN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(16, 16)
            self.ln = torch.nn.LayerNorm(16)
            with torch.no_grad():
                self.ln.weight.uniform_(0.5, 1.5)
                self.ln.bias.normal_()

        def forward(self, x):
            return self.ln(self.lin(x))

    export("torch_layernorm", LN(), torch.randn(2, 5, 16))

    class Gelu(torch.nn.Module):
        def __init__(self, approx):
            super().__init__()
            self.lin = torch.nn.Linear(12, 12)
            self.g = torch.nn.GELU(approximate=approx)

        def forward(self, x):
            return self.g(self.lin(x))

    export("torch_gelu_erf", Gelu("none"), torch.randn(3, 4, 12))

    class Mlp(torch.nn.Module):
        def __init__(self, act):
            super().__init__()
            self.fc1 = torch.nn.Linear(12, 24)
            self.act = act
            self.fc2 = torch.nn.Linear(24, 12)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))

    export("torch_mlp_gelu", Mlp(torch.nn.GELU()), torch.randn(2, 5, 12))
    export("torch_mlp_silu", Mlp(torch.nn.SiLU()), torch.randn(2, 5, 12))
    export("torch_gelu_tanh", Gelu("tanh"), torch.randn(3, 4, 12))

    class Flatten(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.fc = torch.nn.Linear(4 * 5 * 5, 6)

        def forward(self, x):
            h = torch.relu(self.conv(x))
            return self.fc(h.view(h.size(0), -1))

    export("torch_reshape_chain", Flatten(), torch.randn(2, 3, 5, 5), dynamic_axes={"x": {0: "batch"}})

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(8)
            self.fc = torch.nn.Linear(8, 8)
            self.ln = torch.nn.LayerNorm(8)
            self.drop = torch.nn.Dropout(0.1)

        def forward(self, x):
            h = torch.relu(self.bn(self.conv(x)))
            h = h.mean(dim=(2, 3))
            h = self.drop(torch.nn.functional.gelu(self.ln(self.fc(h))))
            return h

    export("torch_block", Block(), torch.randn(2, 3, 6, 6), dynamic_axes={"x": {0: "batch"}})

print("pass models written to", OUT)
