"""A procedural 10-class image set ("shapes") for the development protocol.

MNIST's classes are strokes of one ink level, so a distance space that ignores how much ink an
image holds suits it, and nothing says it suits anything else. Here the amount of ink and the
brightness vary within every class and carry part of what an image is: each image is one shape
family, drawn with its own size, position, rotation, fill or outline stroke, brightness, texture,
background level and pixel noise.

    0 disc   1 square   2 triangle   3 plus   4 ring   5 star   6 diamond   7 ellipse
    8 two bars   9 chevron

`make_shapes(n_per_class, seed)` -> (images [N, 1, 28, 28] in [0, 1], labels [N]), deterministic
for a seed; `omasgan.data.load("shapes")` scales them to [-1, 1] and pads them to 32x32 like MNIST.

How an image is drawn: every shape is a signed distance (pixels, negative inside) evaluated on
the 28x28 grid in the shape's own rotated frame, for a whole class at once. Its size `r` (the
radius of the smallest centred circle holding it) is uniform in [4.2, 10.5] px, so it spans about
30-75% of the image; the centre moves by up to 2.5 px but never so far that the shape leaves the
frame. Rotation is uniform in +-20 degrees (+-12 for the square and the diamond, which a larger
turn would confuse; any angle for the ellipse). Half of the squares, triangles, pluses, stars,
diamonds and ellipses are outlines: a band 1.5-4 px wide inside the boundary. The mask is the
clamp of 0.5 - distance to [0, 1] (anti-aliased edges), multiplied by a brightness in [0.35, 1]
and a texture (a quarter each: none, stripes at a random angle and a 2.5-6 px period, a linear
gradient, multiplicative noise). 40% of the images get a background level in [0, 0.15]; all get
Gaussian pixel noise of std 0.03, then a clamp to [0, 1].
"""
from __future__ import annotations

import math

import torch

SIZE = 28
NUM_CLASSES = 10
NAMES = ("disc", "square", "triangle", "plus", "ring", "star", "diamond", "ellipse", "two bars", "chevron")
OUTLINED = (1, 2, 3, 5, 6, 7)  # the classes drawn as an outline half the time
R_MIN, R_MAX, JITTER = 4.2, 10.5, 2.5  # size range and the most the centre moves (pixels)


def _segment(x, y, ax, ay, bx, by):
    """Distance [B, H, W] from (x, y) to the segments a-b (endpoints [B, 1, 1])."""
    dx, dy = bx - ax, by - ay
    t = (((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)).clamp(0, 1)
    return torch.hypot(x - ax - t * dx, y - ay - t * dy)


def _polygon(x, y, vx, vy):
    """Exact signed distance [B, H, W] to the closed polygons with vertices vx, vy [B, V]
    (negative inside, even-odd rule)."""
    dist, inside = None, torch.zeros_like(x, dtype=torch.bool)
    v = vx.shape[1]
    for i in range(v):
        ax, ay = vx[:, i, None, None], vy[:, i, None, None]
        bx, by = vx[:, (i + 1) % v, None, None], vy[:, (i + 1) % v, None, None]
        d = _segment(x, y, ax, ay, bx, by)
        dist = d if dist is None else torch.minimum(dist, d)
        crosses = (ay > y) != (by > y)
        x_at = ax + (y - ay) * (bx - ax) / torch.where(by == ay, torch.ones_like(by), by - ay)
        inside = inside ^ (crosses & (x < x_at))
    return torch.where(inside, -dist, dist)


def _box(x, y, half_w, half_h):
    """Exact signed distance to centred axis-aligned rectangles of half sizes [B, 1, 1]."""
    qx, qy = x.abs() - half_w, y.abs() - half_h
    return torch.hypot(qx.clamp(min=0), qy.clamp(min=0)) + torch.maximum(qx, qy).clamp(max=0)


def _regular(n_vertices: int, r: torch.Tensor, radii=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Vertices [B, V] of a polygon with vertex i at angle -90 + 360 i / V degrees (the first one
    points up) and radius r * radii[i % len(radii)]."""
    angle = -math.pi / 2 + 2 * math.pi * torch.arange(n_vertices) / n_vertices
    scale = torch.ones(n_vertices) if radii is None else torch.tensor(radii).repeat(n_vertices // len(radii))
    r = r.view(-1, 1)
    return r * scale * angle.cos(), r * scale * angle.sin()


def _shape_sdf(cls: int, x: torch.Tensor, y: torch.Tensor, r: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """[B, H, W] signed distance in pixels (negative inside) of class `cls`, in the shape's own
    centred frame (y points down), fitting inside the circle of radius r [B, 1, 1]; u [B, 1, 1]
    in [0, 1) is a per-image draw of the class's own proportion."""
    n = len(r)
    if cls == 0:  # disc
        return torch.hypot(x, y) - r
    if cls == 1:  # square, corners on the circle
        return _box(x, y, r / math.sqrt(2), r / math.sqrt(2))
    if cls == 2:  # triangle, pointing up
        return _polygon(x, y, *_regular(3, r))
    if cls == 3:  # plus: arms of half width w, corners on the circle
        w = 0.26 + 0.1 * u
        arm = r / torch.sqrt(1 + w * w)
        return torch.minimum(_box(x, y, arm, w * arm), _box(x, y, w * arm, arm))
    if cls == 4:  # ring: outer radius r, width 20-35% of r (at least 1.5 px)
        width = ((0.2 + 0.15 * u) * r).clamp(min=1.5)
        return (torch.hypot(x, y) - (r - width / 2)).abs() - width / 2
    if cls == 5:  # five-point star, inner radius 40-50% of the outer
        vx, vy = _regular(10, r)
        inner = torch.where(torch.arange(10) % 2 == 1, 0.4 + 0.1 * u.view(n, 1), torch.ones(n, 1))
        return _polygon(x, y, vx * inner, vy * inner)
    if cls == 6:  # diamond: a rhombus taller than wide
        vx, vy = _regular(4, r)
        return _polygon(x, y, vx * (0.55 + 0.15 * u.view(n, 1)), vy)
    if cls == 7:  # ellipse: semi-axes r and 35-50% of r (distance normalised by the gradient)
        a, b = r, (0.35 + 0.15 * u) * r
        level = torch.hypot(x / a, y / b)
        grad = torch.hypot(x / (a * a), y / (b * b)) / level.clamp(min=1e-6)
        return (level - 1) / grad.clamp(min=1e-6)
    if cls == 8:  # two parallel horizontal bars, at least 1.5 px thick
        half_t = ((0.13 + 0.07 * u) * r).clamp(min=0.75)
        centre = (0.3 + 0.12 * u) * r + half_t
        reach = centre + half_t
        half_l = torch.sqrt(r * r - reach * reach)
        return torch.minimum(_box(x, y - centre, half_l, half_t), _box(x, y + centre, half_l, half_t))
    # 9: chevron, a "V" of two strokes with round ends meeting at the bottom
    half_w = ((0.12 + 0.06 * u) * r).clamp(min=0.75)
    reach = r - half_w
    top_x, top_y, tip_y = -0.82 * reach, -0.57 * reach, 0.57 * reach
    zero = torch.zeros_like(r)
    left = _segment(x, y, top_x, top_y, zero, tip_y)
    right = _segment(x, y, -top_x, top_y, zero, tip_y)
    return torch.minimum(left, right) - half_w


def _draw_class(cls: int, n: int, gen: torch.Generator, with_mask: bool = False):
    """[n, 28, 28] in [0, 1]: n images of class `cls` with their own draws of every factor
    (and, with `with_mask`, the shape's anti-aliased mask [n, 28, 28] before texture and noise)."""
    def uniform(low, high):
        return low + (high - low) * torch.rand(n, 1, 1, generator=gen)

    r = uniform(R_MIN, R_MAX)
    room = (SIZE / 2 - 1 - r).clamp(0, JITTER)  # keeps the shape (and its soft edge) inside the frame
    cx = (SIZE - 1) / 2 + room * (2 * torch.rand(n, 1, 1, generator=gen) - 1)
    cy = (SIZE - 1) / 2 + room * (2 * torch.rand(n, 1, 1, generator=gen) - 1)
    max_turn = math.pi if cls == 7 else math.radians(12 if cls in (1, 6) else 20)
    turn = uniform(-max_turn, max_turn)
    grid = torch.arange(SIZE, dtype=torch.float32)
    gy, gx = grid[None, :, None] - cy, grid[None, None, :] - cx
    x, y = gx * turn.cos() + gy * turn.sin(), -gx * turn.sin() + gy * turn.cos()
    sdf = _shape_sdf(cls, x, y, r, torch.rand(n, 1, 1, generator=gen))
    outline = torch.rand(n, 1, 1, generator=gen) < (0.5 if cls in OUTLINED else 0.0)
    stroke = uniform(1.5, 4.0)
    sdf = torch.where(outline, torch.maximum(sdf, -sdf - stroke), sdf)  # a band inside the boundary
    mask = (0.5 - sdf).clamp(0, 1)  # anti-aliased edge, one pixel wide

    # Texture inside the shape: none, stripes, a gradient or multiplicative noise.
    kind = torch.randint(4, (n, 1, 1), generator=gen)
    phase, period, direction = uniform(0, 2 * math.pi), uniform(3.0, 6.0), uniform(0, 2 * math.pi)
    along = gx * direction.cos() + gy * direction.sin()
    stripes = 0.7 + 0.3 * torch.sin(2 * math.pi * along / period + phase)
    gradient = (0.65 + 0.35 * along / r).clamp(0.3, 1)
    noise = (0.8 + 0.2 * torch.randn(n, SIZE, SIZE, generator=gen)).clamp(0.4, 1.2)
    texture = torch.where(kind == 1, stripes, torch.where(kind == 2, gradient, torch.where(kind == 3, noise, 1.0)))

    brightness = uniform(0.35, 1.0)
    background = uniform(0.0, 0.15) * (torch.rand(n, 1, 1, generator=gen) < 0.4)
    image = background * (1 - mask) + brightness * texture * mask
    image = (image + 0.03 * torch.randn(n, SIZE, SIZE, generator=gen)).clamp(0, 1)
    return (image, mask) if with_mask else image


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


def save_figure(path, n_columns: int = 12, dpi: int = 100) -> None:
    """The first `n_columns` images of each class of the training split (2,500 per class, seed 0),
    one labelled row per class, to `path` (matplotlib). docs/shapes.png is
    `python -m omasgan.shapes docs/shapes.png`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images, labels = make_shapes(2500, 0)
    fig, axes = plt.subplots(NUM_CLASSES, n_columns, figsize=(0.6 * n_columns + 1.2, 0.6 * NUM_CLASSES),
                             gridspec_kw={"wspace": 0.05, "hspace": 0.05}, squeeze=False)
    for c in range(NUM_CLASSES):
        for j, image in enumerate(images[labels == c][:n_columns, 0]):
            ax = axes[c, j]
            ax.imshow(image.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(f"{c} {NAMES[c]}", rotation=0, ha="right", va="center", fontsize=9)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    import sys

    save_figure(sys.argv[1] if len(sys.argv) > 1 else "shapes.png")
