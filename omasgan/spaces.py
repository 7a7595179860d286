"""The spaces nearest-sample distances are measured in, shared by every model that has a `space`
setting (OMASGAN's d, s, J input and manifold term; the nearest neighbour's bank).

    "pixel"  the flattened samples (the paper's)
    "unit"   each sample minus `offset` (the training data's minimum: an image's background),
             scaled to unit l2 norm, so distances compare shapes, not the amount of ink
    blur     passes of a 3x3 binomial filter over images ([C, H, W] samples) before either, so a
             stroke one pixel over is near, not far (0 = none; ignored for other samples)
    "auto"   one of CANDIDATES (a space and its blur), chosen at fit on the normal training data
             alone by `choose` (images; other samples get "pixel")

Which space suits a dataset depends on what tells its classes apart: the unit space wins where the
amount of ink or brightness varies within a class (MNIST's strokes), pixels where it carries
information (the 8x8 digits). `choose` asks the data: it holds out some normal images, pastes into
each a rectangle of another (a local change no normal image has), and keeps the space whose
nearest-sample distance best tells these from the untouched ones, if it does so clearly better
than plain pixels.
"""
from __future__ import annotations

import torch

SPACES = ("pixel", "unit", "auto")
CANDIDATES = (("pixel", 0), ("pixel", 1), ("unit", 0), ("unit", 1))  # (space, blur) that "auto" chooses from


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


def pasted_patches(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """[N, C, H, W] -> [N, C, H, W]: each image with a rectangle of another image of the set
    pasted in (each side 1/4 to 1/2 of the image's, source and target places drawn at random)."""
    n, _, h, w = images.shape
    out = images.clone()
    source = torch.randperm(n, generator=generator)
    draw = lambda low, high: torch.randint(low, high + 1, (n,), generator=generator).tolist()
    ph, pw = draw(max(1, h // 4), max(1, h // 2)), draw(max(1, w // 4), max(1, w // 2))
    for i, (j, a, b) in enumerate(zip(source.tolist(), ph, pw)):
        r, c, r2, c2 = (int(torch.randint(0, size - side + 1, (1,), generator=generator))
                        for size, side in ((h, a), (w, b), (h, a), (w, b)))
        out[i, :, r:r + a, c:c + b] = images[j, :, r2:r2 + a, c2:c2 + b]
    return out


def choose(train: torch.Tensor, offset: float, p: float = 2.0, seed: int = 0, held_out: int = 1000,
           bank_size: int = 10000) -> tuple[str, int, dict[str, float]]:
    """The (space, blur) of CANDIDATES for normal training images train [N, C, H, W], and each
    candidate's AUROC {"space/blur": auroc} on the task that decides it: min(held_out, N // 5)
    held-out images against the same images with a pasted patch (pasted_patches), each scored by
    its l_p distance to the nearest of up to `bank_size` of the other images. The best candidate
    wins only if it beats plain pixels (CANDIDATES[0]) by more than the standard error of pixels'
    AUROC; otherwise pixels stay, so a transformed space must be clearly better on the data. The
    draws use their own generator (seed), so the training that follows sees the same random
    stream. Samples that are not images, and sets of fewer than 10 images (too few to hold any
    out), get ("pixel", 0) and no scores."""
    from sklearn.metrics import roc_auc_score

    from omasgan.ops import min_distance

    if train.dim() != 4 or len(train) < 10:
        return "pixel", 0, {}
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(train), generator=g)
    n = min(held_out, len(train) // 5)
    normal = train[order[:n]].float()
    queries = torch.cat([normal, pasted_patches(normal, g)])
    bank = train[order[n:n + bank_size]]
    labels = torch.cat([torch.zeros(n), torch.ones(n)]).numpy()
    auroc = {}
    for space, blur in CANDIDATES:
        distance = min_distance(embed(queries, space, blur, offset), embed(bank, space, blur, offset), p, 1.0)[0]
        auroc[space, blur] = float(roc_auc_score(labels, distance.double().numpy()))
    plain = CANDIDATES[0]
    best = max(CANDIDATES, key=auroc.get)
    if auroc[best] - auroc[plain] <= auroc_standard_error(auroc[plain], n, n):
        best = plain  # within the estimate's noise of plain pixels: keep them
    return best[0], best[1], {f"{space}/{blur}": value for (space, blur), value in auroc.items()}


def auroc_standard_error(auroc: float, positives: int, negatives: int) -> float:
    """Hanley & McNeil's (1982) standard error of an AUROC estimated from `positives` and
    `negatives` samples."""
    q1, q2 = auroc / (2 - auroc), 2 * auroc ** 2 / (1 + auroc)
    variance = (auroc * (1 - auroc) + (positives - 1) * (q1 - auroc ** 2)
                + (negatives - 1) * (q2 - auroc ** 2)) / (positives * negatives)
    return max(variance, 0.0) ** 0.5


def check_setting(space: str, blur: int) -> None:
    """Refuses a blur beside space="auto", which chooses the blur itself."""
    if space == "auto" and blur:
        raise ValueError(f"blur: space='auto' chooses the blur itself (0 or 1), got blur={blur!r}; "
                         "set space='pixel' or space='unit' to fix the blur")


def resolve(train: torch.Tensor, space: str, blur: int, offset: float, p: float = 2.0,
            seed: int = 0) -> tuple[str, int, dict[str, float]]:
    """(space, blur, scores) for normal training samples train [N, ...]: the settings as given, or
    for space="auto" the candidate `choose` picks, with its scores ({} when nothing was chosen)."""
    if space != "auto":
        return space, blur, {}
    return choose(train, offset, p, seed)


class FittedSpace:
    """The fitted space of a detector whose config has `space`, `blur`, `p` and `seed` (mixed into
    OMASGAN and the nearest neighbour): set by `fit_space`, saved by `space_state`, restored by
    `load_space_state`."""

    offset_: float = 0.0  # the training data's minimum, the origin of the "unit" space
    space_: str = "pixel"  # the space and blur distances are measured in (space="auto": chosen at fit)
    blur_: int = 0
    space_scores_: dict = {}  # space="auto": each candidate's AUROC on the task that chose it

    def fit_space(self, train: torch.Tensor) -> None:
        """Sets the fitted space from normal training samples train [N, ...]."""
        c = self.config
        self.offset_ = float(train.min())
        self.space_, self.blur_, self.space_scores_ = resolve(train, c.space, c.blur, self.offset_, c.p, c.seed)

    def embed_in_space(self, x: torch.Tensor) -> torch.Tensor:
        """[B, ...] -> [B, D] float32: samples x in the fitted space."""
        return embed(x, self.space_, self.blur_, self.offset_)

    def space_state(self) -> dict:
        return {"offset": self.offset_, "space": self.space_, "blur": self.blur_, "space_scores": self.space_scores_}

    def load_space_state(self, state: dict) -> None:
        # Files from before the unit space have no offset; from before space="auto", no space or
        # blur: they measured in the space and blur they were set to.
        self.offset_ = float(state.get("offset", 0.0))
        self.space_ = str(state.get("space", self.config.space))
        self.blur_ = int(state.get("blur", self.config.blur))
        self.space_scores_ = dict(state.get("space_scores", {}))
