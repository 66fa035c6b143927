"""Image augmentations on (B, C, H, W) tensors."""

from __future__ import annotations

import pytest
import torch

from augment import AugmentError
from augment.image import OPS, Cutout, RandAugment, WeakImage, equalize, posterize, solarize


@pytest.fixture
def images() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (6, 3, 16, 20), generator=generator, dtype=torch.uint8)


@pytest.mark.parametrize("make", [WeakImage, RandAugment, Cutout])
def test_shape_dtype_and_determinism(make, images: torch.Tensor) -> None:
    aug = make(seed=3)
    out = aug(images)
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert torch.equal(out, make(seed=3)(images))
    assert not torch.equal(out, make(seed=4)(images))
    assert torch.equal(out[2:5], aug(images[2:5]))  # does not depend on the batch around an image
    floats = images.float() / 255
    out_float = aug(floats)
    assert out_float.dtype == torch.float32 and out_float.min() >= 0 and out_float.max() <= 1
    assert torch.allclose(out_float, out.float() / 255, atol=1 / 255 + 1e-6)
    assert not torch.equal(aug(images, copy=1), out)


def test_flip_is_a_horizontal_mirror(images: torch.Tensor) -> None:
    assert torch.equal(WeakImage(flip=1.0, shift=0)(images), images.flip(-1))
    assert torch.equal(WeakImage(flip=0.0, shift=0)(images), images)
    many = torch.randint(0, 256, (400, 1, 4, 4), dtype=torch.uint8)
    flipped = (WeakImage(flip=0.5, shift=0, seed=1)(many) != many).flatten(1).any(1).float().mean()
    assert 0.4 < flipped < 0.6


def test_shift_is_a_crop_of_the_reflection_padded_image(images: torch.Tensor) -> None:
    out = WeakImage(flip=0.0, shift=0.125, seed=2)(images)  # pads 2 rows and 2 or 3 columns
    padded = torch.nn.functional.pad(images.float(), (2, 2, 2, 2), mode="reflect")
    shifts = set()
    for b in range(len(images)):
        matches = [(dy, dx) for dy in range(5) for dx in range(5)
                   if torch.equal(padded[b, :, dy:dy + 16, dx:dx + 20], out[b].float())]
        assert matches, f"image {b} is not a crop"
        shifts.add(matches[0])
    assert len(shifts) > 1


def test_ops_against_their_definitions() -> None:
    x = torch.tensor([[[[0, 64, 128, 255]]]], dtype=torch.float32) / 255
    one = torch.ones(1)
    assert torch.equal(OPS["identity"](x, one), x)
    assert torch.allclose(solarize(x, one * 0.5), torch.tensor([0, 64, 127, 0.0]).view(1, 1, 1, 4) / 255)
    assert torch.allclose(posterize(x, one), torch.tensor([0, 64, 128, 240.0]).view(1, 1, 1, 4) / 255)
    assert torch.allclose(OPS["brightness"](x, -one), (x * 0.1))
    assert torch.allclose(OPS["rotate"](x, 0 * one), x, atol=1e-6)
    assert torch.allclose(OPS["autocontrast"](x * 0.5 + 0.25, one), x, atol=1e-6)


def pil_equalize(channel: list[int]) -> list[int]:
    """PIL's ImageOps.equalize on one channel, written out with plain Python."""
    histogram = [0] * 256
    for v in channel:
        histogram[v] += 1
    used = [h for h in histogram if h]
    if len(used) <= 1:
        return channel
    step = (sum(used) - used[-1]) // 256
    if not step:
        return channel
    lut, n = [], step // 2
    for i in range(256):
        lut.append(min(255, n // step))
        n += histogram[i]
    return [lut[v] for v in channel]


def test_equalize_matches_pil(images: torch.Tensor) -> None:
    big = torch.randint(0, 120, (2, 3, 32, 32), dtype=torch.uint8) ** 2 // 60  # skewed histogram
    out = (equalize(big.float() / 255, torch.ones(2)) * 255).round().to(torch.uint8)
    for b in range(2):
        for c in range(3):
            assert out[b, c].flatten().tolist() == pil_equalize(big[b, c].flatten().tolist())


def test_cutout_covers_the_requested_square() -> None:
    x = torch.zeros(50, 1, 20, 20)
    same = Cutout(size=0.5, seed=0)(x)
    assert all(torch.equal(same[0], img) for img in same)  # identical images, identical keys
    out = Cutout(size=0.5, seed=0)(x, ids=range(50))  # ids tell the images apart
    covered = (out == 0.5).flatten(1).sum(1)
    assert covered.max() == 100 and covered.min() >= 25  # 10×10, less where it crosses the border
    assert len({tuple(img.nonzero()[0].tolist()) for img in out}) > 10


def test_randaugment_with_zero_magnitude_color_ops_changes_nothing(images: torch.Tensor) -> None:
    gentle = RandAugment(n=3, m=0, ops=["brightness", "contrast", "color", "sharpness", "rotate"], cutout=0)
    assert torch.equal(gentle(images), images)
    assert RandAugment(n=1, m=10, ops=["identity"], cutout=0)(images).equal(images)
    with pytest.raises(AugmentError, match="unknown ops"):
        RandAugment(ops=["warp"])
    with pytest.raises(AugmentError, match="expected a"):
        WeakImage()(torch.zeros(3, 8, 8))
    with pytest.raises(AugmentError, match="dtype"):
        WeakImage()(torch.zeros(1, 3, 8, 8, dtype=torch.int32))


def test_random_magnitude_draws_each_images_strength_up_to_m() -> None:
    dim = torch.full((64, 1, 4, 4), 0.5)

    def factors(**kwargs) -> torch.Tensor:
        out = RandAugment(n=1, m=10, ops=["brightness"], cutout=0, seed=1, **kwargs)(dim, ids=range(64))
        return (out[:, 0, 0, 0] / 0.5 - 1).abs()  # brightness scales by 1 ± 0.9·(m/10)

    assert torch.allclose(factors(), torch.full((64,), 0.9))
    drawn = factors(random_magnitude=True)
    assert drawn.max() <= 0.9 + 1e-6 and drawn.min() < 0.2 and len(drawn.unique()) == 64
