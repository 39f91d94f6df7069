"""The serving peer of `npm run bench:serve -- --peer`: FastAPI + PyTorch + Pillow, the same generator
architectures (random weights: only speed is compared), the same grid (16 digits, 4x4, 2 px padding).

Run: /usr/bin/python3 bench/peer/server.py --model dense|dcgan --port 8091
Needs Debian's python3-torch, python3-fastapi, python3-uvicorn, python3-pil (not part of npm test).
"""
import argparse
import io
import math
import random

import numpy as np
import torch
import torch.nn as nn
import uvicorn
from fastapi import FastAPI, Query, Response
from PIL import Image


def dense() -> nn.Module:
    # The seed's dense generator: 114,064 parameters.
    return nn.Sequential(nn.Linear(100, 128), nn.LeakyReLU(0.01), nn.Linear(128, 784), nn.Tanh())


class Dcgan(nn.Module):
    """The book's DCGAN generator at width x0.25 (channels 64/32/16), as models/dcgan."""

    def __init__(self, width: float = 0.25):
        super().__init__()
        c0, c1, c2 = (max(1, round(c * width)) for c in (256, 128, 64))
        self.c0 = c0
        self.fc = nn.Linear(100, 7 * 7 * c0)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(c0, c1, 3, 2, padding=1, output_padding=1), nn.BatchNorm2d(c1), nn.LeakyReLU(0.01),
            nn.ConvTranspose2d(c1, c2, 3, 1, padding=1), nn.BatchNorm2d(c2), nn.LeakyReLU(0.01),
            nn.ConvTranspose2d(c2, 1, 3, 2, padding=1, output_padding=1), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z).view(-1, self.c0, 7, 7))


def grid(images: np.ndarray, pad: int = 2) -> np.ndarray:
    n = images.shape[0]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.zeros((rows * 28 + (rows + 1) * pad, cols * 28 + (cols + 1) * pad), dtype=np.uint8)
    grey = np.clip(np.rint((images * 0.5 + 0.5) * 255), 0, 255).astype(np.uint8)
    for k in range(n):
        y, x = pad + (k // cols) * (28 + pad), pad + (k % cols) * (28 + pad)
        out[y : y + 28, x : x + 28] = grey[k]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--model', choices=['dense', 'dcgan'], default='dense')
    parser.add_argument('--port', type=int, default=8091)
    args = parser.parse_args()
    model = (dense() if args.model == 'dense' else Dcgan()).eval()
    app = FastAPI()

    @app.get('/healthz')
    def healthz() -> dict:
        return {'status': 'ok'}

    @app.get('/sample')
    def sample(n: int = Query(16, ge=1, le=256), seed: int = Query(None, ge=0, le=2**32 - 1)) -> Response:
        gen = torch.Generator().manual_seed(seed if seed is not None else random.getrandbits(32))
        with torch.no_grad():
            images = model(torch.randn(n, 100, generator=gen)).reshape(n, 28, 28).numpy()
        buf = io.BytesIO()
        Image.fromarray(grid(images)).save(buf, format='PNG')
        return Response(content=buf.getvalue(), media_type='image/png')

    uvicorn.run(app, host='127.0.0.1', port=args.port, log_level='warning')


if __name__ == '__main__':
    main()
