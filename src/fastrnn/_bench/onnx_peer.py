"""The ONNX Runtime peer: a one-node graph with the ONNX ``RNN`` operator (inference only).

Built with ``onnx.helper`` from Keras-layout weights: ``W = kernel.T`` (1, H, F),
``R = recurrent_kernel.T`` (1, H, H), ``B = [bias, 0]`` (1, 2H), tanh, ``layout=0`` (time-major:
the input is transposed to (T, B, F) once, outside the timed call, because that is the
operator's native layout). Bidirectional networks use ``direction="bidirectional"``; stacks
chain one node per layer.
"""

from __future__ import annotations

import numpy as np

__all__ = ["available", "version", "OnnxNetwork"]


def available() -> bool:
    """True when both ``onnx`` and ``onnxruntime`` import."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except Exception:
        return False
    return True


def version() -> str:
    """``onnxruntime.__version__``."""
    import onnxruntime

    return str(onnxruntime.__version__)


def _graph(weights: list, bidirectional: bool, F: int):
    from onnx import TensorProto, helper, numpy_helper

    H = weights[0][0][0].shape[1]
    directions = 2 if bidirectional else 1
    nodes, inits = [], []
    current, in_dim = "X", F
    n_layers = len(weights[0])
    for l in range(n_layers):
        W = np.stack([weights[d][l][0].T for d in range(directions)]).astype(np.float32)
        R = np.stack([weights[d][l][1].T for d in range(directions)]).astype(np.float32)
        Bv = np.stack([np.concatenate([weights[d][l][2], np.zeros(H, np.float32)])
                       for d in range(directions)]).astype(np.float32)
        inits += [numpy_helper.from_array(W, f"W{l}"), numpy_helper.from_array(R, f"R{l}"),
                  numpy_helper.from_array(Bv, f"B{l}")]
        y, yh = (f"Y{l}", f"Yh{l}")
        nodes.append(helper.make_node(
            "RNN", [current, f"W{l}", f"R{l}", f"B{l}"], [y, yh], hidden_size=H,
            activations=["Tanh"] * directions,
            direction="bidirectional" if bidirectional else "forward",
        ))
        if l + 1 < n_layers:  # Y (T, 1, B, H) -> (T, B, H) for the next layer
            nodes.append(helper.make_node("Squeeze", [y, "axis1"], [f"X{l + 1}"]))
            current, in_dim = f"X{l + 1}", H
    if n_layers > 1:
        inits.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
    last = n_layers - 1
    graph = helper.make_graph(
        nodes, "fastrnn_bench_rnn",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", F])],
        [helper.make_tensor_value_info(f"Y{last}", TensorProto.FLOAT, None),
         helper.make_tensor_value_info(f"Yh{last}", TensorProto.FLOAT, None)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    return model


class OnnxNetwork:
    """An ONNX Runtime session computing a SimpleRNN network's forward pass."""

    def __init__(self, weights: list, bidirectional: bool, F: int, threads: int) -> None:
        import onnxruntime as ort

        model = _graph(weights, bidirectional, F)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(model.SerializeToString(), opts,
                                            providers=["CPUExecutionProvider"])
        self.out_names = [o.name for o in self.session.get_outputs()]
        self.bidirectional = bidirectional

    @staticmethod
    def time_major(x: np.ndarray) -> np.ndarray:
        """(B, T, F) -> contiguous (T, B, F), the operator's layout."""
        return np.ascontiguousarray(x.transpose(1, 0, 2))

    def run(self, x_tbf: np.ndarray):
        """Run on a time-major input; returns the raw ``(Y, Y_h)``."""
        return self.session.run(self.out_names, {"X": x_tbf})

    def forward(self, x_tbf: np.ndarray) -> dict:
        """Outputs (B, T, H) of the forward direction and the (concatenated) final state."""
        y, yh = self.run(x_tbf)
        outputs = y[:, 0].transpose(1, 0, 2)
        final = np.concatenate([yh[0], yh[1]], axis=1) if self.bidirectional else yh[0]
        return {"outputs": outputs, "final": final}
