"""OMASGAN's six networks, each its own object (the reference code shared one object across
"different" models in stages 3 and 4; here every name owns separate parameters).

    G        stage-1 generator              z [N, latent_dim] -> x [N, *shape]
    V        stage-1 critic (trains on in stage 2)  x -> [N]
    B        boundary generator, starts as a copy of G
    G_prime  retrained generator G', starts as a copy of G
    C        stage-3 critic, starts as a copy of V
    J        anomaly discriminator, fresh   x -> [N] logits
"""
from __future__ import annotations

from torch import nn

from omasgan.nets import init_weights, make_critic, make_generator

GENERATORS = ("G", "B", "G_prime")
CRITICS = ("V", "C", "J")


def build_networks(data_shape, *, latent_dim: int, width: int, hidden: int, spectral_norm: bool,
                   architecture: str = "auto") -> dict[str, nn.Module]:
    """Fresh, independently initialised networks for data of `data_shape` (copies happen later)."""
    nets: dict[str, nn.Module] = {}
    for name in GENERATORS:
        nets[name] = make_generator(data_shape, latent_dim, width, hidden, architecture)
    for name in CRITICS:
        nets[name] = make_critic(data_shape, width, hidden, spectral_norm, architecture=architecture)
    # DCGAN's N(0, 0.02) init suits the BatchNorm generators; the critics have no normalisation,
    # and with that init their output starts almost constant in x, which collapses G early.
    for name in GENERATORS:
        init_weights(nets[name])
    return nets


def copy_into(target: nn.Module, source: nn.Module) -> None:
    """target's parameters and buffers := source's (values only; the objects stay distinct)."""
    target.load_state_dict(source.state_dict())
