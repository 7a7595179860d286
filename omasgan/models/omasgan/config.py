"""OMASGAN's settings (METHOD.md's defaults) and their checks."""
from __future__ import annotations

from dataclasses import dataclass

from omasgan import divergences
from omasgan.models.base import DetectorConfig, check_choice, check_int, check_number
from omasgan.models.omasgan import losses
from omasgan.models.omasgan.networks import BOUNDARIES
from omasgan.nets import ARCHITECTURES

BANK_SOURCES = ("generator", "data")
SCORE_TERMS = ("J", "fD", "manifold")
SPACES = ("pixel", "unit")
SCORE_FORMS = ("monotone", "paper")
J_INPUTS = ("sample", "embedded")


@dataclass
class OMASGANConfig(DetectorConfig):
    """OMASGAN's settings; defaults are METHOD.md's.

    Networks: latent_dim, width (DCGAN base channels), hidden (MLP width), spectral_norm,
        architecture ("auto": DCGAN for [1 or 3, 32, 32] images, MLP otherwise; "dcgan"; "mlp").
    Stage 1: stage1 ("fgan" or "klwgan"), divergence (one of omasgan.divergences.NAMES),
        gradient_penalty (gamma_gp; the penalty's weight is gamma_gp / 2), temperature (KLWGAN T).
    Stage 2: lambda_d (lambda), mu, p, q (the l_p^q of d and s), bank_size (Q), bank_source
        ("generator": Q samples of G; "data": Q normal training samples), boundary ("generator":
        B is a copy of G trained whole, METHOD.md; "latent": B(z) = G(z + T(z)) with G frozen and
        only the latent shift T trained, so B's samples stay G-like images). shell: 0 = METHOD.md's
        d, the mean nearest distance, which pulls B onto the bank; s > 1 holds B in a shell
        rho <= r <= s rho around the bank instead, rho being the distance that 99% of normal
        training samples (outside the bank) lie within, so B sits just outside the support whatever
        the data's scale, and the spread term is measured in units of rho.
    space: where d, s and the manifold term measure distances. "pixel" (METHOD.md): the flattened
        samples. "unit": each sample minus the training data's minimum (an image's background),
        scaled to unit l2 norm, so distances compare shapes, not the amount of ink (on pixels, a
        faint stroke is near every digit and faint noise pays as dispersion). blur: passes of a 3x3
        binomial filter over image samples ([C, H, W]) before that, so a stroke one pixel over is
        near, not far (0 = none; ignored for other data).
    Stage 3: alpha, beta. Stage 4: gamma, j_input ("sample": J sees the samples, METHOD.md;
        "embedded": J sees them in `space` (reshaped back), so in the unit space it cannot
        separate B from the data by the amount of ink alone).
    Score: lambda_j (J's weight; 1 in METHOD.md), lambda_s, kappa (manifold term, 0 = off), score_bank_size (Q samples of G'),
        score_bank_source ("generator": the manifold term's bank is Q samples of G', METHOD.md;
        "data": the normal training samples), score_form ("monotone": fD = E[g(C(G'(z)))] -
        g(C(x)), which rises as C finds x less like the data, for every divergence, since every g
        is increasing; "paper": METHOD.md's E[g(C(G'(z)))] - f*(g(C(x))), which with pearson
        falls again for C(x) < -2). term_bound: the standardised J and fD terms pass through
        b tanh(t / b) (identity near 0, bounded by +-b) before they are added, so far from the data
        the unbounded manifold term decides and the score keeps rising along any ray (0 = off,
        as in METHOD.md).
    Optimisation: epochs per stage (4 ints), steps_per_epoch (a cap on the batches of an epoch:
        None = full passes, an int for every stage, or 4 entries, one per stage), lr, Adam betas.
    """

    latent_dim: int = 64
    width: int = 32
    hidden: int = 128
    spectral_norm: bool = False
    architecture: str = "auto"
    stage1: str = "fgan"
    divergence: str = "pearson"
    gradient_penalty: float = 10.0
    temperature: float = 5.0
    lambda_d: float = 1.0
    mu: float = 1.0
    p: float = 2.0
    q: float = 1.0
    bank_size: int = 20000
    bank_source: str = "generator"
    boundary: str = "generator"
    shell: float = 0.0
    alpha: float = 0.5
    beta: float = 0.6
    gamma: float = 0.5
    lambda_j: float = 1.0
    lambda_s: float = 1.0
    kappa: float = 0.0
    score_bank_size: int = 10000
    score_bank_source: str = "generator"
    score_form: str = "monotone"
    space: str = "pixel"
    blur: int = 0
    term_bound: float = 0.0
    j_input: str = "sample"
    epochs: tuple = (20, 10, 10, 10)
    steps_per_epoch: int | tuple | None = None
    lr: float = 2e-4
    adam_betas: tuple = (0.5, 0.999)

    def __post_init__(self):
        super().__post_init__()
        check_int(self, "batch_size", low=2)  # the losses compare samples within a batch
        for name in ("latent_dim", "width", "hidden", "bank_size", "score_bank_size"):
            check_int(self, name, low=1)
        check_int(self, "blur", low=0)
        for name, allowed in (("stage1", losses.STAGE1_VARIANTS), ("divergence", divergences.NAMES),
                              ("architecture", ARCHITECTURES), ("bank_source", BANK_SOURCES),
                              ("score_bank_source", BANK_SOURCES), ("boundary", BOUNDARIES), ("space", SPACES),
                              ("score_form", SCORE_FORMS), ("j_input", J_INPUTS)):
            check_choice(self, name, allowed)
        if self.shell != 0:
            check_number(self, "shell", low=1, low_open=True)
        for name in ("gradient_penalty", "lambda_d", "mu", "lambda_j", "lambda_s", "kappa", "term_bound"):
            check_number(self, name, low=0)
        for name in ("alpha", "beta", "gamma"):
            check_number(self, name, low=0, high=1)
        check_number(self, "temperature", low=0, low_open=True)
        check_number(self, "lr", low=0, low_open=True)
        check_number(self, "p", low=1)
        check_number(self, "q", low=0, low_open=True)
        self.epochs = tuple(self.epochs)
        self.adam_betas = tuple(self.adam_betas)
        if len(self.epochs) != 4 or any(isinstance(e, bool) or not isinstance(e, int) or e < 0 for e in self.epochs):
            raise ValueError(f"epochs must be 4 non-negative ints (stages 1-4), got {self.epochs!r}")
        caps = self.steps_per_epoch
        caps = tuple(caps) if isinstance(caps, (list, tuple)) else (caps,) * 4
        if len(caps) != 4 or any(c is not None and (isinstance(c, bool) or not isinstance(c, int) or c < 1) for c in caps):
            raise ValueError(f"steps_per_epoch must be None, an int >= 1 or 4 such entries, got {self.steps_per_epoch!r}")
        if isinstance(self.steps_per_epoch, list):
            self.steps_per_epoch = caps

    def stage_steps(self, stage: int) -> int | None:
        """The batch cap of stage `stage` (0-based) per epoch, None = a full pass."""
        caps = self.steps_per_epoch
        return caps[stage] if isinstance(caps, tuple) else caps
