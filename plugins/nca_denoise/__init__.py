"""Denoising-autoencoding task plugin (paper §3.1, §4.1, Algorithm 1, Table 1).

Registered as the ``denoise`` task through the ``nca.tasks`` entry point group.
"""

from nca_denoise.task import DenoiseTask

__all__ = ["DenoiseTask"]
