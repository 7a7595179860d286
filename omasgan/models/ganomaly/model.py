"""GANomaly (Akcay et al., 2018; METHOD.md section 3) as a Detector.

Training: one stage of `epochs` passes over the normal data. Each step first updates the
encoder-decoder-encoder generator on w_adv * feature matching + w_con * L1 reconstruction +
w_enc * latent L2, then the discriminator on BCE(real = 1, reconstruction = 0). The last epoch's
networks are the model: no epoch is ever chosen by a test score (the public code picks the epoch
with the best test AUROC, METHOD.md section 5).

Score: mean_k (z - z_rec)_k^2, with every network in eval mode (the base class's decision_function
puts them there).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from omasgan.engine import Engine, Stage, seed_everything
from omasgan.models.base import Detector, by_shape, check_number
from omasgan.models.dcgan import MLP_PRESETS, DCGANConfig, discriminator_loss
from omasgan.models.ganomaly.losses import anomaly_score, generator_losses
from omasgan.models.ganomaly.networks import EncoderDecoderEncoder
from omasgan.nets import init_weights, make_critic


@dataclass
class GANomalyConfig(DCGANConfig):
    """GANomaly's settings: the networks' and optimiser's (see DCGANConfig; defaults are the
    paper's: nz = 100, Adam lr 2e-4, beta1 0.5, 15 epochs) and the generator loss weights
    w_adv (feature matching), w_con (L1 reconstruction), w_enc (latent L2)."""

    w_adv: float = 1.0
    w_con: float = 50.0
    w_enc: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        for name in ("w_adv", "w_con", "w_enc"):
            check_number(self, name, low=0)


class GANomaly(Detector):
    """Encoder-decoder-encoder GAN; the anomaly score is the latent reconstruction error."""

    name = "ganomaly"
    Config = GANomalyConfig
    # "quick": minutes per MNIST class on 2 CPU cores; "paper": the paper's settings (the defaults).
    presets = {
        "quick": by_shape(dict(width=16, batch_size=64, max_train_samples=12000, epochs=3), MLP_PRESETS["quick"]),
        "paper": by_shape({}, MLP_PRESETS["paper"]),
    }

    def _build(self, input_shape: tuple[int, ...]) -> None:
        c = self.config
        self.networks = {
            "generator": EncoderDecoderEncoder(input_shape, c.latent_dim, c.width, c.hidden),
            "discriminator": make_critic(input_shape, c.width, c.hidden),
        }
        for net in self.networks.values():
            init_weights(net)
            net.to(self.torch_device)

    def _fit(self, train: torch.Tensor, val: torch.Tensor, engine: Engine) -> None:
        c = self.config
        seed_everything(c.seed, c.deterministic)
        train = self.training_subset(train)
        self._build(tuple(train.shape[1:]))
        gen, disc = self.networks["generator"], self.networks["discriminator"]
        opt_g = torch.optim.Adam(gen.parameters(), lr=c.lr, betas=(c.beta1, 0.999))
        opt_d = torch.optim.Adam(disc.parameters(), lr=c.lr, betas=(c.beta1, 0.999))

        def step(x: torch.Tensor) -> dict[str, torch.Tensor]:
            with engine.autocast():
                x_rec, z, z_rec = gen(x)
                losses = generator_losses(
                    x, x_rec, z, z_rec, disc.features(x), disc.features(x_rec),
                    w_adv=c.w_adv, w_con=c.w_con, w_enc=c.w_enc,
                )
            opt_g.zero_grad(set_to_none=True)
            losses["loss"].backward()
            opt_g.step()
            with engine.autocast():
                loss_d = discriminator_loss(disc(x), disc(x_rec.detach()))
            opt_d.zero_grad(set_to_none=True)  # also drops the feature-matching gradients
            loss_d.backward()
            opt_d.step()
            return {"g": losses["loss"], "adv": losses["adv"], "con": losses["con"], "enc": losses["enc"], "d": loss_d}

        stage = Stage(
            "ganomaly", self.networks, {"generator": opt_g, "discriminator": opt_d}, step,
            train, c.epochs, c.batch_size, steps_per_epoch=c.steps_per_epoch,
        )
        engine.fit([stage], self.networks, config=self.model_settings(), resume=c.resume)

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        _, z, z_rec = self.networks["generator"](x)
        return anomaly_score(z, z_rec)
