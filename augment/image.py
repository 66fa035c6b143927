"""Image augmentations on batched tensors (B, C, H, W), uint8 in [0, 255] or float in [0, 1].

``WeakImage``: random horizontal flip and a pad-and-crop shift (reflection padding), the
weak view of FixMatch/UDA. ``RandAugment``: per image, ``n`` ops drawn from ``ops`` at
magnitude ``m`` (0–10, random sign where it matters), then ``Cutout``. Everything is
written in torch (torchvision is not needed), runs on the tensor's device, and keeps
its dtype. Randomness per image comes from a key of ``(seed, copy, ids[i])``, where
``ids`` defaults to a fingerprint of the image's pixels, so a batch gives the same result
however it is split.

>>> import torch
>>> from augment.image import WeakImage, RandAugment
>>> x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
>>> strong = RandAugment(n=2, m=10, seed=0)(x)
>>> strong.shape, strong.dtype
(torch.Size([4, 3, 32, 32]), torch.uint8)
>>> torch.equal(WeakImage(seed=1)(x), WeakImage(seed=1)(x))
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from augment.base import derive, splitmix64, uniforms
from augment.errors import AugmentError
from augment.registry import register_op

FILL = 0.5  # gray for areas uncovered by geometric ops and for Cutout


@lru_cache(maxsize=16)
def _fingerprint_weights(numel: int, device: str) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0x5EED)
    return torch.randint(1, 2**31 - 1, (numel,), generator=generator, dtype=torch.int64).to(device)


def image_keys(images: torch.Tensor, seed: int, copy: int = 0, ids: Sequence[Hashable] | None = None) -> np.ndarray:
    """One uint64 key per image: ``(seed, copy, ids[i])``, or a pixel fingerprint without ids."""
    if ids is not None:
        if len(ids) != len(images):
            raise AugmentError(f"image: got {len(ids)} ids for {len(images)} images")
        from augment.base import text_keys
        return text_keys([""] * len(ids), seed, copy, ids)
    pixels = images if images.dtype == torch.uint8 else (images.float() * 255).round()
    flat = pixels.reshape(len(images), -1).to(torch.int64)
    # A weighted pixel sum computed where the images live; only B numbers leave the device.
    sums = (flat * _fingerprint_weights(flat.shape[1], str(images.device))).sum(1).cpu().numpy()
    return derive(splitmix64(sums.astype(np.uint64)), (seed * 1_000_003 + copy) & 0xFFFFFFFFFFFFFFFF)


def _check(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise AugmentError("image: expected a (B, C, H, W) tensor")
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise AugmentError(f"image: dtype {images.dtype} not supported; use uint8 (0-255) or float (0-1)")


class ImageAugmenter:
    """Base: ``aug(images, ids=None, copy=0)`` → augmented images, same shape and dtype."""

    name = "image"
    seed: int = 0

    def __call__(self, images: torch.Tensor, ids: Sequence[Hashable] | None = None, copy: int = 0) -> torch.Tensor:
        _check(images)
        keys = image_keys(images, self.seed, copy, ids)
        x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
        out = self.apply(x, keys)
        if images.dtype == torch.uint8:
            return (out * 255).round().clamp(0, 255).to(torch.uint8)
        return out.to(images.dtype)

    def apply(self, x: torch.Tensor, keys: np.ndarray) -> torch.Tensor:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return {}

    def describe(self) -> dict[str, Any]:
        return {"op": self.name, "seed": self.seed, **self.params()}


def _u(keys: np.ndarray, stream: int, x: torch.Tensor, count: int | None = None) -> torch.Tensor:
    """Per-image uniforms as a float tensor on ``x``'s device, shape (B,) or (B, count)."""
    positions = np.arange(count or 1, dtype=np.uint64)[None, :]
    values = uniforms(keys[:, None], positions, stream)
    return torch.from_numpy(values if count else values[:, 0]).to(x.device, torch.float32)


# ---- ops: each takes float images in [0, 1] and a per-image magnitude v in [-1, 1] ----

def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] != 3:
        return x.mean(1, keepdim=True)
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def _blend(x: torch.Tensor, degenerate: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (degenerate + factor.view(-1, 1, 1, 1) * (x - degenerate)).clamp(0, 1)


def _affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x - FILL, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + FILL


def _theta(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor,
           tx: torch.Tensor | float = 0.0, ty: torch.Tensor | float = 0.0) -> torch.Tensor:
    """Sampling matrix in normalised coordinates for the pixel-space map [[a, b], [c, d]]."""
    h, w = x.shape[-2:]
    zeros = torch.zeros_like(a)
    row1 = torch.stack([a, b * h / w, zeros + tx], 1)
    row2 = torch.stack([c * w / h, d, zeros + ty], 1)
    return torch.stack([row1, row2], 1)


def identity(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return x


def autocontrast(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    lo = x.amin((2, 3), keepdim=True)
    hi = x.amax((2, 3), keepdim=True)
    scale = torch.where(hi > lo, 1 / (hi - lo).clamp_min(1e-8), torch.ones_like(hi))
    return torch.where(hi > lo, (x - lo) * scale, x)


def equalize(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Per-channel histogram equalisation on 256 levels (PIL's ImageOps.equalize)."""
    b, c, h, w = x.shape
    q = (x * 255).round().long().reshape(b * c, h * w)
    hist = torch.zeros(b * c, 256, device=x.device).scatter_add_(1, q, torch.ones_like(q, dtype=torch.float32))
    last_bin = 255 - (hist > 0).flip(1).float().argmax(1, keepdim=True)
    step = ((h * w - hist.gather(1, last_bin)) // 256).clamp_min(0)
    cumulative = hist.cumsum(1) - hist
    lut = ((step // 2 + cumulative) // step.clamp_min(1)).clamp(0, 255)
    lut = torch.where(step > 0, lut, torch.arange(256, device=x.device, dtype=lut.dtype).expand_as(lut))
    return (lut.gather(1, q) / 255).reshape(b, c, h, w)


def rotate(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    angle = v * math.radians(30)
    cos, sin = angle.cos(), angle.sin()
    return _affine(x, _theta(x, cos, -sin, sin, cos))


def shear_x(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    one = torch.ones_like(v)
    return _affine(x, _theta(x, one, 0.3 * v, 0 * v, one))


def shear_y(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    one = torch.ones_like(v)
    return _affine(x, _theta(x, one, 0 * v, 0.3 * v, one))


def translate_x(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    one = torch.ones_like(v)
    return _affine(x, _theta(x, one, 0 * v, 0 * v, one, tx=2 * 0.3 * v))


def translate_y(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    one = torch.ones_like(v)
    return _affine(x, _theta(x, one, 0 * v, 0 * v, one, ty=2 * 0.3 * v))


def solarize(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    threshold = (1 - v.abs()).view(-1, 1, 1, 1)
    return torch.where(x >= threshold, 1 - x, x)


def posterize(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    bits = (8 - (4 * v.abs()).round()).long().view(-1, 1, 1, 1)
    mask = (255 >> (8 - bits)) << (8 - bits)
    return ((x * 255).round().long() & mask).float() / 255


def brightness(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return _blend(x, torch.zeros_like(x), 1 + 0.9 * v)


def contrast(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    mean = _gray(x).mean((1, 2, 3), keepdim=True)
    return _blend(x, mean.expand_as(x), 1 + 0.9 * v)


def color(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return _blend(x, _gray(x).expand_as(x), 1 + 0.9 * v)


def sharpness(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    kernel = torch.tensor([[1.0, 1, 1], [1, 5, 1], [1, 1, 1]], device=x.device) / 13
    c = x.shape[1]
    smooth = F.conv2d(x, kernel.expand(c, 1, 3, 3), groups=c)
    degenerate = x.clone()
    degenerate[..., 1:-1, 1:-1] = smooth  # PIL keeps the border pixels
    return _blend(x, degenerate, 1 + 0.9 * v)


OPS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    f.__name__: f for f in (identity, autocontrast, equalize, rotate, solarize, color, posterize, contrast,
                            brightness, sharpness, shear_x, shear_y, translate_x, translate_y)}


def cutout(x: torch.Tensor, size: float, u: torch.Tensor) -> torch.Tensor:
    """Fill a square of side ``size``·min(H, W) centred at uniform point ``u`` (B, 2) with gray."""
    h, w = x.shape[-2:]
    half = size * min(h, w) / 2
    cy, cx = u[:, 0] * h, u[:, 1] * w
    rows = torch.arange(h, device=x.device).view(1, h, 1) + 0.5
    cols = torch.arange(w, device=x.device).view(1, 1, w) + 0.5
    box = ((rows - cy.view(-1, 1, 1)).abs() < half) & ((cols - cx.view(-1, 1, 1)).abs() < half)
    return torch.where(box.unsqueeze(1), torch.full_like(x, FILL), x)


@register_op("weak", kind="image")
class WeakImage(ImageAugmenter):
    """Horizontal flip with probability ``flip`` and a shift by up to ``shift``·size pixels
    (reflection pad, random crop back to size)."""

    name = "weak"

    def __init__(self, flip: float = 0.5, shift: float = 0.125, seed: int = 0) -> None:
        if not (0 <= flip <= 1 and 0 <= shift < 1):
            raise AugmentError(f"weak: flip must be in [0, 1] and shift in [0, 1), got {flip}, {shift}")
        self.flip, self.shift, self.seed = flip, shift, seed

    def apply(self, x: torch.Tensor, keys: np.ndarray) -> torch.Tensor:
        flip = _u(keys, 1, x) < self.flip
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        b, _, h, w = x.shape
        pad_h, pad_w = round(self.shift * h), round(self.shift * w)
        if pad_h == 0 and pad_w == 0:
            return x
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        padded = F.pad(x, (pad_w, pad_w, pad_h, pad_h), mode=mode)
        offsets = _u(keys, 2, x, 2)
        oy = (offsets[:, 0] * (2 * pad_h + 1)).long().clamp(max=2 * pad_h)
        ox = (offsets[:, 1] * (2 * pad_w + 1)).long().clamp(max=2 * pad_w)
        rows = (oy.view(-1, 1) + torch.arange(h, device=x.device)).view(b, 1, h, 1).expand(-1, x.shape[1], -1, padded.shape[-1])
        x = padded.gather(2, rows)
        cols = (ox.view(-1, 1) + torch.arange(w, device=x.device)).view(b, 1, 1, w).expand(-1, x.shape[1], h, -1)
        return x.gather(3, cols)

    def params(self) -> dict[str, Any]:
        return {"flip": self.flip, "shift": self.shift}


@register_op("randaugment", kind="image")
class RandAugment(ImageAugmenter):
    """``n`` random ops from ``ops`` per image at magnitude ``m`` in [0, 10], then Cutout.

    The magnitude maps to each op's range as in RandAugment: rotate ±30°, shear ±0.3,
    translate ±30% of the size, enhancement factors 1 ± 0.9, solarize threshold 1 − m/10,
    posterize to 8 − round(4·m/10) bits; the sign is drawn per image. With
    ``random_magnitude`` each op's magnitude is drawn uniformly from [0, m] per image, as
    FixMatch's RandAugment does, instead of always m. ``cutout`` is the side of the Cutout
    square as a fraction of the image (0 turns it off).
    """

    name = "randaugment"

    def __init__(self, n: int = 2, m: float = 10, ops: Sequence[str] | None = None, cutout: float = 0.5,
                 random_magnitude: bool = False, seed: int = 0) -> None:
        self.ops = list(OPS) if ops is None else list(ops)
        unknown = [op for op in self.ops if op not in OPS]
        if unknown or not self.ops:
            raise AugmentError(f"randaugment: unknown ops {unknown or '(none given)'}; choose from {', '.join(OPS)}")
        if n < 0 or not 0 <= m <= 10 or not 0 <= cutout <= 1:
            raise AugmentError(f"randaugment: need n >= 0, 0 <= m <= 10, 0 <= cutout <= 1; got {n}, {m}, {cutout}")
        self.n, self.m, self.cutout, self.seed = int(n), float(m), float(cutout), seed
        self.random_magnitude = bool(random_magnitude)

    def apply(self, x: torch.Tensor, keys: np.ndarray) -> torch.Tensor:
        for slot in range(self.n):
            draws = _u(keys, 10 + slot, x, 3)
            choice = (draws[:, 0] * len(self.ops)).long().clamp(max=len(self.ops) - 1)
            sign = torch.where(draws[:, 1] < 0.5, -1.0, 1.0)
            v = sign * self.m / 10 * (draws[:, 2] if self.random_magnitude else 1.0)
            out = x.clone()
            for k, name in enumerate(self.ops):
                rows = (choice == k).nonzero().flatten()
                if rows.numel():
                    out[rows] = OPS[name](x[rows], v[rows]).clamp(0, 1)
            x = out
        if self.cutout > 0:
            x = cutout(x, self.cutout, _u(keys, 1, x, 2))
        return x

    def params(self) -> dict[str, Any]:
        return {"n": self.n, "m": self.m, "ops": self.ops, "cutout": self.cutout,
                "random_magnitude": self.random_magnitude}


@register_op("cutout", kind="image")
class Cutout(ImageAugmenter):
    """Only Cutout: a gray square of side ``size``·min(H, W) at a random centre."""

    name = "cutout"

    def __init__(self, size: float = 0.5, seed: int = 0) -> None:
        if not 0 < size <= 1:
            raise AugmentError(f"cutout: size must be in (0, 1], got {size}")
        self.size, self.seed = float(size), seed

    def apply(self, x: torch.Tensor, keys: np.ndarray) -> torch.Tensor:
        return cutout(x, self.size, _u(keys, 1, x, 2))

    def params(self) -> dict[str, Any]:
        return {"size": self.size}
