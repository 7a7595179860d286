"""A procedural 10-class image set ("shapes") for the development protocol.

MNIST's classes are strokes of one ink level, so a distance space that ignores how much ink an
image holds suits it and nothing says it suits anything else. Here the amount of ink and the
brightness vary within every class and carry part of what a class is: each image is one shape
family, drawn with its own size, position, rotation, fill or outline stroke, brightness, texture,
background level and pixel noise.

    0 disc   1 square   2 triangle   3 plus   4 ring   5 star   6 diamond   7 ellipse
    8 two bars   9 chevron

`make_shapes(n_per_class, seed)` -> (images [N, 1, 28, 28] in [0, 1], labels [N]), deterministic
for a seed; `omasgan.data` pads them to 32x32 and scales them to [-1, 1] like MNIST.
"""
from __future__ import annotations

import math

import torch

SIZE = 28
NUM_CLASSES = 10
NAMES = ("disc", "square", "triangle", "plus", "ring", "star", "diamond", "ellipse", "two bars", "chevron")


def _polygon_sdf(x: torch.Tensor, y: torch.Tensor, angles: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Signed distance (approximate: max over edge half-planes, negative inside) of regular
    polygons with vertices at `angles` [V] on a circle of `radius` [B, 1, 1]; x, y [B, H, W]."""
    sdf = None
    v = len(angles)
    for i in range(v):
        mid = (angles[i] + angles[(i + 1) % v] + (2 * math.pi if i == v - 1 else 0)) / 2
        apothem = radius * math.cos(math.pi / v)
        edge = x * math.cos(mid) + y * math.sin(mid) - apothem
        sdf = edge if sdf is None else torch.maximum(sdf, edge)
    return sdf


def _shape_sdf(cls: int, x: torch.Tensor, y: torch.Tensor, r: torch.Tensor, aspect: torch.Tensor) -> torch.Tensor:
    """[B, H, W] signed distance in pixels (negative inside) of class `cls` with size r [B, 1, 1]
    in the shape's own (rotated, centred) coordinates x, y."""
    if cls == 0:
        return torch.hypot(x, y) - r
    if cls == 1:
        return torch.maximum(x.abs(), y.abs()) - 0.8 * r
    if cls == 2:
        return _polygon_sdf(x, y, torch.tensor([-math.pi / 2, math.pi / 6, 5 * math.pi / 6]), r)
    if cls == 3:
        arm, half = r, 0.3 * r
        horizontal = torch.maximum(x.abs() - arm, y.abs() - half)
        vertical = torch.maximum(x.abs() - half, y.abs() - arm)
        return torch.minimum(horizontal, vertical)
    if cls == 4:
        return (torch.hypot(x, y) - 0.75 * r).abs() - 0.25 * r
    if cls == 5:
        angle = torch.atan2(y, x) + math.pi / 2
        wave = torch.cos(5 * angle)  # five points
        return torch.hypot(x, y) - r * (0.62 + 0.38 * wave)
    if cls == 6:
        return (x.abs() + y.abs()) / math.sqrt(2) - 0.72 * r
    if cls == 7:
        return torch.hypot(x / (r * aspect), y / (r * aspect * 0.4)) * r * 0.6 - r * 0.6
    if cls == 8:
        bars = torch.minimum((y - 0.5 * r).abs(), (y + 0.5 * r).abs()) - 0.2 * r
        return torch.maximum(bars, x.abs() - r)
    # 9: chevron, two strokes meeting at a point
    left = (0.7071 * (x + y)).abs() - 0.2 * r
    right = (0.7071 * (x - y)).abs() - 0.2 * r
    return torch.maximum(torch.minimum(torch.maximum(left, -x), torch.maximum(right, x)), torch.maximum(y - 0.1 * r, -y - r))


def _draw_class(cls: int, n: int, gen: torch.Generator) -> torch.Tensor:
    """[n, 28, 28] in [0, 1]: n images of class `cls` with their own draws of every factor."""
    def uniform(low, high):
        return low + (high - low) * torch.rand(n, 1, 1, generator=gen)

    r = uniform(4.5, 11.0)  # size: the shape spans about 30-80% of the image
    cx, cy = (SIZE - 1) / 2 + uniform(-2.5, 2.5), (SIZE - 1) / 2 + uniform(-2.5, 2.5)
    turn = uniform(-math.pi / 9, math.pi / 9) + (uniform(0, math.pi) if cls == 7 else 0)  # ellipses: any orientation
    grid = torch.arange(SIZE, dtype=torch.float32)
    gy, gx = grid[None, :, None] - cy, grid[None, None, :] - cx
    x, y = gx * turn.cos() + gy * turn.sin(), -gx * turn.sin() + gy * turn.cos()
    sdf = _shape_sdf(cls, x, y, r, uniform(0.9, 1.2))
    outline = torch.rand(n, 1, 1, generator=gen) < (0.5 if cls not in (3, 8, 9) else 0.0)
    stroke = uniform(1.5, 4.0)
    sdf = torch.where(outline, sdf.abs() - stroke / 2, sdf)
    mask = (0.5 - sdf).clamp(0, 1)  # anti-aliased edge, one pixel wide

    # Texture inside the shape: none, stripes, a gradient or multiplicative noise.
    kind = torch.randint(4, (n, 1, 1), generator=gen)
    phase, period = uniform(0, 2 * math.pi), uniform(2.5, 6.0)
    direction = uniform(0, math.pi)
    along = gx * direction.cos() + gy * direction.sin()
    stripes = 0.65 + 0.35 * torch.sin(2 * math.pi * along / period + phase)
    gradient = (0.55 + 0.45 * (along / (2 * r)).clamp(-1, 1)).clamp(0.1, 1)
    noise = (0.75 + 0.25 * torch.randn(n, SIZE, SIZE, generator=gen)).clamp(0.2, 1.2)
    texture = torch.where(kind == 1, stripes, torch.where(kind == 2, gradient, torch.where(kind == 3, noise, 1.0)))

    brightness = uniform(0.35, 1.0)
    background = uniform(0.0, 0.15) * (torch.rand(n, 1, 1, generator=gen) < 0.4)
    image = background * (1 - mask) + brightness * texture * mask
    image = image + 0.03 * torch.randn(n, SIZE, SIZE, generator=gen)
    return image.clamp(0, 1)


def make_shapes(n_per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(images float32 [10 n, 1, 28, 28] in [0, 1], labels int64 [10 n]), shuffled; the same for
    the same seed."""
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, int) or n_per_class < 1:
        raise ValueError(f"n_per_class must be an int >= 1, got {n_per_class!r}")
    gen = torch.Generator().manual_seed(seed)
    images = torch.cat([_draw_class(c, n_per_class, gen) for c in range(NUM_CLASSES)])
    labels = torch.arange(NUM_CLASSES).repeat_interleave(n_per_class)
    order = torch.randperm(len(labels), generator=gen)
    return images[order].unsqueeze(1).contiguous(), labels[order]
