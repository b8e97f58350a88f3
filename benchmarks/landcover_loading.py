"""LandCoverRep loading: first load (tiles -> uint8 cache), cached load, batch draws.

Without ``--data-root`` it writes ``--tiles`` synthetic 100x100x5 uint8 tiles in
SustainBench's layout to a temporary folder (the real archive is a manual
download); with it, it measures the real data (delete its ``.nca-cache`` first
to time the conversion again). Peak RSS counts the file-backed pages of the
memory-mapped cache that were touched, which the kernel can drop at will.

Usage:
    python benchmarks/landcover_loading.py --tiles 20000 \\
        --output benchmarks/results/landcover_loading_cpu.md
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _machine import cpu_model  # benchmarks/ is the script directory
from _report import emit

from nca import load_images, make_generator
from nca.data.sources.landcover import CACHE_DIR, FOLDER


def write_tiles(root: Path, count: int) -> None:
    """``count`` training tiles and ``count // 10`` test tiles, HWC uint8 with 5 bands."""
    folder = root / FOLDER
    (folder / "tiles").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = ["file_name,y,land_cover,split,split_str"]
    for split, code, n in (("train", 0, count), ("test", 2, max(1, count // 10))):
        for i in range(n):
            name = f"tiles/{split}_{i}.npy"
            np.save(folder / name, rng.integers(0, 256, (100, 100, 5), dtype=np.uint8))
            rows.append(f"{name},{i % 61},1,{code},{split}")
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=20_000, help="synthetic training tiles")
    parser.add_argument("--data-root", type=Path, help="real data instead of synthetic tiles")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(2)
    scratch = None
    root = args.data_root
    if root is None:
        scratch = Path(tempfile.mkdtemp())
        root = scratch
        start = time.perf_counter()
        write_tiles(root, args.tiles)
        print(f"wrote {args.tiles} synthetic tiles in {time.perf_counter() - start:.1f} s")
    try:
        cache = root / FOLDER / CACHE_DIR
        rss_before = peak_rss_mb()
        start = time.perf_counter()
        train = load_images("landcover", "train", root=str(root), image_size=32)
        first = time.perf_counter() - start
        start = time.perf_counter()
        again = load_images("landcover", "train", root=str(root), image_size=32)
        cached = time.perf_counter() - start
        rss_loaded = peak_rss_mb()
        generator, n = make_generator(0), len(again)
        start, draws = time.perf_counter(), 200
        for _ in range(draws):
            index = torch.randperm(n, generator=generator)[: args.batch_size]
            again.batch(index, generator=generator)
        per_batch = (time.perf_counter() - start) / draws * 1e3
        cache_mb = sum(p.stat().st_size for p in cache.glob("*.npy")) / 2**20
        rows = [
            ("training tiles", f"{len(train):,}"),
            ("first load (read .npy tiles, write the uint8 cache)", f"{first:.1f} s"),
            ("tiles per second, first load", f"{len(train) / first:,.0f}"),
            ("cached load (memory map)", f"{cached * 1e3:.1f} ms"),
            (f"random batch of {args.batch_size} (crop 32 + flips)", f"{per_batch:.2f} ms"),
            ("cache file", f"{cache_mb:,.0f} MiB"),
            ("peak RSS growth: both loads", f"{rss_loaded - rss_before:,.0f} MiB"),
            (
                f"peak RSS growth: + {draws} batches (mapped pages read)",
                f"{peak_rss_mb() - rss_before:,.0f} MiB",
            ),
        ]
    finally:
        if scratch is not None:
            shutil.rmtree(scratch)
    lines = [
        "# LandCoverRep loading (CPU)",
        "",
        f"Machine: {cpu_model()}, 2 threads, torch {torch.__version__}. "
        + ("Synthetic tiles in SustainBench's layout." if args.data_root is None else ""),
        f"Command: `python benchmarks/landcover_loading.py --tiles {args.tiles}`",
        "",
        "| measure | value |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in rows],
    ]
    emit(lines, args.output)


if __name__ == "__main__":
    main()
