"""OMASGAN (METHOD.md section 2): four training stages and the anomaly score.

    Stage 1  G, V      f-GAN (or KLWGAN) on normal data
    Stage 2  B (, V)   boundary samples: L_B = -m(B, G) + lambda d(B, G) + mu s(B, z); G frozen
    Stage 3  G', C     active negative training: positives x, G(z); negatives G'(z), B(z)
    Stage 4  J         anomaly discriminator: B(z) vs x and G'(z)
    Score    AS(x) = J(x) + lambda_s fD(G', delta_x) [+ kappa min_j ||x - G'(z_j)||_p^q],
             each term standardised on normal validation data.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from omasgan import distributed, divergences, plots
from omasgan.bank import draw_bank
from omasgan.engine import Engine, Stage, frozen, seed_everything
from omasgan.models.base import Detector, DetectorConfig, as_tensor, check_int, check_number
from omasgan.models.omasgan import diagnostics, losses
from omasgan.models.omasgan.networks import BOUNDARIES, build_networks, copy_into, start_boundary
from omasgan.nets import ARCHITECTURES, is_dcgan_shape
from omasgan.ops import f_divergence_score, min_distance

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
        only the latent shift T trained, so B's samples stay G-like images).
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
        if self.stage1 not in losses.STAGE1_VARIANTS:
            raise ValueError(f"stage1 must be one of {', '.join(losses.STAGE1_VARIANTS)}; got {self.stage1!r}")
        if self.divergence not in divergences.NAMES:
            raise ValueError(f"divergence must be one of {', '.join(divergences.NAMES)}; got {self.divergence!r}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}; got {self.architecture!r}")
        for name, allowed in (("bank_source", BANK_SOURCES), ("score_bank_source", BANK_SOURCES), ("boundary", BOUNDARIES),
                              ("space", SPACES), ("score_form", SCORE_FORMS), ("j_input", J_INPUTS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
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


# Presets. Budgets: "quick*" fit in about a minute per MNIST class on 2 CPU cores; "paper" and
# "large" are the reference code's scale, for a GPU. Forms: "quick" and "large" carry the library's
# score; "quick-paper" and "paper" are METHOD.md's form exactly (pixel space, B a copy of G, AS = J +
# fD in the paper's form, no manifold term). Every setting of the library's form was chosen on the
# development protocol (MNIST dev split, the digits, the 2-D set), never on a test split: see
# benchmarks/results/experiment-log.md.
_PAPER_FORM = dict(score_form="paper")
# Images: on MNIST dev, J and fD stayed at chance (mean AUROC 0.55 / 0.51) and every positive weight
# lowered the mean, so the score is the manifold term over the normal training data, in the blurred
# unit space (0.947; pixel space 0.848). J and fD are still trained and reported by score_terms.
_LIBRARY_FORM_IMAGES = dict(space="unit", blur=1, boundary="latent", j_input="embedded", kappa=1.0,
                            score_bank_source="data", term_bound=3.0, lambda_j=0.0, lambda_s=0.0)
# Vectors (the 2-D set): J and fD do rank anomalies there (0.97 / 0.89), so they stay at weight 1,
# bounded, beside the manifold term over the normal data, which makes far points score high.
_LIBRARY_FORM_VECTORS = dict(kappa=1.0, score_bank_source="data", term_bound=3.0)

_BUDGETS_IMAGES = {
    # MLP nets: on 2 CPU cores the small DCGAN collapsed within the quick budget, the MLP did not.
    "quick": dict(architecture="mlp", hidden=256, latent_dim=32, stage1="klwgan", batch_size=64,
                  max_train_samples=12000, epochs=(8, 1, 3, 3), steps_per_epoch=(None, 60, None, None),
                  bank_size=1024, score_bank_size=2048, lr=2e-4),
    "paper": dict(width=64, latent_dim=128, batch_size=64, epochs=(20, 10, 10, 10), bank_size=20000,
                  score_bank_size=10000, lr=2e-4),
}
_BUDGETS_VECTORS = {
    "quick": dict(hidden=128, latent_dim=8, batch_size=128, epochs=(60, 20, 20, 20), bank_size=2000,
                  score_bank_size=2000, lr=1e-3),
    "paper": dict(hidden=256, latent_dim=16, batch_size=128, epochs=(200, 60, 60, 60), bank_size=20000,
                  score_bank_size=10000, lr=1e-3),
}
PRESETS = {"quick": ("quick", "library"), "quick-paper": ("quick", "paper"),
           "large": ("paper", "library"), "paper": ("paper", "paper")}  # name -> (budget, form)


def binomial_blur(images: torch.Tensor, passes: int) -> torch.Tensor:
    """[N, C, H, W] -> [N, C, H, W]: `passes` 3x3 binomial ([1, 2, 1] x [1, 2, 1] / 16) filters per
    channel, zero padding (differentiable)."""
    row = images.new_tensor([1.0, 2.0, 1.0])
    kernel = (row[:, None] * row[None, :] / 16).expand(images.shape[1], 1, 3, 3)
    for _ in range(passes):
        images = torch.nn.functional.conv2d(images, kernel, padding=1, groups=images.shape[1])
    return images


class OMASGAN(Detector):
    """OMASGAN anomaly detector. `OMASGAN(**settings)`, see `OMASGANConfig` for every setting."""

    name = "omasgan"
    Config = OMASGANConfig
    presets = PRESETS

    # Fitted state (set by fit / load):
    score_bank_values: torch.Tensor | None = None  # [Qs] C(G'(z_j))
    score_bank: torch.Tensor | str | None = None  # [Qs, D] the manifold term's bank (or a .npy path), when kappa > 0
    score_bank_sharded = False  # True: score_bank is this rank's shard (omasgan.bank)
    score_stats: torch.Tensor | None = None  # [3, 2] (mean, std) per SCORE_TERMS on validation
    offset: float = 0.0  # the training data's minimum, the origin of the "unit" space

    @classmethod
    def preset_settings(cls, preset: str, input_shape) -> dict:
        budget, form = PRESETS[preset]
        image = len(input_shape) == 3  # [C, H, W]: the image form, whatever the size
        settings = dict((_BUDGETS_IMAGES if is_dcgan_shape(tuple(input_shape)) else _BUDGETS_VECTORS)[budget])
        if form == "paper":
            settings.update(_PAPER_FORM)
        else:
            settings.update(_LIBRARY_FORM_IMAGES if image else _LIBRARY_FORM_VECTORS)
        if math.prod(input_shape) <= 2:
            # s compares latent distances (~sqrt(2 latent_dim)) with data distances; 2-D data span
            # ~1, so mu = 1 lets s outweigh d and B scatters far from the modes.
            settings["mu"] = 0.1
        return settings

    # ------------------------------------------------------------------------------ building
    def _build(self, input_shape) -> None:
        c = self.config
        nets = build_networks(input_shape, latent_dim=c.latent_dim, width=c.width, hidden=c.hidden,
                              spectral_norm=c.spectral_norm, architecture=c.architecture, boundary=c.boundary)
        self.networks = {k: v.to(self.torch_device) for k, v in nets.items()}

    def _adam(self, name: str) -> torch.optim.Adam:
        return torch.optim.Adam(self.networks[name].parameters(), lr=self.config.lr, betas=self.config.adam_betas)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """[B, ...] -> [B, D] float32: the samples in the space where distances are measured."""
        unit = self.config.space == "unit"
        x = x.float() - self.offset if unit else x.float()
        if self.config.blur and x.dim() == 4:
            x = binomial_blur(x, self.config.blur)
        flat = x.flatten(1)
        return flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-12) if unit else flat

    def j_view(self, x: torch.Tensor) -> torch.Tensor:
        """[B, ...] -> [B, ...]: what J sees of samples x (see `j_input`)."""
        return self.embed(x).reshape(x.shape) if self.config.j_input == "embedded" else x

    def latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """[n, latent_dim] standard normal codes on the model's device."""
        return torch.randn(n, self.config.latent_dim, generator=generator).to(self.torch_device)

    @torch.no_grad()
    def sample(self, network: str, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """[n, *input_shape] samples of generator `network` ("G", "B" or "G_prime"), eval mode."""
        net = self.networks[network]
        was_training = net.training
        net.eval()
        out = torch.cat([net(self.latent(len(chunk), generator)) for chunk in torch.arange(n).split(1024)])
        net.train(was_training)
        return out.float()

    # -------------------------------------------------------------------------------- stages
    def _critic_update(self, critic: str, optimizer, v_real_fn, loss_fn) -> tuple[torch.Tensor, torch.Tensor]:
        """One critic step on loss_fn(v_real) + gradient penalty -> (detached loss, detached v_real)."""
        c = self.config
        optimizer.zero_grad(set_to_none=True)
        x, v_real = v_real_fn()
        loss = loss_fn(v_real)
        if c.gradient_penalty > 0:
            activation = losses.divergence_activation(c.divergence) if c.stage1 == "fgan" else (lambda v: v)
            loss = loss + c.gradient_penalty / 2 * losses.gradient_penalty(self.networks[critic], x, activation)
        loss.backward()
        optimizer.step()
        return loss.detach(), v_real.detach()

    def _stage1(self, train: torch.Tensor, engine: Engine) -> Stage:
        c, n = self.config, self.networks
        G, V = engine.parallel(n["G"]), engine.parallel(n["V"])  # DDP under torchrun
        opt = {"G": self._adam("G"), "V": self._adam("V")}
        args = (c.stage1, c.divergence, c.temperature)

        def step(x):
            with engine.autocast():
                fake = G(self.latent(len(x)))
                loss_v, v_real = self._critic_update(
                    "V", opt["V"], lambda: (x, V(x)), lambda vr: losses.critic_loss(vr, V(fake.detach()), *args)
                )
                opt["G"].zero_grad(set_to_none=True)
                with frozen(V):
                    loss_g = losses.generator_loss(v_real, V(fake), *args)
            loss_g.backward()
            opt["G"].step()
            return {"loss_V": loss_v, "loss_G": loss_g}

        return Stage("stage1", {"G": G, "V": V}, opt, step, train, c.epochs[0], c.batch_size,
                     snapshot=lambda p: self._snapshot(p, train, ("G",)), steps_per_epoch=c.stage_steps(0))

    def _stage2(self, train: torch.Tensor, engine: Engine) -> Stage:
        c, n = self.config, self.networks
        B, V = engine.parallel(n["B"]), engine.parallel(n["V"])
        opt = {"B": self._adam("B"), "V": self._adam("V")}
        args = (c.stage1, c.divergence, c.temperature)
        stage_data: dict[str, torch.Tensor] = {}

        def setup():
            start_boundary(n["B"], n["G"])
            n["G"].eval()
            if c.bank_source == "generator":
                bank = self.sample("G", c.bank_size)
            else:
                bank = train[torch.randperm(len(train))[: c.bank_size]].to(self.torch_device)
            stage_data["bank"] = self.embed(bank).contiguous()

        def step(x):
            z = self.latent(len(x))
            with engine.autocast():
                boundary = B(z)
                loss_v, v_real = self._critic_update(
                    "V", opt["V"], lambda: (x, V(x)),
                    lambda vr: losses.critic_loss(vr, V(boundary.detach()), *args),
                )
                opt["B"].zero_grad(set_to_none=True)
                with frozen(V):
                    v_boundary = V(boundary)
            loss_b, parts = losses.boundary_loss(
                v_real, v_boundary, z, boundary, stage_data["bank"], lambda_d=c.lambda_d, mu=c.mu, p=c.p, q=c.q,
                variant=c.stage1, divergence=c.divergence, temperature=c.temperature, embed=self.embed,
            )
            loss_b.backward()
            opt["B"].step()
            return {"loss_V": loss_v, "loss_B": loss_b, **parts}

        return Stage("stage2", {"B": B, "V": V}, opt, step, train, c.epochs[1], c.batch_size, setup=setup,
                     snapshot=lambda p: self._snapshot(p, train, ("G", "B")), steps_per_epoch=c.stage_steps(1))

    def _stage3(self, train: torch.Tensor, engine: Engine) -> Stage:
        c, n = self.config, self.networks
        Gp, C = engine.parallel(n["G_prime"]), engine.parallel(n["C"])
        opt = {"G_prime": self._adam("G_prime"), "C": self._adam("C")}
        weights = dict(alpha=c.alpha, beta=c.beta, divergence=c.divergence)

        def setup():
            copy_into(n["G_prime"], n["G"])
            copy_into(n["C"], n["V"])  # C starts as the critic that already separates data from G and B
            n["G"].eval()
            n["B"].eval()

        def step(x):
            with torch.no_grad(), engine.autocast():
                from_g, from_b = n["G"](self.latent(len(x))), n["B"](self.latent(len(x)))
            with engine.autocast():
                retrained = Gp(self.latent(len(x)))
                v_g, v_b = C(from_g), C(from_b)
                loss_c, v_real = self._critic_update(
                    "C", opt["C"], lambda: (x, C(x)),
                    lambda vr: -losses.active_negative_objective(vr, v_g, C(retrained.detach()), v_b, **weights),
                )
                opt["G_prime"].zero_grad(set_to_none=True)
                with frozen(C):
                    objective = losses.active_negative_objective(
                        v_real, v_g.detach(), C(retrained), v_b.detach(), **weights
                    )
            objective.backward()
            opt["G_prime"].step()
            return {"loss_C": loss_c, "loss_G_prime": objective}

        return Stage("stage3", {"G_prime": Gp, "C": C}, opt, step, train, c.epochs[2], c.batch_size, setup=setup,
                     snapshot=lambda p: self._snapshot(p, train, ("G", "B", "G_prime")),
                     steps_per_epoch=c.stage_steps(2))

    def _stage4(self, train: torch.Tensor, engine: Engine) -> Stage:
        c, n = self.config, self.networks
        J = engine.parallel(n["J"])
        opt = {"J": self._adam("J")}

        def setup():
            n["G_prime"].eval()
            n["B"].eval()

        def step(x):
            with torch.no_grad(), engine.autocast():
                retrained, boundary = n["G_prime"](self.latent(len(x))), n["B"](self.latent(len(x)))
            opt["J"].zero_grad(set_to_none=True)
            with engine.autocast():
                v = self.j_view
                loss = losses.anomaly_discriminator_loss(J(v(x)), J(v(retrained)), J(v(boundary)), c.gamma)
            loss.backward()
            opt["J"].step()
            return {"loss_J": loss}

        return Stage("stage4", {"J": J}, opt, step, train, c.epochs[3], c.batch_size, setup=setup,
                     snapshot=lambda p: self._snapshot(p, train, ("G", "B", "G_prime"), contour=True),
                     steps_per_epoch=c.stage_steps(3))

    def stages(self, train: torch.Tensor, engine: Engine) -> list[Stage]:
        """The four stages over normal training data [N, ...] (networks must be built)."""
        return [self._stage1(train, engine), self._stage2(train, engine),
                self._stage3(train, engine), self._stage4(train, engine)]

    def _fit(self, train: torch.Tensor, val: torch.Tensor, engine: Engine) -> None:
        if len(train) < 2:
            raise ValueError(f"OMASGAN needs at least 2 training samples (its losses compare samples within a batch), "
                             f"got {len(train)} after holding out validation data")
        seed_everything(self.config.seed, self.config.deterministic)
        self.offset = float(train.min())
        self._build(train.shape[1:])
        engine.fit(self.stages(self.training_subset(train), engine), self.networks, config=self.model_settings(),
                   resume=self.config.resume)
        self._calibrate(val, train)

    # --------------------------------------------------------------------------------- score
    @torch.no_grad()
    def _calibrate(self, val: torch.Tensor, train: torch.Tensor) -> None:
        """Draws the score bank of G' and standardises each score term on validation data."""
        c = self.config
        for net in self.networks.values():
            net.eval()
        self.draw_score_bank(c.score_bank_size)
        if c.kappa > 0 and c.score_bank_source == "data":
            self.score_bank = torch.cat([self.embed(b.to(self.torch_device)) for b in train.split(c.score_batch_size)])
        self.score_stats = torch.stack([torch.zeros(3), torch.ones(3)], dim=1).to(self.torch_device)
        raw = torch.cat([self._raw_terms(b.to(self.torch_device)) for b in val.split(c.score_batch_size)])
        std = raw.std(dim=0) if len(raw) > 1 else torch.ones(3, device=raw.device)
        self.score_stats = torch.stack([raw.mean(dim=0), std.clamp_min(1e-8)], dim=1)

    def draw_score_bank(self, size: int, *, sharded: bool = False, directory=None, progress: bool = False,
                        memory_budget: int | None = None) -> None:
        """(Re)draws the score bank: `size` samples of G' in batches, their critic values, and the
        samples themselves when kappa > 0 (in memory, or a .npy file in `directory` when too large;
        see omasgan.bank). sharded: under torchrun each rank draws and keeps its share."""
        for net in self.networks.values():
            net.eval()
        drawn = draw_bank(lambda n, g: self.sample("G_prime", n, g), self.networks["C"], size,
                          seed=self.config.seed + 7, device=self.torch_device, directory=directory,
                          keep_samples=self.config.kappa > 0 and self.config.score_bank_source == "generator",
                          memory_budget=memory_budget, sharded=sharded, progress=progress, embed=self.embed)
        self.score_bank_values = drawn.values
        if self.config.score_bank_source == "generator":  # a bank of normal data is kept as it is
            self.score_bank, self.score_bank_sharded = drawn.samples, drawn.sharded

    def _raw_terms(self, x: torch.Tensor, nearest=None) -> torch.Tensor:
        """[B, ...] -> [B, 3] unstandardised (J logit, fD, manifold distance or 0). nearest: a
        min_distance-like function (default: the kernel op, or its sharded form; omasgan.export
        swaps in its decomposition into standard operators)."""
        n, c = self.networks, self.config
        v = n["C"](x).float()
        if c.score_form == "paper":
            fd = f_divergence_score(v, self.score_bank_values, c.divergence)
        else:
            g = divergences.get(c.divergence).g
            fd = g(self.score_bank_values).mean() - g(v)
        if self.score_bank is not None:
            nearest = nearest or (distributed.min_distance if self.score_bank_sharded else min_distance)
            manifold = nearest(self.embed(x), self.score_bank, c.p, c.q)[0]
        else:
            manifold = torch.zeros_like(fd)
        return torch.stack([n["J"](self.j_view(x)).float(), fd, manifold], dim=1)

    def _terms(self, x: torch.Tensor, nearest=None) -> torch.Tensor:
        """[B, ...] -> [B, 3] standardised terms (J and fD bounded when term_bound > 0)."""
        terms = (self._raw_terms(x, nearest) - self.score_stats[:, 0]) / self.score_stats[:, 1]
        b = self.config.term_bound
        if b > 0:
            terms = torch.cat([b * torch.tanh(terms[:, :2] / b), terms[:, 2:]], dim=1)
        return terms

    def _score(self, x: torch.Tensor, nearest=None) -> torch.Tensor:
        c = self.config
        weights = torch.tensor([c.lambda_j, c.lambda_s, c.kappa], device=x.device)
        return self._terms(x, nearest) @ weights

    def score_terms(self, x) -> dict[str, np.ndarray]:
        """The standardised terms of AS for samples [N, ...]: {"J", "fD", "manifold"} -> [N]."""
        x = self._check_input(x)
        for net in self.networks.values():
            net.eval()
        with torch.no_grad():
            terms = torch.cat([self._terms(b.to(self.torch_device)).cpu() for b in x.split(self.config.score_batch_size)]
                              or [torch.zeros(0, len(SCORE_TERMS))])
        return {name: terms[:, i].double().numpy() for i, name in enumerate(SCORE_TERMS)}

    def stage_report(self, data, labels=None) -> dict:
        """Stage 1's coverage and stage 2's spread and distance on normal `data` [M, ...] (labels [M]
        optional, for recall per class); see omasgan.models.omasgan.diagnostics."""
        self._check_fitted()
        for net in self.networks.values():
            net.eval()
        return diagnostics.stage_report(self, as_tensor(data, "data"), labels)

    def _extra_state(self) -> dict:
        if self.score_bank_sharded:
            raise RuntimeError("a model with a sharded score bank cannot be saved; redraw it unsharded first")
        bank = self.score_bank.cpu() if isinstance(self.score_bank, torch.Tensor) else self.score_bank
        return {"score_bank_values": self.score_bank_values.cpu(), "score_bank": bank,
                "score_stats": self.score_stats.cpu(), "offset": self.offset}

    def _load_extra_state(self, state: dict) -> None:
        self.score_bank_values = state["score_bank_values"].to(self.torch_device)
        bank = state["score_bank"]
        self.score_bank = bank.to(self.torch_device) if isinstance(bank, torch.Tensor) else bank  # a tensor, .npy path or None
        self.score_stats = state["score_stats"].to(self.torch_device)
        self.offset = float(state.get("offset", 0.0))

    # ------------------------------------------------------------------------------- figures
    def _snapshot(self, path: Path, train: torch.Tensor, generators: tuple[str, ...], contour: bool = False) -> None:
        """Data and samples of `generators`: image rows, or a 2-D scatter (with J's contour). With
        `contour` (stage 4), image rows also show the training images J finds most and least
        anomalous (of 512 drawn), so one can see what J has learnt."""
        gen = torch.Generator().manual_seed(1234)
        labels = {"G": "G(z)", "B": "B(z) boundary", "G_prime": "G'(z)"}
        n = 16 if train.dim() > 2 else 500
        sets = {"data": train[torch.randperm(len(train), generator=gen)[:n]]}
        sets.update({labels[g]: self.sample(g, n, gen).cpu() for g in generators})
        title = f"{path.stem.split('_', 2)[-1]}: {', '.join(sets)}"
        J = self.networks["J"]

        def j_logit(points):
            J.eval()
            with torch.no_grad():
                return torch.cat([J(self.j_view(b.to(self.torch_device))).float().cpu() for b in points.split(1024)])

        if train.dim() > 2:
            if contour:
                pool = train[torch.randperm(len(train), generator=gen)[:512]]
                order = j_logit(pool).argsort(descending=True)
                sets["J: most anomalous data"] = pool[order[:n]]
                sets["J: least anomalous data"] = pool[order.flip(0)[:n]]
            plots.image_rows(sets, path, title)
            return
        plots.scatter_2d(sets, path, title, contour=j_logit if contour else None, contour_label="J(x) logit")
