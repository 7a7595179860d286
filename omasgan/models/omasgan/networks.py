"""OMASGAN's six networks, each its own object (the reference code shared one object across
"different" models in stages 3 and 4; here every name owns separate parameters).

    G        stage-1 generator              z [N, latent_dim] -> x [N, *shape]
    V        stage-1 critic (trains on in stage 2)  x -> [N]
    B        boundary generator, starts as a copy of G (boundary="generator"), or a frozen copy
             of G behind a learned latent shift, B(z) = G(z + T(z)) (boundary="latent")
    G_prime  retrained generator G', starts as a copy of G
    C        stage-3 critic, starts as a copy of V
    J        anomaly discriminator, fresh   x -> [N] logits
"""
from __future__ import annotations

import torch
from torch import nn

from omasgan.nets import init_weights, make_critic, make_generator

GENERATORS = ("G", "B", "G_prime")
BOUNDARIES = ("generator", "latent")


class LatentBoundary(nn.Module):
    """B(z) = G_B(z + T(z)): `generator` (a copy of G, frozen by the caller) behind a learned latent
    shift T, whose last layer starts at zero, so B starts as G. z [N, latent_dim] -> [N, *shape].

    B's samples stay on the image manifold G learned, so stage 2 can move them only to other
    G-like images (unusual, boundary ones), never to faint strokes or pixel noise.
    """

    def __init__(self, generator: nn.Module, latent_dim: int, hidden: int):
        super().__init__()
        self.generator = generator
        self.shift = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(True), nn.Linear(hidden, latent_dim))
        nn.init.zeros_(self.shift[-1].weight)
        nn.init.zeros_(self.shift[-1].bias)

    def train(self, mode: bool = True) -> "LatentBoundary":
        super().train(mode)
        self.generator.eval()  # frozen: its BatchNorm statistics stay G's
        return self

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z + self.shift(z))
CRITICS = ("V", "C", "J")


def build_networks(data_shape, *, latent_dim: int, width: int, hidden: int, spectral_norm: bool,
                   architecture: str = "auto", boundary: str = "generator") -> dict[str, nn.Module]:
    """Fresh, independently initialised networks for data of `data_shape` (copies happen later)."""
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {', '.join(BOUNDARIES)}; got {boundary!r}")
    nets: dict[str, nn.Module] = {}
    for name in GENERATORS:
        nets[name] = make_generator(data_shape, latent_dim, width, hidden, architecture)
    for name in CRITICS:
        nets[name] = make_critic(data_shape, width, hidden, spectral_norm, architecture=architecture)
    # DCGAN's N(0, 0.02) init suits the BatchNorm generators; the critics have no normalisation,
    # and with that init their output starts almost constant in x, which collapses G early.
    for name in GENERATORS:
        init_weights(nets[name])
    if boundary == "latent":
        nets["B"] = LatentBoundary(nets["B"], latent_dim, hidden)
        nets["B"].generator.requires_grad_(False)
    return nets


def start_boundary(boundary: nn.Module, generator: nn.Module) -> None:
    """Stage 2's start: B := G (a LatentBoundary gets G's weights behind its zero shift)."""
    copy_into(boundary.generator if isinstance(boundary, LatentBoundary) else boundary, generator)


def copy_into(target: nn.Module, source: nn.Module) -> None:
    """target's parameters and buffers := source's (values only; the objects stay distinct)."""
    target.load_state_dict(source.state_dict())
