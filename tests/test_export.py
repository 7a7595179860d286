"""ONNX export (`omasgan export`, omasgan.export): onnxruntime's scores equal decision_function."""
import numpy as np
import onnxruntime
import pytest
import torch

from omasgan import AnoGAN, NearestNeighbour, OMASGAN, cli
from omasgan.export import check_onnx, export_onnx, nearest_decomposed
from omasgan.ops import min_distance

RUN = dict(progress=False, device="cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def images(n, seed=0):
    return torch.rand(n, 1, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("p, q", [(2.0, 1.0), (2.0, 2.0), (1.0, 1.0), (float("inf"), 0.5)])
def test_the_decomposition_equals_the_op(p, q):
    x, bank = torch.randn(17, 5), torch.randn(40, 5)
    values, indices = nearest_decomposed(x, bank, p, q)
    expect_values, expect_indices = min_distance(x, bank, p, q)
    torch.testing.assert_close(values, expect_values, rtol=1e-5, atol=1e-6)
    assert torch.equal(indices, expect_indices)


@pytest.mark.parametrize("make", [
    lambda: NearestNeighbour(**RUN).fit(images(60)),
    lambda: NearestNeighbour(space="critic", epochs=1, width=8, **RUN).fit(images(60)),
    lambda: OMASGAN.from_preset("quick", (1, 32, 32), epochs=(1, 1, 1, 1), steps_per_epoch=2, hidden=32,
                                bank_size=32, score_bank_size=32, **RUN).fit(images(60)),
    lambda: OMASGAN.from_preset("quick-paper", (1, 32, 32), epochs=(1, 1, 1, 1), steps_per_epoch=2, hidden=32,
                                bank_size=32, score_bank_size=32, kappa=1.0, **RUN).fit(images(60)),
], ids=["knn-pixel", "knn-critic", "omasgan-quick", "omasgan-paper-form-with-bank"])
def test_onnxruntime_equals_decision_function(make, tmp_path):
    det = make()
    path = export_onnx(det, tmp_path / "model.onnx")
    assert check_onnx(det, path) < 1e-4
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 5):  # any batch size
        x = images(n, seed=n)
        got = session.run(["score"], {"x": x.numpy()})[0]
        assert got.shape == (n,)
        scale = max(np.std(det.calibration_scores_), 1e-12)
        assert np.max(np.abs(got - det.decision_function(x)) / np.maximum(np.abs(det.decision_function(x)), scale)) < 1e-4


def test_cli_export_and_refusals(tmp_path, capsys):
    det = NearestNeighbour(**RUN).fit(torch.randn(50, 3))
    det.save(tmp_path / "m.pt")
    assert cli.main(["export", "--model-path", str(tmp_path / "m.pt"), "--out", str(tmp_path / "m.onnx"), "--check"]) == 0
    printed = capsys.readouterr().out
    assert "onnxruntime vs decision_function" in printed and (tmp_path / "m.onnx").is_file()
    AnoGAN(epochs=1, hidden=8, latent_dim=2, search_steps=1, **RUN).fit(torch.randn(50, 2)).save(tmp_path / "a.pt")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["export", "--model-path", str(tmp_path / "a.pt"), "--out", str(tmp_path / "a.onnx")])
    assert exit_.value.code == 2 and "anogan cannot be exported to ONNX" in capsys.readouterr().err
