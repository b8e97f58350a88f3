"""Where LandCoverRep lives and what its ``metadata.csv`` says about each split."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from nca.data.sources.base import DatasetUnavailable

#: Folder names under ``--data-root``: the paper authors' layout, then SustainBench's
#: own (``land_cover_rep_v1.1``, tiles under ``tile_triplets/``).
FOLDERS = ("land_cover_representation", "land_cover_rep*")
TILE_SUBFOLDER = "tile_triplets"
PAGE = (
    "https://sustainlab-group.github.io/sustainbench/docs/datasets/sdg15/"
    "land_cover_representation.html"
)
#: SustainBench's split codes; our ``test`` is their test split (the paper's test-set results).
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
_SPLIT_ALIASES = {"validation": "val", "valid": "val"}
#: Accepted spellings of each column (the authors' release first, then SustainBench v1.1).
COLUMNS = {
    "file": ("file_name", "fileName"),
    "label": ("y",),
    "class_code": ("land_cover", "landCover"),
    "split": ("split",),
    "split_name": ("split_str", "splitStr"),
}


@dataclass
class SplitFiles:
    """The tiles of one split.

    Attributes:
        tile_dir: Folder the file names are relative to.
        files: Tile file names, in metadata order.
        labels: Class indices (``y``; or the land-cover codes numbered in sorted order).
    """

    tile_dir: Path
    files: list[str]
    labels: list[int]

    @property
    def paths(self) -> list[Path]:
        return [self.tile_dir / name for name in self.files]


def locate(root: Path, download: bool) -> Path:
    """The folder holding ``metadata.csv``, or a message saying how to get it."""
    candidates = [c for pattern in FOLDERS for c in sorted(root.glob(pattern))] + [root]
    for folder in candidates:
        if (folder / "metadata.csv").is_file():
            return folder
    how = "--download cannot fetch it (it is a manual download); " if download else ""
    raise DatasetUnavailable(
        f"LandCoverRep is not in {str(root / FOLDERS[0])!r} (expected metadata.csv and the "
        f".npy tiles it lists); {how}download SustainBench's land-cover representation "
        f"archive ({PAGE}) and unpack it so that --data-root/{FOLDERS[0]}/metadata.csv "
        f"(or SustainBench's land_cover_rep_v1.1/metadata.csv) exists"
    )


def _column(columns: set[str], key: str) -> str | None:
    return next((name for name in COLUMNS[key] if name in columns), None)


def read_split(folder: Path, split: str) -> SplitFiles:
    """Tile names and labels of ``split`` (``train``, ``val`` or ``test``) from
    ``folder/metadata.csv``; every malformed row is an error naming its line."""
    path = folder / "metadata.csv"
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        file_col = _column(columns, "file")
        label_col = _column(columns, "label") or _column(columns, "class_code")
        split_col, name_col = _column(columns, "split"), _column(columns, "split_name")
        if not (file_col and label_col and (split_col or name_col)):
            raise DatasetUnavailable(
                f"{str(path)!r} is not LandCoverRep metadata: expected columns file_name "
                f"(or fileName), y (or land_cover/landCover) and split (or split_str/splitStr), "
                f"found {sorted(columns)}"
            )
        rows = [
            (
                line,
                row[file_col],
                _label(row, label_col, path, line),
                _split(row, split_col, name_col, path, line),
            )
            for line, row in enumerate(reader, start=2)
        ]
    if label_col in COLUMNS["class_code"]:  # land-cover codes -> 0..K-1 over the whole file
        index = {code: i for i, code in enumerate(sorted({r[2] for r in rows}))}
        rows = [(line, name, index[code], s) for line, name, code, s in rows]
    chosen = [(name, label) for _, name, label, row_split in rows if row_split == split]
    if not chosen:
        raise DatasetUnavailable(f"{str(path)!r} lists no tiles of the {split!r} split")
    first = chosen[0][0]
    tile_dir = folder
    if not (folder / first).is_file() and (folder / TILE_SUBFOLDER / first).is_file():
        tile_dir = folder / TILE_SUBFOLDER
    return SplitFiles(tile_dir, [n for n, _ in chosen], [label for _, label in chosen])


def _label(row: dict[str, str], column: str, path: Path, line: int) -> int:
    text = (row.get(column) or "").strip()
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != value or value != int(value) or value < 0:
        raise DatasetUnavailable(
            f"{str(path)!r} line {line}: {column} must be a non-negative integer, got {text!r}"
        )
    return int(value)


def _split(row, split_col: str | None, name_col: str | None, path: Path, line: int) -> str:
    codes = {str(code): name for name, code in SPLIT_CODES.items()}
    value = (row.get(split_col) or "").strip() if split_col else ""
    if value:  # the numeric code is authoritative when present
        if value in codes:
            return codes[value]
        raise DatasetUnavailable(
            f"{str(path)!r} line {line}: unknown split {value!r} (expected 0, 1 or 2)"
        )
    text = (row.get(name_col) or "").strip().lower() if name_col else ""
    text = _SPLIT_ALIASES.get(text, text)
    if text in SPLIT_CODES:
        return text
    raise DatasetUnavailable(
        f"{str(path)!r} line {line}: unknown split {text!r} (expected train, val or test)"
    )
