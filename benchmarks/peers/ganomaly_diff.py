"""Why does anomalib's GANomaly beat omasgan's at the same budget? Single-factor swaps on the
DEVELOPMENT protocol (`make_split(..., dev=True)`: a held-out tenth of MNIST's training split
stands in for the test split, which is never read), so no setting is chosen on test data.

    .venv/bin/python benchmarks/peers/ganomaly_diff.py --variants ours,anomalib,ours-anomalib-generator \
        --classes 0,4,9 --out runs/peers/ganomaly-diff.json

Variants (all at omasgan's GANomaly "quick" budget: width / n_features 16, latent 100, batch 64,
3 epochs over the seeded 12,000-image subset, Adam 2e-4 (0.5, 0.999), loss weights 1/50/1):

- ours: `omasgan.models.GANomaly` quick preset, unchanged;
- anomalib: anomalib 2.7's GanomalyModel + GeneratorLoss / DiscriminatorLoss (run_peers.py's loop);
- ours-anomalib-generator: ours, but the generator is anomalib's encoder-decoder-encoder (BatchNorm in
  both encoders, bias-free convs, 4x4-conv latent head), DCGAN-initialised like ours;
- ours-anomalib-generator-default-init: the same without the DCGAN initialisation (anomalib's
  `weights_init` is called on the top-level modules only, so its networks keep PyTorch's default init);
- ours-default-init: ours with PyTorch's default initialisation instead of N(0, 0.02);
- ours-bn-encoders: ours, with BatchNorm after the 2nd and 3rd convolution of both encoders (where
  anomalib's encoders have it), everything else (padding, biases, linear latent head, init) ours;
- ours-anomalib-losses: ours, but the generator's adversarial term is anomalib's (MSE between the
  discriminator's sigmoid outputs on x and x_rec, not feature matching) and its latent term is
  SmoothL1 (not MSE); the discriminator loss is halved as in anomalib's DiscriminatorLoss.

Not collected by pytest (not bench_*.py / test_*.py); needs `make peers-install`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_peers  # noqa: E402

from omasgan.data import make_split  # noqa: E402
from omasgan.evaluation import metrics  # noqa: E402
from omasgan.models.ganomaly.model import GANomaly  # noqa: E402
from omasgan.nets import init_weights, make_critic  # noqa: E402


class AnomalibGenerator(nn.Module):
    """anomalib's Generator behind omasgan's interface: x -> (x_rec, z [B, nz], z_rec [B, nz])."""

    def __init__(self, input_shape, latent_dim: int, width: int):
        super().__init__()
        from anomalib.models.image.ganomaly.torch_model import Generator

        self.g = Generator(tuple(input_shape[1:]), latent_dim, input_shape[0], width)

    def forward(self, x):
        fake, z, z_rec = self.g(x)
        return fake, z.flatten(1), z_rec.flatten(1)


class BNEncoderDecoderEncoder(nn.Module):
    """omasgan's EncoderDecoderEncoder for [C, 32, 32], with BatchNorm2d after the encoders' 2nd
    and 3rd convolutions (anomalib's encoders have it there); decoder unchanged."""

    def __init__(self, input_shape, latent_dim: int, width: int):
        super().__init__()
        from omasgan.nets import make_generator

        w, ch = width, input_shape[0]

        def encoder():
            return nn.Sequential(
                nn.Conv2d(ch, w, 4, 2, 1), nn.LeakyReLU(0.2, True),
                nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2, True),
                nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2, True),
                nn.Flatten(), nn.Linear(4 * w * 16, latent_dim),
            )

        self.encoder, self.reencoder = encoder(), encoder()
        self.decoder = make_generator(tuple(input_shape), latent_dim, width)

    def forward(self, x):
        z = self.encoder(x)
        x_rec = self.decoder(z)
        return x_rec, z, self.reencoder(x_rec)


def variant_class(generator: str, init: bool, losses: str = "ours"):
    """A GANomaly subclass whose _build swaps the generator and/or skips the DCGAN init, and whose
    _fit (with losses="anomalib") uses anomalib's generator and discriminator losses."""

    class Variant(GANomaly):
        def _fit(self, train, val, engine):
            if losses == "ours":
                return super()._fit(train, val, engine)
            import torch.nn.functional as F

            from omasgan.engine import Stage, seed_everything

            c = self.config
            seed_everything(c.seed, c.deterministic)
            train = self.training_subset(train)
            self._build(tuple(train.shape[1:]))
            gen, disc = self.networks["generator"], self.networks["discriminator"]
            opt_g = torch.optim.Adam(gen.parameters(), lr=c.lr, betas=(c.beta1, 0.999))
            opt_d = torch.optim.Adam(disc.parameters(), lr=c.lr, betas=(c.beta1, 0.999))

            def step(x):
                x_rec, z, z_rec = gen(x)
                adv = F.mse_loss(torch.sigmoid(disc(x_rec)), torch.sigmoid(disc(x)))  # anomalib's loss_adv
                con = F.l1_loss(x_rec, x)
                enc = F.smooth_l1_loss(z_rec, z)  # anomalib's loss_enc
                loss = c.w_adv * adv + c.w_con * con + c.w_enc * enc
                opt_g.zero_grad(set_to_none=True)
                loss.backward()
                opt_g.step()
                real, fake = disc(x), disc(x_rec.detach())
                loss_d = 0.5 * (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
                return {"g": loss, "adv": adv, "con": con, "enc": enc, "d": loss_d}

            stage = Stage("ganomaly", self.networks, {"generator": opt_g, "discriminator": opt_d}, step,
                          train, c.epochs, c.batch_size, steps_per_epoch=c.steps_per_epoch)
            engine.fit([stage], self.networks, config=self.model_settings(), resume=c.resume)

        def _build(self, input_shape):
            c = self.config
            if generator == "anomalib":
                gen = AnomalibGenerator(input_shape, c.latent_dim, c.width)
            elif generator == "bn":
                gen = BNEncoderDecoderEncoder(input_shape, c.latent_dim, c.width)
            else:
                from omasgan.models.ganomaly.networks import EncoderDecoderEncoder

                gen = EncoderDecoderEncoder(input_shape, c.latent_dim, c.width, c.hidden)
            self.networks = {"generator": gen, "discriminator": make_critic(input_shape, c.width, c.hidden)}
            for net in self.networks.values():
                if init:
                    init_weights(net)
                net.to(self.torch_device)

    return Variant


VARIANTS = {
    "ours": None,
    "anomalib": None,
    "ours-anomalib-generator": ("anomalib", True),
    "ours-anomalib-generator-default-init": ("anomalib", False),
    "ours-default-init": ("ours", False),
    "ours-anomalib-losses": ("ours", True, "anomalib"),
    "ours-bn-encoders": ("bn", True),
}


def run(variant: str, split, seed: int):
    if variant == "anomalib":
        return run_peers.run_anomalib_ganomaly(split, seed, print, progress=False, **run_peers.OURS_QUICK)
    cls = GANomaly if variant == "ours" else variant_class(*VARIANTS[variant])
    det = cls.from_preset("quick", tuple(split.train.shape[1:]), seed=seed, device="cpu", progress=False)
    det.fit(split.train, val_data=split.val)
    score = getattr(det, "score_samples", None) or det.decision_function  # the API's name before / after 2026-12-03
    return score(split.test_x), det.train_seconds_


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", default="ours,anomalib,ours-anomalib-generator")
    ap.add_argument("--classes", default="0,4,9")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/peers/ganomaly-diff.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.is_file() else []
    root = run_peers.default_data_root()
    for c in [int(c) for c in args.classes.split(",")]:
        split = make_split("mnist", c, root=root, seed=args.seed, download=False, dev=True)
        print(f"class {c}: {split.describe()} [dev protocol]", flush=True)
        for v in args.variants.split(","):
            if v not in VARIANTS:
                raise SystemExit(f"unknown variant {v!r}; known: {', '.join(VARIANTS)}")
            started = time.perf_counter()
            scores, train_seconds = run(v, split, args.seed)
            row = {"variant": v, "abnormal_class": c, "seed": args.seed, "split": "dev",
                   **metrics(split.test_y.numpy(), np.asarray(scores)), "train_seconds": round(train_seconds, 1)}
            print(f"  {v}: dev AUROC {row['auroc']:.3f}  AUPRC {row['auprc']:.3f}  "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
            rows = [r for r in rows if (r["variant"], r["abnormal_class"], r["seed"]) != (v, c, args.seed)] + [row]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(rows, indent=1) + "\n")
    for v in args.variants.split(","):
        rs = [r["auroc"] for r in rows if r["variant"] == v]
        print(f"{v}: mean dev AUROC {np.mean(rs):.3f} over {len(rs)} classes")


if __name__ == "__main__":
    main()
