"""Shared network building blocks: DCGAN-style nets for 32x32 images, MLPs for everything else.

    Generator:  z [N, latent_dim] -> x [N, *data_shape]
    Critic:     x [N, *data_shape] -> raw value [N]   (features(x) -> [N, F] for feature losses)
    Encoder:    x [N, *data_shape] -> z [N, latent_dim]

`make_generator` / `make_critic` / `make_encoder` pick the architecture from the data shape
(architecture="auto"): [C, 32, 32] (C = 1 or 3) gets DCGAN convolutions, any other shape an MLP on
the flattened sample; architecture="mlp" forces the MLP (cheap, for quick CPU runs).
Image-like data (3-D shapes) get a tanh output, since images live in [-1, 1]; other data a linear one.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as _sn


ARCHITECTURES = ("auto", "dcgan", "mlp")


def is_dcgan_shape(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3 and shape[0] in (1, 3) and tuple(shape[1:]) == (32, 32)


def _use_dcgan(shape: tuple[int, ...], architecture: str) -> bool:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}; got {architecture!r}")
    if architecture == "dcgan" and not is_dcgan_shape(shape):
        raise ValueError(f"architecture 'dcgan' needs samples of shape [1 or 3, 32, 32], got {list(shape)}")
    return architecture != "mlp" and is_dcgan_shape(shape)


def _maybe_sn(layer: nn.Module, use: bool) -> nn.Module:
    return _sn(layer) if use else layer


class DCGANGenerator(nn.Module):
    """z [N, latent_dim] -> [N, channels, 32, 32] in (-1, 1); widths 4w, 2w, w."""

    def __init__(self, latent_dim: int, channels: int, width: int = 32):
        super().__init__()
        w = width
        self.latent_dim = latent_dim
        self.body = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, 4 * w, 4, 1, 0, bias=False), nn.BatchNorm2d(4 * w), nn.ReLU(True),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(True),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True),
            nn.ConvTranspose2d(w, channels, 4, 2, 1), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z.reshape(z.shape[0], -1, 1, 1))


class DCGANCritic(nn.Module):
    """[N, channels, 32, 32] -> [N] raw values; no BatchNorm, so gradient penalties stay per-sample."""

    def __init__(self, channels: int, width: int = 32, spectral_norm: bool = False, out_features: int = 1):
        super().__init__()
        w, sn = width, spectral_norm
        self.features = nn.Sequential(
            _maybe_sn(nn.Conv2d(channels, w, 4, 2, 1), sn), nn.LeakyReLU(0.2, True),
            _maybe_sn(nn.Conv2d(w, 2 * w, 4, 2, 1), sn), nn.LeakyReLU(0.2, True),
            _maybe_sn(nn.Conv2d(2 * w, 4 * w, 4, 2, 1), sn), nn.LeakyReLU(0.2, True),
            nn.Flatten(),
        )
        self.head = _maybe_sn(nn.Linear(4 * w * 16, out_features), sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(-1)


class MLPGenerator(nn.Module):
    """z [N, latent_dim] -> [N, *data_shape]; tanh output when `bounded`."""

    def __init__(self, latent_dim: int, data_shape: tuple[int, ...], hidden: int = 128, bounded: bool = False):
        super().__init__()
        self.latent_dim = latent_dim
        self.data_shape = tuple(data_shape)
        self.body = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(True),
            nn.Linear(hidden, hidden), nn.ReLU(True),
            nn.Linear(hidden, math.prod(data_shape)),
            nn.Tanh() if bounded else nn.Identity(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z).reshape(z.shape[0], *self.data_shape)


class MLPCritic(nn.Module):
    """[N, *data_shape] -> [N] raw values (or [N, out_features])."""

    def __init__(self, data_shape: tuple[int, ...], hidden: int = 128, spectral_norm: bool = False, out_features: int = 1):
        super().__init__()
        sn = spectral_norm
        self.features = nn.Sequential(
            nn.Flatten(),
            _maybe_sn(nn.Linear(math.prod(data_shape), hidden), sn), nn.LeakyReLU(0.2, True),
            _maybe_sn(nn.Linear(hidden, hidden), sn), nn.LeakyReLU(0.2, True),
        )
        self.head = _maybe_sn(nn.Linear(hidden, out_features), sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(-1)


def make_generator(data_shape, latent_dim: int, width: int = 32, hidden: int = 128, architecture: str = "auto") -> nn.Module:
    """DCGAN generator for [C, 32, 32] (unless architecture="mlp"), else an MLP generator."""
    data_shape = tuple(data_shape)
    if _use_dcgan(data_shape, architecture):
        return DCGANGenerator(latent_dim, data_shape[0], width)
    return MLPGenerator(latent_dim, data_shape, hidden, bounded=len(data_shape) == 3)


def make_critic(data_shape, width: int = 32, hidden: int = 128, spectral_norm: bool = False, out_features: int = 1,
                architecture: str = "auto") -> nn.Module:
    """DCGAN critic for [C, 32, 32] (unless architecture="mlp"), else an MLP critic; `out_features` > 1
    makes it an encoder."""
    data_shape = tuple(data_shape)
    if _use_dcgan(data_shape, architecture):
        return DCGANCritic(data_shape[0], width, spectral_norm, out_features)
    return MLPCritic(data_shape, hidden, spectral_norm, out_features)


def make_encoder(data_shape, latent_dim: int, width: int = 32, hidden: int = 128, architecture: str = "auto") -> nn.Module:
    """x [N, *data_shape] -> z [N, latent_dim] (a critic body with a latent_dim-wide head)."""
    return make_critic(data_shape, width, hidden, spectral_norm=False, out_features=latent_dim, architecture=architecture)


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) conv/linear weights, N(1, 0.02) BatchNorm scales."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            # Under spectral norm the stored tensor is the parametrisation's "original".
            weight = m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else m.weight
            nn.init.normal_(weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
