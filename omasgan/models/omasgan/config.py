"""OMASGAN's settings and their checks."""
from __future__ import annotations

from dataclasses import dataclass

from omasgan import divergences
from omasgan.spaces import SPACES, check_setting
from omasgan.models.base import DetectorConfig, check_choice, check_int, check_number
from omasgan.models.omasgan import losses
from omasgan.models.omasgan.networks import BOUNDARIES
from omasgan.nets import ARCHITECTURES

SCORE_BANK_SOURCES = ("generator", "data")
SCORE_TERMS = ("J", "fD", "manifold")
SCORE_FORMS = ("monotone", "paper")


@dataclass
class OMASGANConfig(DetectorConfig):
    """OMASGAN's settings. The dataclass defaults are the paper's (docs/method.md); the estimator
    `OMASGAN(...)` leaves every setting its presets set to `preset` ("quick" by default), which
    fills it in for the kind of data fit gets (presets.py). So OMASGAN() is the quick preset.

    Networks: latent_dim, width (DCGAN base channels), hidden (MLP width), spectral_norm,
        architecture ("auto": DCGAN for [1 or 3, 32, 32] images, MLP otherwise; "dcgan"; "mlp").
    Stage 1: stage1 ("fgan" or "klwgan"), divergence (one of omasgan.divergences.NAMES),
        gradient_penalty (gamma_gp; the penalty's weight is gamma_gp / 2), temperature (KLWGAN T).
    Stage 2: lambda_d (lambda), mu, p, q (the l_p^q of d and s), bank_size (Q samples of G, drawn once), boundary ("generator":
        B is a copy of G trained whole, the paper's; "latent": B(z) = G(z + T(z)) with G frozen and
        only the latent shift T trained, so B's samples stay G-like images).
    space: where d, s, J and the manifold term see the samples. "pixel" (the paper's): the flattened
        samples. "unit": each sample minus the training data's minimum (an image's background),
        scaled to unit l2 norm, so distances compare shapes, not the amount of ink (on pixels, a
        faint stroke is near every digit and faint noise pays as dispersion). blur: passes of a 3x3
        binomial filter over image samples ([C, H, W]) before that, so a stroke one pixel over is
        near, not far (0 = none; ignored for other data). "auto": the space and blur (pixel or
        unit, 0 or 1 pass) that omasgan.spaces.choose picks at fit from the normal training data
        alone (it tells held-out images from copies with a pasted patch); pixel for non-images.
    Stage 3: alpha, beta. Stage 4: gamma (J sees the samples in `space`, reshaped back, so in the
        unit space it cannot separate B from the data by the amount of ink alone).
    Score: lambda_j (J's weight; 1 in the paper), lambda_s, kappa (manifold term, 0 = off),
        score_bank_size (Q samples of G'), score_bank_source ("generator": the manifold term's bank
        is Q samples of G'; "data": the normal training samples), score_form ("monotone": fD = E[g(C(G'(z)))] -
        g(C(x)), which rises as C finds x less like the data, for every divergence, since every g
        is increasing; "paper": the paper's E[g(C(G'(z)))] - f*(g(C(x))), which with pearson
        falls again for C(x) < -2). term_bound: the standardised J and fD terms pass through
        b tanh(t / b) (identity near 0, bounded by +-b) before they are added, so far from the data
        the unbounded manifold term decides and the score keeps rising along any ray (0 = off,
        as in the paper).
    Optimisation: epochs per stage (4 ints), steps_per_epoch (a cap on the batches of an epoch:
        None = full passes, an int for every stage, or 4 entries, one per stage), lr, beta1
        (Adam's, every network; beta2 = 0.999).
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
    boundary: str = "generator"
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
    epochs: tuple = (20, 10, 10, 10)
    steps_per_epoch: int | tuple | None = None
    lr: float = 2e-4
    beta1: float = 0.5

    @classmethod
    def upgrade(cls, saved: dict) -> dict:
        """Model files of omasgan 0.1.0 before the settings were regrouped: adam_betas (b1, 0.999)
        is beta1 = b1; shell (0), bank_source ("generator") and j_input ("embedded", or "sample" in
        pixel space without blur, where J saw the same) are gone. Anything else they meant is refused."""
        settings = dict(saved)
        betas = settings.pop("adam_betas", None)
        if betas is not None:
            if float(betas[1]) != 0.999:
                raise ValueError(f"this model was trained with adam_betas={tuple(betas)}; beta2 is 0.999 today")
            settings["beta1"] = float(betas[0])
        if settings.pop("bank_source", "generator") != "generator":
            raise ValueError("this model's stage 2 drew its bank from the data (bank_source='data'), a setting that was removed")
        if settings.pop("shell", 0.0) != 0:
            raise ValueError(f"this model was trained with shell={saved['shell']}, a stage-2 setting that was removed")
        j_input = settings.pop("j_input", "embedded")
        if j_input != "embedded" and (settings.get("space") != "pixel" or settings.get("blur")):
            raise ValueError("this model's J saw the raw samples beside a unit or blurred distance space "
                             "(j_input='sample'), a setting that was removed: J sees the samples in `space`")
        return settings

    def __post_init__(self):
        super().__post_init__()
        check_int(self, "batch_size", low=2)  # the losses compare samples within a batch
        for name in ("latent_dim", "width", "hidden", "bank_size", "score_bank_size"):
            check_int(self, name, low=1)
        check_int(self, "blur", low=0)
        for name, allowed in (("stage1", losses.STAGE1_VARIANTS), ("divergence", divergences.NAMES),
                              ("architecture", ARCHITECTURES), ("score_bank_source", SCORE_BANK_SOURCES),
                              ("boundary", BOUNDARIES), ("space", SPACES), ("score_form", SCORE_FORMS)):
            check_choice(self, name, allowed)
        check_setting(self.space, self.blur)
        for name in ("gradient_penalty", "lambda_d", "mu", "lambda_j", "lambda_s", "kappa", "term_bound"):
            check_number(self, name, low=0)
        for name in ("alpha", "beta", "gamma"):
            check_number(self, name, low=0, high=1)
        check_number(self, "temperature", low=0, low_open=True)
        check_number(self, "lr", low=0, low_open=True)
        check_number(self, "beta1", low=0, high=1, high_open=True)
        check_number(self, "p", low=1)
        check_number(self, "q", low=0, low_open=True)
        self.epochs = tuple(self.epochs)
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
