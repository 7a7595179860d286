"""The DCGAN that AnoGAN, GANomaly's discriminator and the nearest neighbour's critic space share.

The networks are the shared blocks of `omasgan.nets`: DCGAN convolutions for [C, 32, 32] data, MLPs
for any other shape. The discriminator's `features` (everything before its linear head) give f(x).
The game is the standard one: BCE of the discriminator on real (1) and generated (0) samples, and
the non-saturating generator loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from omasgan.engine import Engine, Stage
from omasgan.models.base import DetectorConfig, check_int, check_number, model_settings
from omasgan.nets import init_weights, make_critic, make_generator


@dataclass
class DCGANConfig(DetectorConfig):
    """Settings of a DCGAN on normal data.

    latent_dim: nz. width: DCGAN base width (ngf = ndf); hidden: MLP width for non-image data.
    epochs, steps_per_epoch: training length. lr, beta1: Adam for both networks.
    """

    latent_dim: int = 100
    width: int = 32
    hidden: int = 128
    epochs: int = 15
    steps_per_epoch: int | None = None
    lr: float = 2e-4
    beta1: float = 0.5

    def __post_init__(self):
        super().__post_init__()
        for name in ("latent_dim", "width", "hidden"):
            check_int(self, name, low=1)
        check_int(self, "epochs", low=0)
        if self.steps_per_epoch is not None:
            check_int(self, "steps_per_epoch", low=1)
        check_number(self, "lr", low=0, low_open=True)
        check_number(self, "beta1", low=0, high=1, high_open=True)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE of D on real (label 1) and generated (label 0) images; logits [B] each -> scalar."""
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss -E[log D(G(z))]; logits [B] -> scalar."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


# MLP nets on vector data (the 2-D synthetic set) and small images: small latent, larger batch and step.
MLP_PRESETS = {
    "quick": dict(latent_dim=8, batch_size=128, lr=1e-3, epochs=30),
    "paper": dict(latent_dim=8, batch_size=128, lr=1e-3, epochs=100),
}


def build_dcgan(input_shape: tuple[int, ...], config: DCGANConfig, device: torch.device) -> dict[str, nn.Module]:
    """{"generator": z [B, latent_dim] -> [B, *input_shape], "discriminator": [B, *input_shape] -> [B]},
    DCGAN-initialised, on `device`."""
    nets = {
        "generator": make_generator(input_shape, config.latent_dim, config.width, config.hidden),
        "discriminator": make_critic(input_shape, config.width, config.hidden),
    }
    for net in nets.values():
        init_weights(net)
        net.to(device)
    return nets


def train_dcgan(networks: dict[str, nn.Module], data: torch.Tensor, config: DCGANConfig, engine: Engine) -> None:
    """Trains `build_dcgan`'s networks on normal `data` [N, ...] in one engine stage (checkpoints,
    resume, progress, NaN guard): per batch one discriminator step (BCE, real = 1, generated = 0),
    then one non-saturating generator step."""
    c = config
    gen, disc = networks["generator"], networks["discriminator"]
    opt_g = torch.optim.Adam(gen.parameters(), lr=c.lr, betas=(c.beta1, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=c.lr, betas=(c.beta1, 0.999))

    def step(x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = torch.randn(len(x), c.latent_dim, device=x.device)
        with engine.autocast():
            fake = gen(z)
            loss_d = discriminator_loss(disc(x), disc(fake.detach()))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        with engine.autocast():
            loss_g = generator_loss(disc(fake))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        return {"d": loss_d, "g": loss_g}

    stage = Stage(
        "dcgan", networks, {"generator": opt_g, "discriminator": opt_d}, step, data, c.epochs, c.batch_size,
        steps_per_epoch=c.steps_per_epoch,
    )
    engine.fit([stage], networks, config=model_settings(c), resume=c.resume)
