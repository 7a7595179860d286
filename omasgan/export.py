"""ONNX export of a fitted detector's decision_function.

    export_onnx(det, "model.onnx")      # input "x" [N, *input_shape] float32 -> output "score" [N]
    check_onnx(det, "model.onnx")       # onnxruntime against decision_function: max relative difference

The graph is the module the detector's `export_module()` returns (models.base.Detector), with its
networks, banks and statistics as constants; a detector whose score is not a fixed graph refuses
there with the reason (AnoGAN's score is an optimisation per query). The nearest-neighbour op
(`omasgan.ops.min_distance`, a torch.library custom op with C++/CUDA/Triton kernels) has no ONNX
form; the exportable models (NearestNeighbour in pixel and critic space, OMASGAN with an in-memory
score bank) use `nearest_decomposed` instead, the same minimum written in standard operators. For
p = 2 it forms the [N, Q] matrix of squared distances through one matrix product (the kernels
never form it: the exported graph needs N x Q floats of memory per batch); any other p forms the
[N, Q, D] differences, for small banks only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def nearest_decomposed(x: torch.Tensor, bank: torch.Tensor, p: float = 2.0, q: float = 1.0):
    """min_distance in standard operators: x [N, ...], bank [Q, ...] -> (values [N], indices [N]).

    p = 2 ranks the bank by ||x||^2 - 2 x.b + ||b||^2 (one matrix product), then measures the chosen
    pair directly, ||x - b||, as the kernels do: the expansion loses digits to cancellation."""
    x, bank = x.flatten(1).float(), bank.flatten(1).float()
    if p == 2:
        squared = (x * x).sum(1, keepdim=True) - 2 * x @ bank.t() + (bank * bank).sum(1)[None, :]
        indices = squared.argmin(dim=1)
        values = (x - bank[indices]).pow(2).sum(1).sqrt()
    else:
        diff = (x[:, None, :] - bank[None, :, :]).abs()
        dist = diff.amax(-1) if p == float("inf") else diff.pow(p).sum(-1).pow(1 / p)
        values, indices = dist.min(dim=1)
    return values.pow(q), indices


def export_onnx(detector, path: str | Path, opset: int = 18) -> Path:
    """Writes `detector`'s decision_function as an ONNX graph (input "x", output "score", any batch size)."""
    from omasgan.checkpoint import atomic_write

    detector._check_fitted()
    graph = detector.export_module().to("cpu").eval()
    for net in detector.networks.values():
        net.eval()
    example = torch.zeros(2, *detector.input_shape_)
    path = Path(path)
    with torch.no_grad():
        program = torch.onnx.export(graph, (example,), input_names=["x"], output_names=["score"],
                                    dynamic_shapes={"x": {0: torch.export.Dim("N")}}, opset_version=opset,
                                    dynamo=True, verbose=False)
    if not program.model_proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param:
        # The exporter falls back to fixed shapes when the graph fixes the batch size somewhere.
        raise RuntimeError(f"the {detector.name} graph could not be exported for any batch size")
    atomic_write(path, lambda f: f.write(program.model_proto.SerializeToString()))
    return path


def check_onnx(detector, path: str | Path, x: torch.Tensor | np.ndarray | None = None) -> float:
    """max |onnx - decision_function| / max(|decision_function|, s) over `x` (default: 64 samples
    drawn uniformly in the training data's value range), where s is the spread (std) of the normal
    calibration scores: OMASGAN's standardised score crosses 0, where a plain relative difference
    means nothing, and a difference far below s changes no ranking and no threshold decision."""
    import onnxruntime

    if x is None:
        low, high = detector.preprocessing_["value_range"]
        x = torch.rand(64, *detector.input_shape_, generator=torch.Generator().manual_seed(0)) * (high - low) + low
    x = torch.as_tensor(x, dtype=torch.float32)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["score"], {"x": x.numpy()})[0].astype(np.float64)
    want = detector.decision_function(x)
    scale = max(float(np.std(detector.calibration_scores_)), 1e-12)
    return float(np.max(np.abs(got - want) / np.maximum(np.abs(want), scale)))
