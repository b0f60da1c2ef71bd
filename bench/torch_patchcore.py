#!/usr/bin/python3
"""PyTorch PatchCore reference for bench:detect (bench/patchcore-reference.ts writes its inputs).

Same backbone WEIGHTS as the station (MobileNetV2 from the nsfwjs npm package, exported layer by layer by
bench/patchcore-reference.ts into backbone.json + backbone.bin), the same decoded images (the station's own
decoder wrote them at the working size into images.bin, so both sides see identical pixels), and the same
method as src/ml/models/patchcore.ts: per-image standardisation, the tapped layers, 3x3 average pooling,
deeper taps resized bilinearly (half-pixel) to the first tap's grid, adjacent channels averaged in pairs
(channelPool), a two-round greedy k-center coreset
(per image, then over the pool) in a fixed Gaussian projection, nearest-neighbour distance per cell, the map
resized to the image and blurred (sigma 4, reflected borders), image score = the map's 99th percentile.

Prints one JSON line: image AUROC, training seconds (feature extraction + coreset), scoring images/s, torch
version and threads.
"""
import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F


def load_backbone(folder):
    spec = json.load(open(f"{folder}/backbone.json"))
    blob = np.fromfile(f"{folder}/backbone.bin", dtype=np.float32)
    weights = {}
    for layer in spec["layers"]:
        weights[layer["name"]] = [
            torch.from_numpy(blob[w["offset"] : w["offset"] + int(np.prod(w["shape"]))].reshape(w["shape"]).copy())
            for w in layer["weights"]
        ]
    # Fold each BatchNormalization into the convolution before it (as the ONNX export does), once.
    prepared = {}
    for layer in spec["layers"]:
        w = weights[layer["name"]]
        kind = layer["kind"]
        if kind == "Conv2D":
            prepared[layer["name"]] = (w[0].permute(3, 2, 0, 1).contiguous(), w[1] if len(w) > 1 else None)
        elif kind == "DepthwiseConv2D":
            kh, kw, cin, mult = w[0].shape
            prepared[layer["name"]] = (
                w[0].permute(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw).contiguous(),
                w[1] if len(w) > 1 else None,
            )
        elif kind == "BatchNormalization":
            ws = list(w)
            gamma = ws.pop(0) if layer["scale"] else None
            beta = ws.pop(0) if layer["center"] else None
            mean, var = ws
            scale = (gamma if gamma is not None else 1) / torch.sqrt(var + layer["epsilon"])
            shift = (beta if beta is not None else 0) - mean * scale
            prepared[layer["name"]] = (scale, shift)
    return spec, prepared


def run_backbone(spec, prepared, x):
    """x: [1, 3, H, W] float32 -> the tapped maps (NCHW), in spec['outputs'] order."""
    values = {spec["input"]: x}
    for layer in spec["layers"]:
        kind, name = layer["kind"], layer["name"]
        ins = [values[i] for i in layer["inputs"]]
        if kind == "ZeroPadding2D":
            (t, b), (l, r) = layer["padding"]
            y = F.pad(ins[0], (l, r, t, b))
        elif kind in ("Conv2D", "DepthwiseConv2D"):
            w, bias = prepared[name]
            k, s = layer["kernel"], layer["strides"]
            if layer["padding"] == "same":
                assert s == [1, 1], "same padding with stride 2 does not occur in MobileNetV2"
                pad = (k[0] // 2, k[1] // 2)
            else:
                pad = (0, 0)
            groups = ins[0].shape[1] if kind == "DepthwiseConv2D" else 1
            y = F.conv2d(ins[0], w, bias, stride=s, padding=pad, groups=groups)
        elif kind == "BatchNormalization":
            scale, shift = prepared[name]
            y = ins[0] * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)
        elif kind == "ReLU":
            y = torch.clamp(ins[0], 0, layer["maxValue"]) if layer.get("maxValue") is not None else F.relu(ins[0])
        elif kind == "Add":
            y = ins[0] + ins[1]
        else:
            raise ValueError(f"layer kind {kind} not supported")
        values[name] = y
    return [values[o] for o in spec["outputs"]]


def standardise(rgb):
    mean = rgb.mean(dim=3, keepdim=True).mean(dim=(1, 2), keepdim=True)
    centred = rgb - mean
    std = (centred * centred).mean(dim=3, keepdim=True).mean(dim=(1, 2), keepdim=True).sqrt()
    return centred / (std + 1e-3) * 0.2 + 0.5


def features(spec, prepared, img, normalisation, pool_channels=1):
    """img: HxWxC uint8 numpy -> ([h*w, D] features, h, w)."""
    x = torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    if normalisation == "standardised":
        x = standardise(x)
    # Channels-last runs PyTorch's CPU convolutions several times faster here (measured on this build).
    taps = [t.contiguous() for t in run_backbone(spec, prepared, x.contiguous(memory_format=torch.channels_last))]
    h, w = taps[0].shape[2:]
    pooled = []
    for i, t in enumerate(taps):
        a = F.avg_pool2d(t, 3, stride=1, padding=1, count_include_pad=False)
        if i > 0:
            a = F.interpolate(a, size=(h, w), mode="bilinear", align_corners=False)
        p = pool_channels
        if p > 1:
            a = a.view(1, a.shape[1] // p, p, h, w).mean(dim=2)
        pooled.append(a)
    cat = torch.cat(pooled, dim=1)
    return cat.permute(0, 2, 3, 1).reshape(h * w, -1), h, w


def greedy(points, k):
    """Greedy k-center from index 0: indices in the order chosen (as src/ml/sampling/coreset.ts)."""
    n = points.shape[0]
    k = min(k, n)
    chosen = [0]
    min_d = ((points - points[0]) ** 2).sum(1)
    for _ in range(1, k):
        nxt = int(torch.argmax(min_d))
        chosen.append(nxt)
        min_d = torch.minimum(min_d, ((points - points[nxt]) ** 2).sum(1))
    return chosen


def gaussian_taps(sigma):
    r = max(1, math.ceil(3 * sigma))
    t = torch.tensor([math.exp(-(i * i) / (2 * sigma * sigma)) for i in range(-r, r + 1)])
    return t / t.sum(), r


def read_images(folder):
    meta = json.load(open(f"{folder}/images.json"))
    blob = np.fromfile(f"{folder}/images.bin", dtype=np.uint8)
    def take(items):
        return [blob[i["offset"] : i["offset"] + i["w"] * i["h"] * i["c"]].reshape(i["h"], i["w"], i["c"]) for i in items]
    return meta, take(meta["train"]), take(meta["test"])


def auroc(scores, labels):
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    s = scores[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--folder", required=True)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_grad_enabled(False)
    spec, prepared = load_backbone(a.folder)
    meta, train, test = read_images(a.folder)
    cfg = meta["config"]
    gen = torch.Generator().manual_seed(cfg["seed"])
    t0 = time.time()
    proj = None
    pool, pool_proj = [], []
    # As patchcore.ts: the pool is at most 25 candidates per bank row.
    per_image = max(1, min(cfg["perImage"], (25 * cfg["bankSize"]) // len(train)))
    for img in train:
        f, _, _ = features(spec, prepared, img, cfg["normalisation"], cfg.get("channelPool", 1))
        if proj is None:
            proj = torch.randn(f.shape[1], cfg["projection"], generator=gen) / math.sqrt(cfg["projection"])
        pf = f @ proj
        keep = greedy(pf, per_image)
        pool.append(f[keep])
        pool_proj.append(pf[keep])
    pool = torch.cat(pool)
    chosen = greedy(torch.cat(pool_proj), cfg["bankSize"])
    bank = pool[chosen]
    train_seconds = time.time() - t0
    taps, r = gaussian_taps(cfg["heatmapSigma"])
    kh, kw = taps.view(1, 1, -1, 1), taps.view(1, 1, 1, -1)
    t1 = time.time()
    scores = []
    for img in test:
        f, h, w = features(spec, prepared, img, cfg["normalisation"], cfg.get("channelPool", 1))
        d = torch.cdist(f, bank).min(dim=1).values
        grid = d.view(1, 1, h, w)
        full = F.interpolate(grid, size=img.shape[:2], mode="bilinear", align_corners=False)
        padded = F.pad(full, (r, r, r, r), mode="reflect")
        smooth = F.conv2d(F.conv2d(padded, kh), kw)
        # The image score: the map's 99th percentile, linear interpolation (as IMAGE_SCORE_QUANTILE).
        scores.append(float(torch.quantile(smooth.flatten().double(), 0.99)))
    score_seconds = time.time() - t1
    print(
        json.dumps(
            {
                "auroc": auroc(scores, meta["labels"]),
                "trainImages": len(train),
                "testImages": len(test),
                "bankRows": int(bank.shape[0]),
                "trainSeconds": train_seconds,
                "scoreImagesPerSecond": len(test) / score_seconds,
                "torch": torch.__version__,
                "threads": a.threads,
            }
        )
    )


if __name__ == "__main__":
    main()
