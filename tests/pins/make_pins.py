"""Record the pinned 2-D values: ``python -m tests.pins.make_pins`` (run once, before a
change to the core; the file it writes is committed)."""

from pathlib import Path

import torch

from tests.pins.cases import CASES

PINS = Path(__file__).with_name("pins_2d.pt")


def main() -> None:
    torch.set_num_threads(1)
    pins = {
        name: {k: v.detach().clone() for k, v in case().items()} for name, case in CASES.items()
    }
    torch.save(pins, PINS)
    count = sum(len(v) for v in pins.values())
    size = PINS.stat().st_size
    print(f"{PINS}: {len(pins)} cases, {count} tensors, {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
