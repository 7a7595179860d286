"""The spaces nearest-sample distances are measured in, shared by every model that has a `space`
setting (OMASGAN's d, s, J input and manifold term; the nearest neighbour's bank).

    "pixel"  the flattened samples (the paper's)
    "unit"   each sample minus `offset` (the training data's minimum: an image's background),
             scaled to unit l2 norm, so distances compare shapes, not the amount of ink
    blur     passes of a 3x3 binomial filter over images ([C, H, W] samples) before either, so a
             stroke one pixel over is near, not far (0 = none; ignored for other samples)
"""
from __future__ import annotations

import torch

SPACES = ("pixel", "unit")


def binomial_blur(images: torch.Tensor, passes: int) -> torch.Tensor:
    """[N, C, H, W] -> [N, C, H, W]: `passes` 3x3 binomial ([1, 2, 1] x [1, 2, 1] / 16) filters per
    channel, zero padding (differentiable)."""
    row = images.new_tensor([1.0, 2.0, 1.0])
    kernel = (row[:, None] * row[None, :] / 16).expand(images.shape[1], 1, 3, 3)
    for _ in range(passes):
        images = torch.nn.functional.conv2d(images, kernel, padding=1, groups=images.shape[1])
    return images


def embed(x: torch.Tensor, space: str, blur: int = 0, offset: float = 0.0) -> torch.Tensor:
    """[B, ...] -> [B, D] float32: samples x in `space` (see the module docstring)."""
    unit = space == "unit"
    x = x.float() - offset if unit else x.float()
    if blur and x.dim() == 4:
        x = binomial_blur(x, blur)
    flat = x.flatten(1)
    return flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-12) if unit else flat
