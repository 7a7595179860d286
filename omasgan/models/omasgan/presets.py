"""OMASGAN's presets: a training budget ("quick" for a CPU, "paper" for a GPU) times a form of the
score (the paper's, or the library's), per kind of sample (models.base.shape_kind).

    quick        quick budget, library form (the default: OMASGAN() is this preset)
    quick-paper  quick budget, the paper's form
    large        paper budget, library form
    paper        paper budget, the paper's form (the reference code's scale)

The paper's form is docs/method.md's exactly: distances in pixel space, B a copy of G, the score
J + fD in the paper's form, no manifold term. The library's form was chosen on the development
protocol (dev splits of the training data, several datasets, never a test split); what each
setting gained is in benchmarks/results/experiment-log.md and README's "the paper's form and the
library's". Any part of a form can still be set on its own: OMASGAN(preset="quick", space="pixel").
"""
from __future__ import annotations

from omasgan.models.base import by_shape

_PAPER_FORM = dict(score_form="paper")
# Images: the score is the manifold term over the normal training data, in the space (pixel or unit,
# blurred or not) that omasgan.spaces.choose picks for the data;
# J and fD are trained and reported (score_terms) but weigh 0, since no positive weight helped.
_LIBRARY_FORM_IMAGES = dict(space="auto", boundary="latent", kappa=1.0, score_bank_source="data",
                            term_bound=3.0, lambda_j=0.0, lambda_s=0.0)
# Vectors: J and fD rank anomalies, so they keep weight 1, bounded, beside the manifold term.
_LIBRARY_FORM_VECTORS = dict(kappa=1.0, score_bank_source="data", term_bound=3.0, divergence="jensen_shannon")
# Points in the plane: s compares latent distances (~sqrt(2 latent_dim)) with data distances, and
# 2-D data span ~1, so mu = 1 lets s outweigh d and B scatters far from the modes. Both forms.
_PLANE = dict(mu=0.1)

_BUDGETS_IMAGES = {
    # MLP nets: on 2 CPU cores the small DCGAN collapsed within the quick budget, the MLP did not.
    "quick": dict(architecture="mlp", hidden=256, latent_dim=32, stage1="klwgan", batch_size=64,
                  max_train_samples=12000, epochs=(8, 1, 3, 3), steps_per_epoch=(None, 60, None, None),
                  bank_size=1024, score_bank_size=2048, lr=2e-4),
    "paper": dict(width=64, latent_dim=128, batch_size=64, epochs=(20, 10, 10, 10), bank_size=20000,
                  score_bank_size=10000, lr=2e-4),
}
_BUDGETS_VECTORS = {
    "quick": dict(hidden=128, latent_dim=8, batch_size=128, epochs=(200, 20, 20, 20), bank_size=2000,
                  score_bank_size=2000, lr=1e-3),
    "paper": dict(hidden=256, latent_dim=16, batch_size=128, epochs=(200, 60, 60, 60), bank_size=20000,
                  score_bank_size=10000, lr=1e-3),
}


def _preset(budget: str, form: str) -> dict:
    """{shape kind -> settings}: DCGAN-shaped images take the image budget, other samples the
    vector budget; images ([C, H, W]) take the image form, vectors the vector form."""
    def settings(kind: str) -> dict:
        chosen = dict((_BUDGETS_IMAGES if kind == "dcgan" else _BUDGETS_VECTORS)[budget])
        if form == "paper":
            chosen.update(_PAPER_FORM)
        else:
            chosen.update(_LIBRARY_FORM_IMAGES if kind in ("dcgan", "image") else _LIBRARY_FORM_VECTORS)
        if kind == "plane":
            chosen.update(_PLANE)
        return chosen

    return by_shape(settings("dcgan"), settings("image"), settings("vector"), settings("plane"))


PRESETS = {"quick": _preset("quick", "library"), "quick-paper": _preset("quick", "paper"),
           "large": _preset("paper", "library"), "paper": _preset("paper", "paper")}
