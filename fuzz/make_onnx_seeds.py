# Seeds for fuzz/corpus/onnx: small models over the importer's operators.
import sys, numpy as np, onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh
out = sys.argv[1]
rng = np.random.default_rng(0)
def init(name, *shape): return nh.from_array(rng.standard_normal(shape).astype(np.float32), name)
def save(name, nodes, inits, in_shape, out_name="y", opset=13):
    g = h.make_graph(nodes, name, [h.make_tensor_value_info("x", T.FLOAT, in_shape)],
                     [h.make_tensor_value_info(out_name, T.FLOAT, None)], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    open(f"{out}/{name}.onnx", "wb").write(m.SerializeToString())
save("conv_bn_relu_pool_gemm", [
    h.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], group=1),
    h.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"], epsilon=1e-5),
    h.make_node("Relu", ["n"], ["r"]),
    h.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
    h.make_node("Flatten", ["p"], ["f"], axis=1),
    h.make_node("Gemm", ["f", "fw", "fb"], ["g"], transB=1),
    h.make_node("Softmax", ["g"], ["y"], axis=1)],
    [init("w", 4, 2, 3, 3), init("b", 4), init("s", 4), init("bb", 4), init("m", 4),
     nh.from_array(np.abs(rng.standard_normal(4)).astype(np.float32) + 0.5, "v"), init("fw", 3, 16), init("fb", 3)],
    [1, 2, 4, 4])
save("residual_concat_gap", [
    h.make_node("Conv", ["x", "w1"], ["a"], kernel_shape=[1, 1]),
    h.make_node("Conv", ["a", "w2"], ["b"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=2),
    h.make_node("Add", ["a", "b"], ["s"]),
    h.make_node("HardSwish", ["s"], ["hs"]),
    h.make_node("Concat", ["hs", "a"], ["c"], axis=1),
    h.make_node("GlobalAveragePool", ["c"], ["g"]),
    h.make_node("Shape", ["g"], ["sh"]),
    h.make_node("Gather", ["sh", "zero"], ["n"], axis=0),
    h.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
    h.make_node("Concat", ["n1", "minus1"], ["tgt"], axis=0),
    h.make_node("Reshape", ["g", "tgt"], ["y"])],
    [init("w1", 4, 3, 1, 1), init("w2", 4, 2, 3, 3), nh.from_array(np.array(0, np.int64), "zero"),
     nh.from_array(np.array([0], np.int64), "ax0"), nh.from_array(np.array([-1], np.int64), "minus1")],
    [1, 3, 5, 5], opset=14)
save("matmul_layernorm_gelu", [
    h.make_node("MatMul", ["x", "w"], ["m"]),
    h.make_node("Add", ["m", "b"], ["a"]),
    h.make_node("LayerNormalization", ["a", "g", "beta"], ["l"], axis=-1, epsilon=1e-5),
    h.make_node("Tanh", ["l"], ["e"]),
    h.make_node("Clip", ["e", "lo", "hi"], ["y"])],
    [init("w", 6, 5), init("b", 5), init("g", 5), init("beta", 5),
     nh.from_array(np.array(0, np.float32), "lo"), nh.from_array(np.array(6, np.float32), "hi")],
    [2, 6], opset=17)
save("lrn_avgpool_dropout", [
    h.make_node("LRN", ["x"], ["l"], size=3, alpha=1e-4, beta=0.75, bias=1.0),
    h.make_node("AveragePool", ["l"], ["a"], kernel_shape=[2, 2], strides=[2, 2]),
    h.make_node("Dropout", ["a"], ["d"]),
    h.make_node("Sigmoid", ["d"], ["y"])], [], [1, 3, 4, 4])
# External data: the weight's bytes in a file beside the model (the fuzzer mutates
# the location and offsets; the file itself is not there, which must be an error).
w = init("w", 3, 4)
onnx.external_data_helper.set_external_data(w, location="weights.bin", offset=0, length=48)
w.ClearField("raw_data")
save("external_data", [h.make_node("Gemm", ["x", "w"], ["y"])], [w], [2, 3])
# The regression seeds (regression-*.onnx) are inputs the fuzzer crashed on,
# kept as found (conv-rank) or rebuilt from a seed above (zero-stride).
