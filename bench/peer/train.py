#!/usr/bin/python3
"""Training-speed peer for `npm run bench:train -- --peer`: the same GANs as train/gan/models.ts in
PyTorch (Debian's python3-torch, CPU), the same loop as train/gan/iteration.ts (D on a real batch, D on
G's fakes, G through D; Adam; Keras-style binary cross-entropy), on random data of MNIST's shape.

Prints one JSON line: {"msPerIteration": best of --repeats, "all": [...], "threads": N, "torch": version}.
"""
import argparse
import json
import time

import torch
from torch import nn

ALPHA = 0.01


def channels(base, width):
    return max(1, round(base * width))


def dense(latent):
    g = nn.Sequential(nn.Linear(latent, 128), nn.LeakyReLU(ALPHA), nn.Linear(128, 784), nn.Tanh())
    d = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.LeakyReLU(ALPHA), nn.Linear(128, 1), nn.Sigmoid())
    return g, d


class Reshape(nn.Module):
    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.view(x.shape[0], *self.shape)


def dcgan(latent, width):
    c0, c1, c2 = channels(256, width), channels(128, width), channels(64, width)
    # Keras' 'same' padding for a stride-2, kernel-3 transposed convolution: padding 1, output padding 1.
    g = nn.Sequential(
        nn.Linear(latent, 7 * 7 * c0),
        Reshape(c0, 7, 7),
        nn.ConvTranspose2d(c0, c1, 3, 2, padding=1, output_padding=1),
        nn.BatchNorm2d(c1, momentum=0.01, eps=1e-3),
        nn.LeakyReLU(ALPHA),
        nn.ConvTranspose2d(c1, c2, 3, 1, padding=1),
        nn.BatchNorm2d(c2, momentum=0.01, eps=1e-3),
        nn.LeakyReLU(ALPHA),
        nn.ConvTranspose2d(c2, 1, 3, 2, padding=1, output_padding=1),
        nn.Tanh(),
    )
    d0, d1, d2 = channels(32, width), channels(64, width), channels(128, width)
    d = nn.Sequential(
        nn.Conv2d(1, d0, 3, 2, padding=1),
        nn.LeakyReLU(ALPHA),
        nn.Conv2d(d0, d1, 3, 2, padding=1),
        nn.BatchNorm2d(d1, momentum=0.01, eps=1e-3),
        nn.LeakyReLU(ALPHA),
        nn.Conv2d(d1, d2, 3, 2, padding=1),
        nn.BatchNorm2d(d2, momentum=0.01, eps=1e-3),
        nn.LeakyReLU(ALPHA),
        nn.Flatten(),
        nn.Linear(d2 * 4 * 4, 1),
        nn.Sigmoid(),
    )
    return g, d


def bce(p, target):
    q = p.clamp(1e-7, 1 - 1e-7)
    return -(torch.log(q) if target == 1 else torch.log1p(-q)).mean()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["dense", "dcgan"], required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--iterations", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    latent = 100
    g, d = dense(latent) if args.model == "dense" else dcgan(latent, args.width)
    g_opt = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    d_opt = torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    data = torch.rand(10000, 1, 28, 28) * 2 - 1
    b = args.batch_size

    def iteration():
        real = data[torch.randint(0, data.shape[0], (b,))]
        with torch.no_grad():
            g.eval()
            fake = g(torch.randn(b, latent)).view(b, 1, 28, 28)
            g.train()
        for images, target in ((real, 1), (fake, 0)):
            d_opt.zero_grad()
            bce(d(images), target).backward()
            d_opt.step()
        g_opt.zero_grad()
        bce(d(g(torch.randn(b, latent)).view(b, 1, 28, 28)), 1).backward()
        g_opt.step()

    for _ in range(args.warmup):
        iteration()
    runs = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for _ in range(args.iterations):
            iteration()
        runs.append((time.perf_counter() - t0) * 1000 / args.iterations)
    print(json.dumps({"msPerIteration": min(runs), "all": runs, "threads": args.threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
