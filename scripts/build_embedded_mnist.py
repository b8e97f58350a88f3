"""Build the MNIST sample shipped with nca as ``embedded-mnist`` (the quick start's default data).

Reads full MNIST in torchvision's layout (e.g. ``../shared/data``, or any
``--root`` holding ``MNIST/raw``) and writes the first ``--train`` training and
``--test`` test digits, as uint8 28×28 images with their labels, to a gzip'd
``torch.save`` file that loads with ``weights_only=True``.

MNIST: Y. LeCun, C. Cortes, C. J. C. Burges; CC BY-SA 3.0.

Usage:
    python scripts/build_embedded_mnist.py --root ../shared/data
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
from pathlib import Path

import torch
from torchvision.datasets import MNIST

OUTPUT = Path(__file__).resolve().parents[1] / "nca/data/sources/mnist_sample.pt.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../shared/data", help="folder holding MNIST/raw")
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    train = MNIST(args.root, train=True, download=False)
    test = MNIST(args.root, train=False, download=False)
    payload = {
        "train_images": train.data[: args.train].clone(),
        "train_labels": train.targets[: args.train].to(torch.uint8),
        "test_images": test.data[: args.test].clone(),
        "test_labels": test.targets[: args.test].to(torch.uint8),
        "source": f"MNIST: first {args.train} training and {args.test} test digits",
        "license": "MNIST (LeCun, Cortes, Burges), CC BY-SA 3.0",
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same input gives the same bytes
    with gzip.GzipFile(args.output, "wb", mtime=0) as handle:
        handle.write(buffer.getvalue())
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.2f} MB, sha256 {digest})")


if __name__ == "__main__":
    main()
