"""OMASGAN (docs/method.md, section 2): four training stages and the anomaly score.

    Stage 1  G, V      f-GAN (or KLWGAN) on normal data
    Stage 2  B (, V)   boundary samples: L_B = -m(B, G) + lambda d(B, G) + mu s(B, z); G frozen
    Stage 3  G', C     active negative training: positives x, G(z); negatives G'(z), B(z)
    Stage 4  J         anomaly discriminator: B(z) vs x and G'(z)
    Score    AS(x) = J(x) + lambda_s fD(G', delta_x) [+ kappa min_j ||x - G'(z_j)||_p^q],
             each term standardised on normal validation data.
"""
from __future__ import annotations

import numpy as np
import torch

from omasgan import divergences, spaces
from omasgan.bank import draw_bank
from omasgan.engine import Engine, Stage, frozen, seed_everything
from omasgan.models.base import Detector, NotExportableError, ScoreModule, as_tensor
from omasgan.models.omasgan import diagnostics, losses
from omasgan.models.omasgan.config import SCORE_TERMS, OMASGANConfig
from omasgan.models.omasgan.networks import build_networks, copy_into, start_boundary
from omasgan.models.omasgan.presets import PRESETS
from omasgan.ops import f_divergence_score, leave_self_out_min_distance, min_distance, sharded_min_distance

class OMASGAN(spaces.FittedSpace, Detector):
    """OMASGAN anomaly detector. `OMASGAN(**settings)`, see `OMASGANConfig` for every setting."""

    name = "omasgan"
    Config = OMASGANConfig
    presets = PRESETS

    # Fitted state (set by fit / load; saved under the names without the underscore):
    score_bank_values_: torch.Tensor | None = None  # [Qs] C(G'(z_j))
    score_bank_: torch.Tensor | str | None = None  # [Qs, D] the manifold term's bank (or a .npy path), when kappa > 0
    score_bank_sharded_ = False  # True: score_bank_ is this rank's shard (omasgan.bank)
    score_stats_: torch.Tensor | None = None  # [3, 2] (mean, std) per SCORE_TERMS on validation
    # and offset_, space_, blur_, space_scores_: the fitted space (omasgan.spaces.FittedSpace)

    # ------------------------------------------------------------------------------ building
    def _build(self, input_shape) -> None:
        c = self.config
        nets = build_networks(input_shape, latent_dim=c.latent_dim, width=c.width, hidden=c.hidden,
                              spectral_norm=c.spectral_norm, architecture=c.architecture, boundary=c.boundary)
        self.networks = {k: v.to(self.torch_device) for k, v in nets.items()}

    def _adam(self, name: str) -> torch.optim.Adam:
        return torch.optim.Adam(self.networks[name].parameters(), lr=self.config.lr, betas=(self.config.beta1, 0.999))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """[B, ...] -> [B, D] float32: the samples in the space where distances are measured."""
        return self.embed_in_space(x)

    def j_view(self, x: torch.Tensor) -> torch.Tensor:
        """[B, ...] -> [B, ...]: what J sees of samples x: x in `space`, reshaped back (in the unit
        space J cannot tell B from the data by the amount of ink alone; in pixel space, x)."""
        return self.embed(x).reshape(x.shape)

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
                     snapshot=lambda p: diagnostics.stage_figure(self, p, train, ("G",)), steps_per_epoch=c.stage_steps(0))

    def _stage2(self, train: torch.Tensor, engine: Engine) -> Stage:
        c, n = self.config, self.networks
        B, V = engine.parallel(n["B"]), engine.parallel(n["V"])
        opt = {"B": self._adam("B"), "V": self._adam("V")}
        args = (c.stage1, c.divergence, c.temperature)
        stage_data: dict[str, torch.Tensor] = {}

        def setup():
            start_boundary(n["B"], n["G"])
            n["G"].eval()
            torch.randperm(len(train))  # unused draw: it keeps the random stream, so seeded runs repeat the recorded ones
            stage_data["bank"] = self.embed(self.sample("G", c.bank_size)).contiguous()

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
                     snapshot=lambda p: diagnostics.stage_figure(self, p, train, ("G", "B")), steps_per_epoch=c.stage_steps(1))

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
                     snapshot=lambda p: diagnostics.stage_figure(self, p, train, ("G", "B", "G_prime")),
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
                     snapshot=lambda p: diagnostics.stage_figure(self, p, train, ("G", "B", "G_prime"), contour=True),
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
        self.fit_space(train)
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
            self.score_bank_ = torch.cat([self.embed(b.to(self.torch_device)) for b in train.split(c.score_batch_size)])
        self.score_stats_ = torch.stack([torch.zeros(3), torch.ones(3)], dim=1).to(self.torch_device)
        raw = torch.cat([self._raw_terms(b.to(self.torch_device)) for b in val.split(c.score_batch_size)])
        std = raw.std(dim=0) if len(raw) > 1 else torch.ones(3, device=raw.device)
        self.score_stats_ = torch.stack([raw.mean(dim=0), std.clamp_min(1e-8)], dim=1)

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
        self.score_bank_values_ = drawn.values
        if self.config.score_bank_source == "generator":  # a bank of normal data is kept as it is
            self.score_bank_, self.score_bank_sharded_ = drawn.samples, drawn.sharded

    def can_draw_score_bank(self) -> bool:
        """True: `draw_score_bank` redraws the bank (`omasgan score --bank-size`)."""
        return True

    def _raw_terms(self, x: torch.Tensor, manifold: torch.Tensor | None = None) -> torch.Tensor:
        """[B, ...] -> [B, 3] unstandardised (J logit, fD, manifold distance or 0). manifold: [B]
        the distances to use instead of searching the bank with the kernel op (the training rows'
        leave-self-out distances; the exported graph's decomposed search)."""
        n, c = self.networks, self.config
        v = n["C"](x).float()
        if c.score_form == "paper":
            fd = f_divergence_score(v, self.score_bank_values_, c.divergence)
        else:
            g = divergences.get(c.divergence).g
            fd = g(self.score_bank_values_).mean() - g(v)
        if manifold is not None:
            manifold = manifold.to(fd)
        elif self.score_bank_ is not None:
            nearest = sharded_min_distance if self.score_bank_sharded_ else min_distance
            manifold = nearest(self.embed(x), self.score_bank_, c.p, c.q)[0]
        else:
            manifold = torch.zeros_like(fd)
        return torch.stack([n["J"](self.j_view(x)).float(), fd, manifold], dim=1)

    def _terms(self, x: torch.Tensor, manifold: torch.Tensor | None = None) -> torch.Tensor:
        """[B, ...] -> [B, 3] standardised terms (J and fD bounded when term_bound > 0); manifold
        as in _raw_terms."""
        terms = (self._raw_terms(x, manifold) - self.score_stats_[:, 0]) / self.score_stats_[:, 1]
        b = self.config.term_bound
        if b > 0:
            terms = torch.cat([b * torch.tanh(terms[:, :2] / b), terms[:, 2:]], dim=1)
        return terms

    def _score(self, x: torch.Tensor, manifold: torch.Tensor | None = None) -> torch.Tensor:
        c = self.config
        weights = torch.tensor([c.lambda_j, c.lambda_s, c.kappa], device=x.device)
        return self._terms(x, manifold) @ weights

    def export_module(self) -> torch.nn.Module:
        """AS with the manifold term's search in omasgan.export's `nearest_decomposed` (standard
        operators) instead of the kernel op; needs the score bank in memory."""
        from omasgan.export import nearest_decomposed

        if self.score_bank_sharded_ or isinstance(self.score_bank_, (str, np.ndarray)):
            raise NotExportableError("export needs the score bank in memory; load the model without "
                                     "--bank-size / sharding")
        c = self.config

        def score(x: torch.Tensor) -> torch.Tensor:
            bank = self.score_bank_
            manifold = None if bank is None else nearest_decomposed(self.embed(x), bank, c.p, c.q)[0]
            return self._score(x, manifold=manifold)

        return ScoreModule(self.networks, score)

    def _training_scores(self, train: torch.Tensor) -> np.ndarray:
        """[Nt, ...] -> [Nt]: AS of the training rows. When the manifold term's bank is the embedded
        training data (score_bank_source="data", same order), each row's manifold distance leaves
        the row itself out; J and fD are as decision_function gives them."""
        c = self.config
        if not (c.kappa > 0 and c.score_bank_source == "data"):
            return super()._training_scores(train)
        for net in self.networks.values():
            net.eval()
        with torch.no_grad():
            manifold = leave_self_out_min_distance(self.score_bank_, c.p, c.q, chunk_size=c.score_batch_size)[0]
            scores = [self._score(x.to(self.torch_device), manifold=m).float().cpu()
                      for x, m in zip(train.split(c.score_batch_size), manifold.split(c.score_batch_size))]
        return torch.cat(scores).double().numpy()

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
        """The space distances are measured in (with each candidate's score when space="auto"), stage
        1's coverage and stage 2's spread and distance on normal `data` [M, ...] (labels [M] optional,
        for recall per class); see omasgan.models.omasgan.diagnostics."""
        self._check_fitted()
        for net in self.networks.values():
            net.eval()
        space = {"chosen": f"{self.space_}/{self.blur_}", "candidates": self.space_scores_}  # "space/blur"
        return {"space": space, **diagnostics.stage_report(self, as_tensor(data, "data"), labels)}

    def _extra_state(self) -> dict:
        if self.score_bank_sharded_:
            raise RuntimeError("a model with a sharded score bank cannot be saved; redraw it unsharded first")
        bank = self.score_bank_.cpu() if isinstance(self.score_bank_, torch.Tensor) else self.score_bank_
        return {"score_bank_values": self.score_bank_values_.cpu(), "score_bank": bank,
                "score_stats": self.score_stats_.cpu(), **self.space_state()}

    def _load_extra_state(self, state: dict) -> None:
        self.score_bank_values_ = state["score_bank_values"].to(self.torch_device)
        bank = state["score_bank"]
        self.score_bank_ = bank.to(self.torch_device) if isinstance(bank, torch.Tensor) else bank  # a tensor, .npy path or None
        self.score_stats_ = state["score_stats"].to(self.torch_device)
        self.load_space_state(state)
