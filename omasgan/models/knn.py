"""Nearest-neighbour anomaly detection: the anchor every GAN must beat (docs/method.md section 3).

score(x*) = min_j ||e(x*) - e(x_j)||_p^q over the normal training samples x_j, where the
embedding e is one of omasgan.spaces' ("pixel": the flattened samples; "unit", with `blur`; "auto":
the one of these that omasgan.spaces.choose picks on the normal data, the space of OMASGAN's
manifold term, so NearestNeighbour(space="auto") is that term alone) or the features of the
discriminator of a DCGAN trained on the normal data (space="critic"). The minimum runs on
`omasgan.ops.min_distance`, the same kernel as OMASGAN's distance term: it streams the bank and
never forms the query x bank distance matrix.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from omasgan import spaces
from omasgan.data import batches
from omasgan.engine import Engine, seed_everything
from omasgan.models.base import (
    Detector, NotExportableError, ScoreModule, by_shape, check_choice, check_int, check_number,
)
from omasgan.models.dcgan import MLP_PRESETS, DCGANConfig, build_dcgan, train_dcgan
from omasgan.ops import BACKENDS, leave_self_out_min_distance, min_distance

SPACES = (*spaces.SPACES, "critic")


@dataclass
class NearestNeighbourConfig(DCGANConfig):
    """p, q: the distance ||.||_p^q (p in [1, inf], q > 0). space: "pixel" (raw samples), "unit"
    (omasgan.spaces: minus the training minimum, unit norm; OMASGAN's meaning), "auto" (one of
    those and its blur, chosen at fit on the normal data: omasgan.spaces.choose) or "critic" (a
    trained DCGAN discriminator's features; the DCGAN settings, see DCGANConfig, apply to this
    space only). blur: binomial blur passes over images before "pixel" or "unit" (omasgan.spaces).
    backend: min_distance's backend ("auto" picks the fastest here)."""

    p: float = 2.0
    q: float = 1.0
    space: str = "pixel"
    blur: int = 0
    backend: str = "auto"

    def __post_init__(self):
        super().__post_init__()
        check_number(self, "p", low=1)
        check_number(self, "q", low=0, low_open=True)
        check_choice(self, "space", SPACES)
        check_int(self, "blur", low=0)
        spaces.check_setting(self.space, self.blur)
        check_choice(self, "backend", BACKENDS)


class NearestNeighbour(spaces.FittedSpace, Detector):
    """Distance to the nearest normal training sample, in one of omasgan.spaces' spaces or a
    trained critic's feature space."""

    name = "knn"
    Config = NearestNeighbourConfig
    # The bank is always the whole training split; the presets only size the critic's DCGAN.
    presets = {
        "quick": by_shape(dict(width=16, batch_size=64, epochs=1, score_batch_size=1000), MLP_PRESETS["quick"]),
        "paper": by_shape({}, MLP_PRESETS["paper"]),
    }

    bank_: torch.Tensor  # fitted: [Nb, F] the embedded normal training samples (a .npy path streams it)
    # and offset_, space_, blur_, space_scores_: the fitted space (omasgan.spaces.FittedSpace)

    def _build(self, input_shape: tuple[int, ...]) -> None:
        if self.config.space == "critic":
            self.networks = {"discriminator": build_dcgan(input_shape, self.config, self.torch_device)["discriminator"]}

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """[B, ...] on self.torch_device -> [B, F]."""
        c = self.config
        if c.space == "critic":
            return self.networks["discriminator"].features(x).flatten(1).float()
        return self.embed_in_space(x)

    def _fit(self, train: torch.Tensor, val: torch.Tensor, engine: Engine) -> None:
        c = self.config
        self.fit_space(train)  # "critic" stays as set; its features replace the embedding
        if c.space == "critic":
            seed_everything(c.seed, c.deterministic)
            dcgan = build_dcgan(tuple(train.shape[1:]), c, self.torch_device)
            train_dcgan(dcgan, self.training_subset(train), c, engine)
            self.networks = {"discriminator": dcgan["discriminator"].eval()}
        with torch.no_grad():
            self.bank_ = torch.cat([self._embed(b.to(self.torch_device)) for b in batches(train, c.score_batch_size)])

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        return min_distance(self._embed(x), self.bank_, c.p, c.q, backend=c.backend)[0]

    def export_module(self) -> torch.nn.Module:
        """The score with omasgan.export's `nearest_decomposed` (standard operators) in place of
        the kernel op."""
        from omasgan.export import nearest_decomposed

        if not isinstance(self.bank_, torch.Tensor):
            raise NotExportableError("export needs the bank in memory, not a file")
        c = self.config
        return ScoreModule(self.networks, lambda x: nearest_decomposed(self._embed(x), self.bank_, c.p, c.q)[0])

    def _training_scores(self, train: torch.Tensor) -> np.ndarray:
        """[Nt, ...] -> [Nt]: each training row's distance to its nearest OTHER bank row (the bank
        is the embedded training data in the same order; a row is not its own neighbour)."""
        c = self.config
        values = leave_self_out_min_distance(self.bank_, c.p, c.q, chunk_size=c.score_batch_size, backend=c.backend)[0]
        return values.cpu().double().numpy()

    def _extra_state(self) -> dict:
        return {"bank": self.bank_.cpu(), **self.space_state()}  # key "bank": older files load

    def _load_extra_state(self, state: dict) -> None:
        self.bank_ = state["bank"].to(self.torch_device)
        self.load_space_state(state)
