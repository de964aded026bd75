#!/usr/bin/python3
"""Write the bad-input cases that run_bad.sh feeds to speedster.

usage: make_bad.py WORK_DIR

Every case is a folder WORK_DIR/<case>/ holding a model file (named after the
case, so that a message naming the file can be told from one that does not)
and an input folder in/ (input_0.pb).  WORK_DIR/cases.tsv lists, one case a
line and tab-separated:

  case  commands  model_path  input_dir  expected_exit  regex

commands is "info,run" or "run"; regex is an extended regex (case-insensitive)
that the one-line error message must match: the node, value, initializer or
file at fault, or the word for the problem.

The base model is tiny and valid: Z = Relu(MatMul(input_x[2,3], W_init[3,4])),
nodes "mm" and "act".  Each case breaks one thing in it.
"""
import os
import random
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def varint(v):
    out = bytearray()
    v &= (1 << 64) - 1  # negative int64 values are ten-byte varints
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wire):
    return varint((field << 3) | wire)


def weight_tensor():
    w = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    return numpy_helper.from_array(w, "W_init")


def model(nodes=None, inits=None, inputs=None, outputs=None):
    x = helper.make_tensor_value_info("input_x", TensorProto.FLOAT, [2, 3])
    z = helper.make_tensor_value_info("Z", TensorProto.FLOAT, [2, 4])
    if nodes is None:
        nodes = [helper.make_node("MatMul", ["input_x", "W_init"], ["Y"], name="mm"),
                 helper.make_node("Relu", ["Y"], ["Z"], name="act")]
    g = helper.make_graph(nodes, "bad_input_base",
                          inputs if inputs is not None else [x],
                          outputs if outputs is not None else [z],
                          initializer=inits if inits is not None else [weight_tensor()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                             producer_name="speedster-badinput")


def raw_weight(dims, nbytes):
    """An initializer W_init with the given dims and raw_data of nbytes bytes,
    built by hand: numpy_helper refuses the inconsistent ones."""
    t = TensorProto()
    t.name = "W_init"
    t.data_type = TensorProto.FLOAT
    t.dims.extend(dims)
    t.raw_data = bytes(range(256)) * (nbytes // 256) + bytes(nbytes % 256)
    return t


def without_graph(m):
    m2 = onnx.ModelProto()
    m2.CopyFrom(m)
    m2.ClearField("graph")
    return m2.SerializeToString()


def main(argv):
    if len(argv) != 2:
        print("usage: make_bad.py WORK_DIR", file=sys.stderr)
        return 2
    work = os.path.abspath(argv[1])
    os.makedirs(work, exist_ok=True)
    rng = random.Random(1234)
    good = model()
    onnx.checker.check_model(good)
    good_bytes = good.SerializeToString()
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    rows = []

    def case(name, model_bytes=None, commands="info,run", model_name=None,
             input_arr=None, input_bytes=None, no_input=False, expect=1, regex="."):
        d = os.path.join(work, name)
        ind = os.path.join(d, "in")
        os.makedirs(ind, exist_ok=True)
        for f in os.listdir(ind):
            os.remove(os.path.join(ind, f))
        mpath = os.path.join(d, model_name or (name + ".onnx"))
        if model_bytes is not None:
            with open(mpath, "wb") as f:
                f.write(model_bytes)
        if not no_input:
            if input_bytes is None:
                arr = x if input_arr is None else input_arr
                input_bytes = numpy_helper.from_array(arr, "input_x").SerializeToString()
            with open(os.path.join(ind, "input_0.pb"), "wb") as f:
                f.write(input_bytes)
        rows.append((name, commands, mpath, ind, str(expect), regex))

    # A control: the valid model must pass, or every "exit 1" below means nothing.
    case("valid_control", good_bytes, expect=0)

    # --- the file itself
    case("truncated", good_bytes[: len(good_bytes) * 3 // 5],
         regex=r"truncat|unexpected end|end of (file|data|input|buffer)|past the end|short")
    case("random_bytes", bytes(rng.getrandbits(8) for _ in range(4096)),
         regex=r"random_bytes\.onnx")
    case("empty_file", b"", regex=r"empty_file\.onnx|empty|no graph|graph")
    case("nonexistent_model", None, model_name="no_such_dir/missing_model.onnx",
         regex=r"missing_model\.onnx")

    # --- the protobuf wire format
    # ModelProto.graph (field 7, a message) sent as a varint: a decoder must not
    # read it as a graph; skipping it leaves a model without a graph.
    case("wrong_wire_type", without_graph(good) + key(7, 0) + varint(5),
         regex=r"wire|graph|field 7")
    gbytes = good.graph.SerializeToString()
    case("length_past_end", without_graph(good) + key(7, 2) + varint(len(gbytes) + 100) + gbytes,
         regex=r"truncat|past|beyond|exceed|overrun|out of (range|bounds)|end of|length")

    # --- initializers
    case("negative_dim", model(inits=[raw_weight([-3, 4], 48)]).SerializeToString(),
         regex=r"W_init|negative")
    case("absurd_dim", model(inits=[raw_weight([1 << 62, 4], 48)]).SerializeToString(),
         regex=r"W_init|overflow|too (large|big)")
    case("short_raw_data", model(inits=[raw_weight([3, 4], 20)]).SerializeToString(),
         regex=r"W_init|raw_data")

    # --- the graph
    case("dangling_input", model(nodes=[
        helper.make_node("MatMul", ["input_x", "nonexistent_value"], ["Y"], name="mm"),
        helper.make_node("Relu", ["Y"], ["Z"], name="act")]).SerializeToString(),
        regex=r"nonexistent_value")
    z23 = [helper.make_tensor_value_info("cyc_t1", TensorProto.FLOAT, [2, 3])]
    case("cycle", model(nodes=[
        helper.make_node("Add", ["input_x", "cyc_t2"], ["cyc_t1"], name="cyc_a"),
        helper.make_node("Neg", ["cyc_t1"], ["cyc_t2"], name="cyc_b")],
        inits=[], outputs=z23).SerializeToString(),
        regex=r"cycl|cyc_a|cyc_b|cyc_t1|cyc_t2")
    case("unknown_operator", model(nodes=[
        helper.make_node("MatMul", ["input_x", "W_init"], ["Y"], name="mm"),
        helper.make_node("FrobnicateXYZ", ["Y"], ["Z"], name="frob")]).SerializeToString(),
        regex=r"FrobnicateXYZ")
    # speedster's own channels-last convolution on a rank-2 X: an error that
    # names the operator and the ranks, not a read past the tensor
    nh = model(nodes=[helper.make_node("NhwcConv", ["input_x", "W_nhwc"], ["Z"], name="nhwc", domain="ai.speedster")],
               inits=[numpy_helper.from_array(np.ones((4, 3, 1, 1), np.float32), "W_nhwc")])
    nh.opset_import.append(helper.make_opsetid("ai.speedster", 1))
    case("nhwc_conv_wrong_rank", nh.SerializeToString(), commands="run", input_arr=np.zeros((2, 3), np.float32),
         regex=r"NhwcConv.*rank|ranks")
    # the fused depthwise + 1x1 node with a 1x1 weight over the wrong channel
    # count (X [2, 3] read as 1 x 1 x 2 x 3 would not reach it: rank first)
    dp = model(nodes=[helper.make_node("NhwcDwPwConv", ["input_x", "Wd_dp", "", "Wp_dp"], ["Z"], name="dwpw",
                                       domain="ai.speedster", group=3, pads=[1, 1, 1, 1])],
               inits=[numpy_helper.from_array(np.ones((3, 1, 3, 3), np.float32), "Wd_dp"),
                      numpy_helper.from_array(np.ones((4, 5, 1, 1), np.float32), "Wp_dp")])
    dp.opset_import.append(helper.make_opsetid("ai.speedster", 1))
    case("dwpw_conv_wrong_rank", dp.SerializeToString(), commands="run", input_arr=np.zeros((2, 3), np.float32),
         regex=r"NhwcDwPwConv|rank")
    # the convolutions-into-a-Concat node with an even input count (a W
    # without its B slot) and X of rank 2: an error, not a read past its inputs
    cc = model(nodes=[helper.make_node("ConvConcat", ["input_x", "W_cc0", "", "W_cc1"], ["Z"], name="convcat",
                                       domain="ai.speedster", b0_kernel_shape=[1, 1], b1_kernel_shape=[3, 3])],
               inits=[numpy_helper.from_array(np.ones((4, 3, 1, 1), np.float32), "W_cc0"),
                      numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "W_cc1")])
    cc.opset_import.append(helper.make_opsetid("ai.speedster", 1))
    case("conv_concat_bad_inputs", cc.SerializeToString(), commands="run", input_arr=np.zeros((2, 3), np.float32),
         regex=r"ConvConcat.*inputs|pairs")
    # a BatchNormalization's affine form with a scale for 4 channels over X's 3
    ca = model(nodes=[helper.make_node("ChannelAffine", ["input_x", "S_ca", "T_ca"], ["Z"], name="affine",
                                       domain="ai.speedster", activation="Relu")],
               inits=[numpy_helper.from_array(np.ones(4, np.float32), "S_ca"),
                      numpy_helper.from_array(np.ones(3, np.float32), "T_ca")])
    ca.opset_import.append(helper.make_opsetid("ai.speedster", 1))
    case("channel_affine_bad_scale", ca.SerializeToString(), commands="run", input_arr=np.zeros((2, 3), np.float32),
         regex=r"scale has 4.*3 channels")
    dup = [helper.make_tensor_value_info("dup_out", TensorProto.FLOAT, [2, 3])]
    case("duplicate_output", model(nodes=[
        helper.make_node("Relu", ["input_x"], ["dup_out"], name="dup_a"),
        helper.make_node("Neg", ["input_x"], ["dup_out"], name="dup_b")],
        inits=[], outputs=dup).SerializeToString(),
        regex=r"dup_out|dup_a|dup_b|duplicate")

    # --- the input files (model valid)
    case("input_wrong_shape", good_bytes, commands="run",
         input_arr=np.zeros((3, 3), np.float32), regex=r"shape|dim")
    case("input_wrong_dtype", good_bytes, commands="run",
         input_arr=np.zeros((2, 3), np.int32), regex=r"dtype|type|int32|float")
    case("input_missing", good_bytes, commands="run", no_input=True,
         regex=r"input_x|input_0|missing|no input")
    case("input_empty_file", good_bytes, commands="run", input_bytes=b"",
         regex=r"input_0|input_x|empty|type|shape")
    case("input_truncated", good_bytes, commands="run",
         input_bytes=numpy_helper.from_array(x, "input_x").SerializeToString()[:20],
         regex=r"input_0|truncat|end of|past|short")

    with open(os.path.join(work, "cases.tsv"), "w") as f:
        for r in rows:
            f.write("\t".join(r) + "\n")
    print("%d cases in %s" % (len(rows), work))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
