"""Image-quality metrics shared by tasks and analysis: PSNR and SSIM (torchmetrics).

Both are computed per image on [0, 1] images (outputs are clamped to [0, 1]
first). One definition for the whole toolkit, so evaluation, validation and the
analysis experiments report the same number for the same images.
:func:`batch_psnr` is the authors' release's definition instead: one PSNR of the
batch's pooled MSE (torchmetrics with ``dim=None``), which is never above the mean
of the per-image values (Jensen) and depends on how images are batched.
"""

from __future__ import annotations

import torch

#: PSNR of an exact reconstruction is infinite; cap it so averages stay finite.
PSNR_CAP_DB = 100.0


def psnr(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR (dB) of ``(B, C, *spatial)`` images (``(B, C, H, W)``; volumes
    ``(B, C, D, H, W)``) in [0, 1], capped at 100 dB: ``(B,)``."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    value = peak_signal_noise_ratio(
        output.clamp(0, 1), target, data_range=1.0, reduction="none",
        dim=tuple(range(1, output.ndim)),
    )  # fmt: skip
    return value.clamp(max=PSNR_CAP_DB)


def ssim(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM (Gaussian 11×11, σ = 1.5) of ``(B, C, H, W)`` images in [0, 1]: ``(B,)``."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    return structural_similarity_index_measure(
        output.clamp(0, 1), target, data_range=1.0, reduction="none"
    )


def batch_psnr(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR (dB) of the mean squared error over a whole ``(B, C, H, W)`` batch, both
    clamped to [0, 1], capped at 100 dB: a scalar. The authors' release reports the
    mean of this value over test batches (torchmetrics ``peak_signal_noise_ratio`` with
    ``dim=None``)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    value = peak_signal_noise_ratio(output.clamp(0, 1), target.clamp(0, 1), data_range=1.0)
    return value.clamp(max=PSNR_CAP_DB)
