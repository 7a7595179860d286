"""AnoGAN (Schlegl et al., 2017; METHOD.md section 3) as a Detector.

Training: a DCGAN on the normal data (`omasgan.models.dcgan`).
Score: for each query x, Adam searches the latent z minimising
(1 - lam) ||x - G(z)||_1 + lam ||f(x) - f(G(z))||_1 (f = the discriminator's features), and the
score is that loss at the end. The search runs for a whole scoring batch at once
(`omasgan.models.anogan.search.latent_search`), with both networks frozen in eval mode.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from omasgan.engine import Engine, frozen, seed_everything
from omasgan.models.anogan.search import latent_search
from omasgan.models.base import Detector, NotExportableError, by_shape, check_int, check_number
from omasgan.models.dcgan import MLP_PRESETS, DCGANConfig, build_dcgan, train_dcgan


@dataclass
class AnoGANConfig(DCGANConfig):
    """AnoGAN's settings: the DCGAN's (see DCGANConfig) and the latent search's.

    lam: weight of the feature term of the search loss (the paper's 0.1).
    search_steps, search_lr: Adam steps and learning rate of the latent search; one search batch
        is `score_batch_size` queries.
    """

    lam: float = 0.1
    search_steps: int = 100
    search_lr: float = 0.05

    def __post_init__(self):
        super().__post_init__()
        check_int(self, "search_steps", low=0)
        check_number(self, "search_lr", low=0, low_open=True)
        check_number(self, "lam", low=0, high=1)


class AnoGAN(Detector):
    """DCGAN + batched latent search; the score is the search loss at the end."""

    name = "anogan"
    Config = AnoGANConfig
    # "quick": minutes per MNIST class on 2 CPU cores, the search included; "paper": the defaults.
    presets = {
        "quick": by_shape(dict(width=16, batch_size=64, max_train_samples=12000, epochs=3, search_steps=5,
                               search_lr=0.2, score_batch_size=1000),
                          {**MLP_PRESETS["quick"], "search_steps": 50, "search_lr": 0.1}),
        "paper": by_shape({}, {**MLP_PRESETS["paper"], "search_steps": 200, "search_lr": 0.05}),
    }

    def _build(self, input_shape: tuple[int, ...]) -> None:
        self.networks = build_dcgan(input_shape, self.config, self.torch_device)

    def _fit(self, train: torch.Tensor, val: torch.Tensor, engine: Engine) -> None:
        seed_everything(self.config.seed, self.config.deterministic)
        train = self.training_subset(train)
        self._build(tuple(train.shape[1:]))
        train_dcgan(self.networks, train, self.config, engine)

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        gen, disc = self.networks["generator"], self.networks["discriminator"]
        # The same seeded starting codes for every batch, so scores are reproducible (and equal
        # after save/load).
        z0 = torch.randn(len(x), c.latent_dim, generator=torch.Generator().manual_seed(c.seed)).to(x.device)
        with torch.enable_grad(), frozen(gen, disc):
            scores, _ = latent_search(gen, disc.features, x, z0, steps=c.search_steps, lr=c.search_lr, lam=c.lam)
        return scores

    def export_module(self) -> torch.nn.Module:
        raise NotExportableError("anogan cannot be exported to ONNX: its score is a latent search (an optimisation "
                                 "per query), not a fixed graph")
