"""A custom dataset in about 40 lines, registered and used for denoising.

The dataset: procedurally drawn discs and squares (1 channel), labelled by
shape. A package would expose the class through an ``nca.datasets`` entry
point; here ``register_dataset`` adds it for this process.

Run: python examples/04_custom_dataset.py [--iterations 100]
"""

from __future__ import annotations

import argparse
import tempfile

import torch

from nca import DatasetSource, ImageSet, load_images, register_dataset


class Shapes(DatasetSource):
    """White discs (label 0) and squares (label 1) of random size and position."""

    name = "shapes"
    default_image_size = 16

    def channels(self) -> int:
        return 1

    def load(self, split: str, *, root: str, download: bool, image_size: int) -> ImageSet:
        count = 2000 if split == "train" else 200
        generator = torch.Generator().manual_seed(0 if split == "train" else 1)
        centre = torch.rand(count, 2, 1, 1, generator=generator) * 0.5 + 0.25
        radius = torch.rand(count, 1, 1, generator=generator) * 0.15 + 0.1
        labels = torch.randint(0, 2, (count,), generator=generator)
        axis = (torch.arange(image_size) + 0.5) / image_size
        dy = axis.view(1, -1, 1) - centre[:, 0]  # (count, H, 1)
        dx = axis.view(1, 1, -1) - centre[:, 1]  # (count, 1, W)
        disc = dy**2 + dx**2 <= radius**2
        square = torch.maximum(dy.abs(), dx.abs()) <= radius
        shapes = torch.where(labels.view(-1, 1, 1).bool(), square, disc)
        images = (shapes.unsqueeze(1) * 255).to(torch.uint8)  # (count, 1, H, W)
        return ImageSet(images, labels, self.name)


def main(iterations: int = 100) -> float:
    from nca import create_task, launch

    register_dataset(Shapes)  # or expose it through an `nca.datasets` entry point
    train = load_images("shapes", "train")  # 16x16: the dataset's default size
    print(f"{len(train)} {train.image_size}x{train.image_size} shapes, labels {train.labels[:8]}")
    task = create_task(
        "denoise",
        dataset="shapes",
        iterations=iterations,
        batch_size=8,
        steps_min=8,
        steps_max=16,
        eval_steps=16,
        eval_subset=32,
        pool_size=64,
        curriculum_start=10,
        curriculum_end=100,
        validate_every=10**6,
        checkpoint_every=10**6,
        lpips="off",
    )
    small = {"embed_dim": 32, "heads": 2, "hidden_channels": 8}
    with tempfile.TemporaryDirectory() as run_dir:  # the task sets the rule's image size
        final = launch(task, rule="vitca", rule_options=small, run_dir=run_dir, quiet=True)
    print(f"vitca on shapes after {iterations} iterations: L1 {final['reconstruction']:.4f}")
    return final["reconstruction"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100)
    main(parser.parse_args().iterations)
