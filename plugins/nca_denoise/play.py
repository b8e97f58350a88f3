"""``nca play`` for denoise runs: a noisy test image injected into a live grid."""

from __future__ import annotations

import torch

from nca import PlayChoice, Playground, make_generator
from nca_denoise.masking import CONFIGURATIONS, config_name

#: The noise drop-down: the paper's nine configurations, or the clean image.
CLEAN = "none"


class DenoisePlayground(Playground):
    """A denoiser's grid: the chosen test image under the chosen noise is its input.

    Choosing another image or noise injects the new input into the running grid
    (the paper's changing-inputs experiment, Fig. 4f) instead of reseeding it.

    Args:
        model: The task's :class:`nca.ImageModel` around a CA rule.
        images: Test images ``(N, C, H, W)`` in [0, 1].
        labels: Their labels ``(N,)`` (shown in the drop-down).
        corrupt: The task's ``corrupt(images, patch, coverage, generator)``.
    """

    def __init__(self, model, images: torch.Tensor, labels: torch.Tensor, corrupt) -> None:
        super().__init__(model.automaton)
        self.images = images
        self.corrupt = corrupt
        self.image_options = tuple(f"#{i} ({int(label)})" for i, label in enumerate(labels))
        self.noise_options = (*(config_name(c) for c in CONFIGURATIONS), CLEAN)
        self.image_index = 0
        self.noise = config_name((1, 0.5))  # the paper's σ-noise default for figures

    def input_image(self) -> torch.Tensor:
        """The current input ``(1, C, H, W)``: the image under its noise (a mask fixed by
        the image and configuration, so choosing them again gives the same input)."""
        image = self.images[self.image_index : self.image_index + 1]
        if self.noise == CLEAN:
            return image.clone()
        side, coverage = CONFIGURATIONS[self.noise_options.index(self.noise)]
        generator = make_generator(self.image_index * 16 + self.noise_options.index(self.noise))
        return self.corrupt(image.cpu(), (side, side), coverage, generator).to(image.device)

    def seed(self) -> torch.Tensor:
        return self.automaton.seed(self.input_image())

    def render(self, cells: torch.Tensor) -> torch.Tensor:
        return self.automaton.output_image(cells)[0]

    def choices(self) -> list[PlayChoice]:
        return [
            PlayChoice("image", "test image", self.image_options,
                       self.image_options[self.image_index]),
            PlayChoice("noise", "noise", self.noise_options, self.noise),
        ]  # fmt: skip

    def choose(self, name: str, value: str, cells: torch.Tensor) -> torch.Tensor:
        choices = {c.name: c for c in self.choices()}
        if name not in choices:
            return super().choose(name, value, cells)
        index = self.check_option(choices[name], value)
        if name == "image":
            self.image_index = index
        else:
            self.noise = value
        return self.automaton.inject(cells, self.input_image())
