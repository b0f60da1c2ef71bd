#!/usr/bin/env python3
"""PyTorch reference for the ML benchmark (bench/ml.ts runs it; see bench/README.md).

The station's networks (src/ml/models/networks.ts) and training / scoring steps (ganomaly.ts, egbad.ts,
anogan.ts) written again in PyTorch, so that `npm run bench` can print how the tfjs engine compares with
PyTorch on the same CPU with the same thread count. Only the timing matters here, but the maths is the
same as the station's, operation for operation:

  * DCGAN encoder: conv 4x4 s2 p1 (no bias), BatchNorm (eps 1e-5, momentum 0.1) on every level but the
    first, LeakyReLU 0.2, down to 4x4; final conv 4x4 valid to nz. N(0, 0.02) weights, BN gamma N(1, 0.02).
  * DCGAN decoder: convT 4x4 valid from 1x1, then convT 4x4 s2 p1 + BN + ReLU per level, final convT 4x4 s2 p1
    to the image channels + tanh.
  * Image discriminator: the encoder body, features = its 4x4 maps, final conv 4x4 valid to one logit.
  * EGBAD joint discriminator D(x, z): x branch = encoder body flattened; z branch = dense 512 + LReLU 0.2;
    concatenated; dense 1024 + LReLU 0.2 (the features); dense 1 (the logit). Dense layers have biases.
  * Adam(lr 2e-4, betas (0.5, 0.999)) for training; eps 1e-7 as tfjs's Adam.
  * Gradients are computed only for the networks each optimiser updates, as tfjs's optimizer.minimize(f,
    varList) does (the frozen networks' parameters get requires_grad False, and forward passes of networks
    that no gradient flows through run under no_grad). BatchNorm runs in training mode in every training
    forward pass (it does in tfjs too) and in eval mode when scoring.

Usage (one JSON line on stdout with the per-rep seconds, warm-up reps excluded):
  /usr/bin/python3 bench/torch_ref.py --method ganomaly --size 32 --channels 1 --batch 32 --threads 1 \
      --mode train --reps 5
  --mode train   one training step per call (batch --batch)
  --mode score   one scoring call (eval mode, no maps) per call
  --mode search  AnoGAN only: one latent search of --steps steps per call (Adam lr 0.01 on z, lambda 0.1)
                 (AnoGAN's --mode score is that search plus the final scoring pass, also with --steps)
  --inner K      calls per rep; the reported seconds are per call (rep time / K)
"""

import argparse
import contextlib
import json
import platform
import re
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------------------------- networks


def pyramid(size, base):
    """Channels per encoder level: 32 -> [base, 2 base, 4 base] at 16, 8, 4 px (networks.ts pyramid)."""
    out, c, s = [], base, size // 2
    while s >= 4:
        out.append(c)
        c *= 2
        s //= 2
    return out


def bn(c):
    return nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)


def encoder_body(size, channels, ndf):
    layers, cin = [], channels
    for i, cout in enumerate(pyramid(size, ndf)):
        layers.append(nn.Conv2d(cin, cout, 4, 2, 1, bias=False))
        if i > 0:
            layers.append(bn(cout))
        layers.append(nn.LeakyReLU(0.2))
        cin = cout
    return nn.Sequential(*layers), cin


class Encoder(nn.Module):
    """Image -> latent [N, nz, 1, 1] (GANomaly's G_E and E, EGBAD's E)."""

    def __init__(self, size, channels, ndf, nz):
        super().__init__()
        self.body, c = encoder_body(size, channels, ndf)
        self.final = nn.Conv2d(c, nz, 4, 1, 0, bias=False)

    def forward(self, x):
        return self.final(self.body(x))


class Decoder(nn.Module):
    """Latent [N, nz, 1, 1] -> image in [-1, 1] (GANomaly's G_D, EGBAD's and AnoGAN's G)."""

    def __init__(self, size, channels, ngf, nz):
        super().__init__()
        levels = list(reversed(pyramid(size, ngf)))
        layers = [nn.ConvTranspose2d(nz, levels[0], 4, 1, 0, bias=False), bn(levels[0]), nn.ReLU()]
        for i in range(1, len(levels)):
            layers += [nn.ConvTranspose2d(levels[i - 1], levels[i], 4, 2, 1, bias=False), bn(levels[i]), nn.ReLU()]
        layers += [nn.ConvTranspose2d(levels[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z)


class ImageDiscriminator(nn.Module):
    """Image -> (logit [N, 1], features [N, C, 4, 4])."""

    def __init__(self, size, channels, ndf):
        super().__init__()
        self.body, c = encoder_body(size, channels, ndf)
        self.final = nn.Conv2d(c, 1, 4, 1, 0, bias=False)

    def forward(self, x):
        f = self.body(x)
        return self.final(f).flatten(1), f


class JointDiscriminator(nn.Module):
    """EGBAD's BiGAN D(x, z) -> (logit [N, 1], features [N, 1024])."""

    def __init__(self, size, channels, ndf, nz):
        super().__init__()
        self.xbody, c = encoder_body(size, channels, ndf)
        self.zdense = nn.Linear(nz, 512)
        self.joint = nn.Linear(c * 4 * 4 + 512, 1024)
        self.logit = nn.Linear(1024, 1)

    def forward(self, x, z):
        hx = self.xbody(x).flatten(1)
        hz = F.leaky_relu(self.zdense(z.flatten(1)), 0.2)
        f = F.leaky_relu(self.joint(torch.cat([hx, hz], 1)), 0.2)
        return self.logit(f), f


def init_weights(m):
    # networks.ts: every conv / dense kernel N(0, 0.02), BN gamma N(1, 0.02), biases and BN beta 0.
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def adam(params, lr=2e-4, beta1=0.5):
    return torch.optim.Adam(params, lr=lr, betas=(beta1, 0.999), eps=1e-7)


@contextlib.contextmanager
def frozen(*models):
    """The models' parameters need no gradient inside (tfjs computes gradients only for the varList)."""
    for m in models:
        m.requires_grad_(False)
    try:
        yield
    finally:
        for m in models:
            m.requires_grad_(True)


def bce(logits, label):
    target = torch.ones_like(logits) if label == 1 else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


# ---------------------------------------------------------------------------------------------- methods

NZ, NGF, NDF = 100, 64, 64


class Method:
    def nets(self):
        raise NotImplementedError

    def trainable_params(self):
        """Trainable parameter count per network (bench/ml.ts checks them against the tfjs networks)."""
        return {name: sum(p.numel() for p in m.parameters()) for name, m in self.nets().items()}


class Ganomaly(Method):
    def __init__(self, size, channels):
        self.eg = Encoder(size, channels, NGF, NZ)
        self.dg = Decoder(size, channels, NGF, NZ)
        self.ee = Encoder(size, channels, NGF, NZ)
        self.d = ImageDiscriminator(size, channels, NDF)
        for m in (self.eg, self.dg, self.ee, self.d):
            m.apply(init_weights)
        self.opt_g = adam(list(self.eg.parameters()) + list(self.dg.parameters()) + list(self.ee.parameters()))
        self.opt_d = adam(self.d.parameters())

    def nets(self):
        return {"encoder_g": self.eg, "decoder_g": self.dg, "encoder_e": self.ee, "discriminator": self.d}

    def train_step(self, x):
        for m in (self.eg, self.dg, self.ee, self.d):
            m.train()
        # G step: adversarial feature L2 (w 1) + contextual L1 (w 50) + encoder L2 (w 1).
        with frozen(self.d):
            latent_i = self.eg(x)
            x_hat = self.dg(latent_i)
            latent_o = self.ee(x_hat)
            feat_real = self.d(x)[1]  # no parameter needs a gradient: tfjs records no backward path here either
            feat_fake = self.d(x_hat)[1]
            adv = F.mse_loss(feat_fake, feat_real)
            con = F.l1_loss(x_hat, x)
            enc = F.mse_loss(latent_o, latent_i)
            total = adv * 1.0 + con * 50.0 + enc * 1.0
            self.opt_g.zero_grad(set_to_none=True)
            total.backward()
        self.opt_g.step()
        fake = x_hat.detach()
        # D step: BCE real -> 1, reconstructions -> 0.
        loss_d = (bce(self.d(x)[0], 1) + bce(self.d(fake)[0], 0)) * 0.5
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        # ganomaly.ts reads the losses back (and re-initialises D below 1e-5): the same sync here.
        return total.item(), loss_d.item()

    @torch.no_grad()
    def score(self, x):
        for m in (self.eg, self.dg, self.ee, self.d):
            m.eval()
        latent_i = self.eg(x)
        x_hat = self.dg(latent_i)
        latent_o = self.ee(x_hat)
        scores = (latent_i - latent_o).pow(2).mean((1, 2, 3))
        errors = (x - x_hat).abs().mean((1, 2, 3)) * 0.5
        return scores.numpy(), errors.numpy()


class Egbad(Method):
    ALPHA = 0.9

    def __init__(self, size, channels):
        self.e = Encoder(size, channels, NGF, NZ)
        self.g = Decoder(size, channels, NGF, NZ)
        self.d = JointDiscriminator(size, channels, NDF, NZ)
        for m in (self.e, self.g, self.d):
            m.apply(init_weights)
        self.opt_ge = adam(list(self.e.parameters()) + list(self.g.parameters()))
        self.opt_d = adam(self.d.parameters())

    def nets(self):
        return {"encoder": self.e, "generator": self.g, "discriminator": self.d}

    def train_step(self, x):
        for m in (self.e, self.g, self.d):
            m.train()
        z = torch.randn(x.shape[0], NZ, 1, 1)
        # D step: (x, E(x)) -> 1, (G(z), z) -> 0; E and G run forward (training-mode BN) without gradients.
        with torch.no_grad():
            z_hat = self.e(x)
            x_gen = self.g(z)
        loss_d = bce(self.d(x, z_hat)[0], 1) + bce(self.d(x_gen, z)[0], 0)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        # G + E step with the labels swapped.
        with frozen(self.d):
            z_hat = self.e(x)
            x_gen = self.g(z)
            loss_g = bce(self.d(x_gen, z)[0], 1)
            loss_e = bce(self.d(x, z_hat)[0], 0)
            total = loss_g + loss_e
            self.opt_ge.zero_grad(set_to_none=True)
            total.backward()
        self.opt_ge.step()
        return loss_d.item(), loss_g.item(), loss_e.item()

    @torch.no_grad()
    def score(self, x):
        for m in (self.e, self.g, self.d):
            m.eval()
        n = x.shape[0]
        z_hat = self.e(x)
        x_hat = self.g(z_hat)
        l_g = (x - x_hat).abs().reshape(n, -1).sum(1)
        _, feat_real = self.d(x, z_hat)
        feat_rec = self.d(x_hat, z_hat)[1]
        l_d = (feat_real - feat_rec).abs().reshape(n, -1).sum(1)
        scores = l_g * self.ALPHA + l_d * (1 - self.ALPHA)
        errors = (x - x_hat).abs().mean((1, 2, 3)) * 0.5
        return scores.numpy(), errors.numpy()


class Anogan(Method):
    LAMBDA, SEARCH_LR = 0.1, 0.01

    def __init__(self, size, channels):
        self.g = Decoder(size, channels, NGF, NZ)
        self.d = ImageDiscriminator(size, channels, NDF)
        for m in (self.g, self.d):
            m.apply(init_weights)
        self.opt_g = adam(self.g.parameters())
        self.opt_d = adam(self.d.parameters())

    def nets(self):
        return {"generator": self.g, "discriminator": self.d}

    def train_step(self, x):
        for m in (self.g, self.d):
            m.train()
        z = torch.randn(x.shape[0], NZ, 1, 1)
        with torch.no_grad():
            fake = self.g(z)
        loss_d = bce(self.d(x)[0], 1) + bce(self.d(fake)[0], 0)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        # Non-saturating generator loss; G runs forward again as in anogan.ts.
        with frozen(self.d):
            loss_g = bce(self.d(self.g(z))[0], 1)
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
        self.opt_g.step()
        return loss_d.item(), loss_g.item()

    def _search_loss(self, x, feat_x, z):
        n = x.shape[0]
        x_hat = self.g(z)
        feat_hat = self.d(x_hat)[1]
        l_r = (x - x_hat).abs().reshape(n, -1).sum(1)
        l_d = (feat_x - feat_hat).abs().reshape(n, -1).sum(1)
        return l_r * (1 - self.LAMBDA) + l_d * self.LAMBDA, x_hat

    def search(self, x, steps):
        """anogan.ts searchLatent: `steps` Adam(lr 0.01, betas (0.9, 0.999)) steps on one z per image."""
        for m in (self.g, self.d):
            m.eval()
        z = torch.randn(x.shape[0], NZ, 1, 1).requires_grad_(True)
        with torch.no_grad():
            feat_x = self.d(x)[1]
        opt = torch.optim.Adam([z], lr=self.SEARCH_LR, betas=(0.9, 0.999), eps=1e-7)
        with frozen(self.g, self.d):
            for _ in range(steps):
                loss = self._search_loss(x, feat_x, z)[0].sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return z.detach()

    def score(self, x, steps=500):
        z = self.search(x, steps)
        with torch.no_grad():
            feat_x = self.d(x)[1]
            scores, x_hat = self._search_loss(x, feat_x, z)
            errors = (x - x_hat).abs().mean((1, 2, 3)) * 0.5
        return scores.numpy(), errors.numpy()


METHODS = {"ganomaly": Ganomaly, "egbad": Egbad, "anogan": Anogan}


# ---------------------------------------------------------------------------------------------- main


def loaded_blas():
    """The BLAS library this process actually mapped (PyTorch's ConvTranspose2d and Linear layers run their
    matrix products on it when torch is built with BLAS_INFO=generic, as Debian's python3-torch is)."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1] if len(line.split()) >= 6 else ""
                name = p.rsplit("/", 1)[-1].lower()
                if any(k in name for k in ("blas", "mkl_", "libmkl", "blis", "atlas")):
                    libs.add(p)
    except OSError:
        pass
    paths = sorted(libs)
    joined = " ".join(paths).lower()
    if "mkl" in joined:
        kind = "mkl"
    elif "openblas" in joined:
        kind = "openblas"
    elif "blis" in joined:
        kind = "blis"
    elif "atlas" in joined:
        kind = "atlas"
    elif paths:
        kind = "reference"  # netlib's libblas.so.3 (Debian's libblas3): unoptimised loops
    else:
        kind = "none"
    return {"kind": kind, "libraries": paths}


def build_info():
    cfg = torch.__config__.show()
    info = {k: (re.search(rf"\b{k}=([^,\s]+)", cfg) or [None, None])[1] for k in ("BLAS_INFO", "USE_MKLDNN", "USE_OPENMP")}
    info["cpu_capability"] = next((ln.split(":", 1)[1].strip() for ln in cfg.splitlines() if "CPU capability usage" in ln), None)
    return info


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--method", choices=sorted(METHODS), required=True)
    p.add_argument("--size", type=int, required=True, choices=[32, 64, 128, 256])
    p.add_argument("--channels", type=int, default=1, choices=[1, 3])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (intra-op threads)")
    p.add_argument("--mode", choices=["train", "score", "search"], required=True)
    p.add_argument("--steps", type=int, default=20, help="AnoGAN latent search steps (--mode search, and score)")
    p.add_argument("--reps", type=int, default=5, help="timed reps (after the warm-up reps)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up reps")
    p.add_argument("--inner", type=int, default=1, help="calls per rep; reported seconds are per call")
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args(argv)
    if a.mode == "search" and a.method != "anogan":
        p.error("--mode search is AnoGAN's latent search")

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(a.seed)

    model = METHODS[a.method](a.size, a.channels)
    x = torch.rand(a.batch, a.channels, a.size, a.size) * 2 - 1  # inputs in [-1, 1], as the station's batches

    if a.mode == "train":
        call = lambda: model.train_step(x)  # noqa: E731
    elif a.mode == "score" and a.method == "anogan":
        call = lambda: model.score(x, a.steps)  # noqa: E731
    elif a.mode == "score":
        call = lambda: model.score(x)  # noqa: E731
    else:
        call = lambda: model.search(x, a.steps).numpy()  # noqa: E731

    seconds = []
    for rep in range(a.warmup + a.reps):
        t0 = time.perf_counter()
        for _ in range(a.inner):
            call()
        dt = (time.perf_counter() - t0) / a.inner
        if rep >= a.warmup:
            seconds.append(dt)

    out = {
        "method": a.method,
        "size": a.size,
        "channels": a.channels,
        "batch": a.batch,
        "mode": a.mode,
        "steps": a.steps if a.method == "anogan" and a.mode != "train" else None,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "inner": a.inner,
        "warmup": a.warmup,
        "seconds": seconds,
        "trainable_params": model.trainable_params(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "blas": loaded_blas(),
        "build": build_info(),
        "parallel_info": torch.__config__.parallel_info().splitlines()[:6],
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
