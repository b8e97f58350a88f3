"""One uint8 array per split, built once from the tiles and memory-mapped afterwards.

Reading ~10^5 small ``.npy`` files takes minutes, so the first load of a split
streams its RGB tiles into ``<split>-rgb-<key>.npy``; later loads memory-map it
(copy-on-write), so the split is never copied into RAM and data-parallel ranks
share the page cache. The key hashes a format version, ``metadata.csv``'s and
every tile's size and modification time: changed data gets a new cache, never
stale pixels. The cache goes next to the data (``.nca-cache/``), else into the
user cache (``$NCA_CACHE_DIR``, else ``$XDG_CACHE_HOME/nca``, else
``~/.cache/nca``), else the split is held in memory with a warning. Writers
take a file lock and write to a unique temporary file that is renamed into
place, so concurrent ranks convert once and readers never see half a cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

CACHE_DIR = ".nca-cache"
#: Bump when the conversion changes: old caches are then ignored.
CACHE_VERSION = 1

#: Returns the split's array shape ``(N, 3, H, W)`` and its N uint8 tiles, one by one.
Converter = Callable[[], tuple[tuple[int, ...], Iterator[np.ndarray]]]


def user_cache_dir() -> Path:
    if os.environ.get("NCA_CACHE_DIR"):
        return Path(os.environ["NCA_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nca"


def cache_key(folder: Path, paths: list[Path]) -> str:
    """Hash of the format version, ``metadata.csv`` and each tile's name, size and mtime."""
    digest = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    for path in [folder / "metadata.csv", *paths]:
        try:
            stat = path.stat()
        except OSError as err:
            from nca.data.sources.landcover.tiles import LandCoverTileError

            raise LandCoverTileError(f"cannot read tile {str(path)!r}: {err}") from err
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def cache_dirs(folder: Path) -> list[Path]:
    """Where a split's cache may live, in order of preference."""
    resolved = str(folder.resolve())
    per_folder = hashlib.sha256(resolved.encode()).hexdigest()[:12]
    return [folder / CACHE_DIR, user_cache_dir() / "landcover" / per_folder]


def load_split(folder: Path, split: str, paths: list[Path], convert: Converter) -> torch.Tensor:
    """``(N, 3, H, W)`` uint8 tiles of a split, memory-mapped from its cache (built if
    needed) or, when no cache can be written, held in memory."""
    name = f"{split}-rgb-{cache_key(folder, paths)}.npy"
    places = cache_dirs(folder)
    for place in places:
        if (place / name).is_file():
            return _memory_map(place / name)
    failures = []
    for place in places:
        try:
            return _memory_map(_build(place, name, split, convert))
        except OSError as err:  # read-only, full, no permission: try the next place
            failures.append(f"{place} ({err.strerror or err})")
    warnings.warn(
        f"cannot write the LandCoverRep cache in {' or '.join(failures)}; holding the "
        f"{split} split in memory instead (set NCA_CACHE_DIR to a writable folder)",
        stacklevel=3,
    )
    shape, tiles = convert()
    array = np.empty(shape, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        array[i] = tile
    return torch.from_numpy(array)


def _memory_map(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.load(path, mmap_mode="c"))  # copy-on-write: the file stays


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (POSIX ``flock``; no locking elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(place: Path, name: str, split: str, convert: Converter) -> Path:
    place.mkdir(parents=True, exist_ok=True)
    target = place / name
    with _locked(place / f"{split}.lock"):
        if target.is_file():  # another process built it while we waited
            return target
        fd, partial = tempfile.mkstemp(dir=place, prefix=f".{split}-", suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as handle:  # plain writes: nothing mapped while building
                _write_npy(handle, convert)
            os.replace(partial, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
        for stale in place.glob(f"{split}-rgb-*.npy"):  # caches of older data
            if stale != target:
                stale.unlink(missing_ok=True)
    return target


def _write_npy(handle: BinaryIO, convert: Converter) -> None:
    """Stream the tiles into ``handle`` as one ``.npy`` array, tile by tile."""
    shape, tiles = convert()
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8))}
    header.update(fortran_order=False, shape=shape)
    np.lib.format.write_array_header_2_0(handle, header)
    written = 0
    for tile in tiles:
        handle.write(np.ascontiguousarray(tile, dtype=np.uint8).tobytes())
        written += 1
    if written != shape[0]:  # never rename a short file into place
        raise RuntimeError(f"converted {written} tiles for a cache of {shape[0]}")
