#!/usr/bin/env python3
"""PyTorch GANomaly reference for `npm run bench:detect` (issue: detection quality).

Trains GANomaly with the paper's defaults (Akcay et al. 2018 and their code, samet-akcay/ganomaly):
32x32 input, nz 100, ngf = ndf = 64, loss weights w_adv 1 / w_con 50 / w_enc 1, Adam lr 2e-4 betas
(0.5, 0.999), batch 64, 15 epochs, the discriminator re-initialised when its loss drops below 1e-5, the
model of the LAST epoch (no selection), scored in eval mode by the latent distance ||G_E(x) - E(G(x))||^2.
The networks are bench/torch_ref.py's, which mirror the station's layer for layer.

Data: an MVTec-layout folder, the same one bench:detect trains and tests the station's models on:
train/good (the first --limit files by name, as the station's --limit takes them), test/good (label 0) and
test/<defect type> (label 1). Images are converted to the model's channels and resized to 32x32 (bilinear),
scaled to [-1, 1].

Prints one JSON line: image AUROC overall and per defect type, training seconds, images, epochs.
  /usr/bin/python3 bench/torch_ganomaly.py --data DIR [--limit N] [--epochs 15] [--channels 1] [--threads 2]
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ref  # noqa: E402  (the networks and the GANomaly training step)

EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def images_in(folder, limit=None):
    files = sorted(f for f in os.listdir(folder) if f.lower().endswith(EXTS))
    return [os.path.join(folder, f) for f in (files[:limit] if limit else files)]


def load(files, size, channels):
    mode = "L" if channels == 1 else "RGB"
    out = np.zeros((len(files), channels, size, size), dtype=np.float32)
    for i, f in enumerate(files):
        im = Image.open(f).convert(mode).resize((size, size), Image.BILINEAR)
        a = np.asarray(im, dtype=np.float32) / 127.5 - 1.0
        out[i] = a[None] if channels == 1 else a.transpose(2, 0, 1)
    return torch.from_numpy(out)


def auroc(scores, labels):
    """Mann-Whitney U with average ranks for ties (no scikit-learn on the build machines)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    pos = labels == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--limit", type=int)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)

    train = load(images_in(os.path.join(a.data, "train", "good"), a.limit), a.size, a.channels)
    test_root = os.path.join(a.data, "test")
    tests = []  # (type, files)
    for t in sorted(os.listdir(test_root)):
        if os.path.isdir(os.path.join(test_root, t)):
            tests.append((t, images_in(os.path.join(test_root, t))))

    model = torch_ref.Ganomaly(a.size, a.channels)
    t0 = time.perf_counter()
    n = train.shape[0]
    for epoch in range(a.epochs):
        perm = torch.randperm(n)
        for b in range(0, n, a.batch):
            x = train[perm[b : b + a.batch]]
            if x.shape[0] < 2:  # BatchNorm needs two samples
                continue
            _, loss_d = model.train_step(x)
            if loss_d < 1e-5:  # the paper's code re-initialises a collapsed discriminator
                model.d.apply(torch_ref.init_weights)
        print(f"epoch {epoch + 1}/{a.epochs} {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    seconds = time.perf_counter() - t0

    scored = {}
    for t, files in tests:
        s = []
        for b in range(0, len(files), 256):
            s.extend(model.score(load(files[b : b + 256], a.size, a.channels))[0].tolist())
        scored[t] = s
    good = scored.get("good", [])
    all_scores, all_labels, per_type = list(good), [0] * len(good), {}
    for t, s in scored.items():
        if t == "good":
            continue
        all_scores += s
        all_labels += [1] * len(s)
        per_type[t] = auroc(good + s, [0] * len(good) + [1] * len(s))
    print(
        json.dumps(
            {
                "method": "ganomaly (PyTorch reference, paper defaults)",
                "auroc": auroc(all_scores, all_labels),
                "perType": per_type,
                "trainImages": n,
                "testImages": len(all_scores),
                "epochs": a.epochs,
                "batch": a.batch,
                "size": a.size,
                "trainSeconds": seconds,
                "torch": torch.__version__,
                "threads": a.threads,
            }
        )
    )


if __name__ == "__main__":
    main()
