"""Figures people read: thresholds drawn with their value, constrained layout, the same colours for
the same things, J's extremes in the stage-4 figure, and a run-level progress bar."""
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.layout_engine import ConstrainedLayoutEngine

from omasgan import OMASGAN, plots


@pytest.fixture
def figures(monkeypatch):
    kept = []

    def keep(fig, path):
        kept.append(fig)
        return Path(path)

    monkeypatch.setattr(plots, "_finish", keep)
    return kept


def test_histograms_carry_the_threshold_and_its_value(figures):
    rng = np.random.default_rng(0)
    y, s = np.r_[np.zeros(50, int), np.ones(10, int)], rng.normal(size=60)
    plots.score_histogram(y, s, "h.png", threshold=0.25, title="t")
    plots.score_histograms({"class 0": (y, s, 0.25), "class 1": (y, s)}, "hs.png")
    plots.score_histogram(np.zeros(5, int), np.arange(5.0), "only-normal.png", threshold=3.0)
    for fig in figures:
        assert isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)
    legend = [t.get_text() for t in figures[0].axes[0].get_legend().get_texts()]
    assert "threshold 0.25" in legend and "normal (50)" in legend and "anomaly (10)" in legend
    assert "threshold 0.25" in [t.get_text() for t in figures[1].axes[0].get_legend().get_texts()]
    bars = [p for p in figures[0].axes[0].patches]
    assert {tuple(np.round(b.get_facecolor()[:3], 3)) for b in bars} == {
        tuple(np.round(plots.matplotlib.colors.to_rgb(c), 3)) for c in (plots.NORMAL, plots.ANOMALY)}


def test_point_sets_keep_their_colours():
    assert plots.set_colour("data") == plots.set_colour("normal data") == plots.NORMAL
    assert plots.set_colour("test anomalies") == plots.ANOMALY
    assert plots.set_colour("B(z) boundary samples") != plots.set_colour("G(z) samples")


def test_stage4_figure_shows_js_most_and_least_anomalous_images(tmp_path, monkeypatch):
    shown = {}

    def rows(sets, path, title="", per_row=16):
        shown[Path(path).name] = list(sets)
        return Path(path)

    monkeypatch.setattr(plots, "image_rows", rows)
    images = torch.rand(40, 1, 32, 32) * 2 - 1
    OMASGAN.from_preset("quick", (1, 32, 32), epochs=(1, 1, 1, 1), steps_per_epoch=1, hidden=16, bank_size=16,
                        score_bank_size=16, progress=False, device="cpu", out_dir=str(tmp_path)).fit(images)
    assert shown["samples_4_stage4.png"][-2:] == ["J: most anomalous data", "J: least anomalous data"]
    assert "J: most anomalous data" not in shown["samples_1_stage1.png"]


def test_one_progress_bar_for_the_run_with_the_stage_and_an_eta(capsys):
    torch.set_num_threads(1)
    OMASGAN(latent_dim=2, hidden=8, epochs=(1, 1, 1, 1), batch_size=16, bank_size=16, score_bank_size=16,
            device="cpu", progress=True).fit(torch.randn(64, 2))
    err = capsys.readouterr().err
    for k in range(1, 5):
        assert f"stage {k}/4" in err
    assert "<" in err  # tqdm's elapsed<remaining
