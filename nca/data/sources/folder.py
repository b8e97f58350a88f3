"""Any ImageFolder-style tree of images: ``folder:PATH``, or ``folder:PATH?split=FRACTION``.

Two layouts are read, and nothing else is guessed:

* ``PATH/train/CLASS/IMAGE`` with ``PATH/test/CLASS/IMAGE`` (``val/`` or ``valid/``
  stand in for ``test/``; with several, ``test/`` wins, then ``val/``);
* a flat ``PATH/CLASS/IMAGE`` tree, split only when asked: ``folder:PATH?split=0.2``
  holds out 20% of each class for the test split (``&seed=N`` picks another split).

A missing split, a root holding both class folders and ``train/``/``test/``, an empty
class folder and images outside class folders are errors naming the folder; one split is
never reused as another.
"""

from __future__ import annotations

import hashlib
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from nca.data.image_set import ImageSet
from nca.data.sources.base import DatasetSource, DatasetUnavailable
from nca.data.sources.image_files import (
    GRAYSCALE_MODES,
    IMAGE_SUFFIXES,
    count_grayscale,
    image_files,
    is_image_file,
    read_image,
)

__all__ = [
    "GRAYSCALE_MODES",
    "IMAGE_SUFFIXES",
    "FolderLayout",
    "FolderOptions",
    "ImageFolderTree",
    "folder_channels",
    "folder_layout",
    "parse_folder_argument",
]

#: Folder names (compared case-insensitively) of each split, in order of preference.
SPLIT_FOLDERS = {"train": ("train",), "test": ("test", "val", "valid")}
#: Seed of ``?split=`` when the argument gives none.
DEFAULT_SEED = 0
LAYOUTS = (
    "valid layouts: PATH/train/CLASS/IMAGE with PATH/test/CLASS/IMAGE (or val/, valid/), "
    "or a flat PATH/CLASS/IMAGE tree split with folder:PATH?split=FRACTION"
)
OPTIONS = "split=FRACTION (0 < FRACTION < 1) and seed=N (default 0, only with split=)"
_QUERY = re.compile(r"[A-Za-z_]\w*=[^&=?]*(?:&[A-Za-z_]\w*=[^&=?]*)*")


@dataclass(frozen=True)
class FolderOptions:
    """The parsed argument of ``folder:ARGUMENT``.

    Attributes:
        path: The tree's folder (``~`` not yet expanded).
        split: Share of each class held out for the test split of a flat tree;
            ``None``: the tree must have ``train/`` and ``test/`` folders.
        seed: Which seeded split (``?seed=N``).
    """

    path: str
    split: float | None = None
    seed: int = DEFAULT_SEED


def parse_folder_argument(argument: str) -> FolderOptions:
    """Split ``PATH?split=0.2&seed=1`` into the path and its options.

    Text after the last ``?`` is read as options only if it looks like ``key=value``
    pairs joined by ``&``, so paths containing ``?`` still work.

    Raises:
        ValueError: an unknown, repeated or out-of-range option, or no path.
    """
    path, sep, query = argument.rpartition("?")
    if not sep or not _QUERY.fullmatch(query):
        return FolderOptions(argument)
    options: dict[str, str] = {}
    for item in query.split("&"):
        key, _, value = item.partition("=")
        if key in options:
            raise ValueError(f"option {key}= is given twice in folder:{argument}")
        options[key] = value
    unknown = sorted(set(options) - {"split", "seed"})
    if unknown:
        raise ValueError(
            f"unknown option {unknown[0]}= in folder:{argument}; valid options: {OPTIONS}"
        )
    if not path:
        raise ValueError(f"folder:{argument} names no folder; write folder:PATH?{query}")
    split = None
    if "split" in options:
        try:
            split = float(options["split"])
        except ValueError:
            split = math.nan
        if not 0 < split < 1:  # NaN fails too
            raise ValueError(
                f"split= must be a fraction with 0 < FRACTION < 1 (the share of each class "
                f"held out for the test split), got {options['split']!r}"
            )
    seed = DEFAULT_SEED
    if "seed" in options:
        if split is None:
            raise ValueError(f"seed= only applies with split=FRACTION, got folder:{argument}")
        if not options["seed"].isdigit():
            raise ValueError(f"seed= must be a whole number >= 0, got {options['seed']!r}")
        seed = int(options["seed"])
    return FolderOptions(path, split, seed)


@dataclass(frozen=True)
class FolderLayout:
    """What a ``folder:`` tree holds, found from file names alone (no image is opened).

    Attributes:
        root: The tree's folder.
        classes: Class names, sorted; label ``i`` is ``classes[i]`` in every split.
        files: For ``train`` and ``test``: ``(file, label)`` pairs, by class then path.
        sources: For ``train`` and ``test``: where the split comes from, in words.
        notes: Things worth saying about the tree (classes missing from a split).
    """

    root: Path
    classes: tuple[str, ...]
    files: dict[str, tuple[tuple[Path, int], ...]]
    sources: dict[str, str]
    notes: tuple[str, ...] = ()


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as err:
        raise DatasetUnavailable(
            f"cannot list folder {str(folder)!r} ({err.strerror or err})"
        ) from None


def _subfolders(folder: Path) -> list[Path]:
    """Folders directly in ``folder``, sorted, hidden ones (``.git``, ...) skipped."""
    return [p for p in _entries(folder) if p.is_dir() and not p.name.startswith(".")]


def _class_files(folder: Path) -> dict[str, list[Path]]:
    """The images of each class folder of ``folder`` (a split, or a flat tree's root).

    Raises:
        DatasetUnavailable: no class folders, an empty class folder, or images lying
            directly in ``folder`` (they belong to no class).
    """
    loose = [p.name for p in _entries(folder) if p.is_file() and is_image_file(p)]
    if loose:
        raise DatasetUnavailable(
            f"{str(folder)!r} holds images outside class folders ({_some(loose)}); images "
            f"go in class folders, {str(folder / 'CLASS' / 'IMAGE')!r}: move them into one "
            f"or out of the tree"
        )
    classes = {sub.name: image_files(sub) for sub in _subfolders(folder)}
    if not classes:
        raise DatasetUnavailable(
            f"{str(folder)!r} holds no class folders (expected "
            f"{str(folder / 'CLASS' / 'IMAGE')!r}); {LAYOUTS}"
        )
    for name, files in classes.items():
        if not files:
            raise DatasetUnavailable(
                f"class folder {str(folder / name)!r} holds no images "
                f"({', '.join(IMAGE_SUFFIXES)}); add images or remove the folder"
            )
    return classes


def _some(names: list[str], shown: int = 3) -> str:
    more = f", ... {len(names)} in all" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.3g}%"


def _held_out(files: list[Path], root: Path, fraction: float, seed: int) -> set[Path]:
    """The test images of one class: the ``round(fraction * n)`` files (at least one, and
    one fewer than all, for classes of two or more) whose seeded hash of their path
    relative to ``root`` is smallest. Depends only on names and seed, not on the order
    the file system lists them, the machine or the process."""
    if len(files) < 2:
        return set()
    count = min(max(math.floor(fraction * len(files) + 0.5), 1), len(files) - 1)

    def key(path: Path) -> bytes:
        return hashlib.sha256(f"{seed}/{path.relative_to(root).as_posix()}".encode()).digest()

    return set(sorted(files, key=key)[:count])


def _labelled(classes: dict[str, list[Path]], index: dict[str, int]):
    return tuple((f, index[name]) for name in sorted(classes) for f in classes[name])


def folder_layout(options: FolderOptions) -> FolderLayout:
    """Find the train and test images of a ``folder:`` tree (see the module docstring).

    Raises:
        DatasetUnavailable: the folder is missing, or its layout is not one of the valid
            ones; the message names the folder and the valid layouts.
    """
    root = Path(options.path).expanduser()
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DatasetUnavailable(f"folder dataset {str(root)!r} {what}")
    roles: dict[str, list[Path]] = {"train": [], "test": []}
    others = []
    for sub in _subfolders(root):
        role = next((r for r, names in SPLIT_FOLDERS.items() if sub.name.lower() in names), None)
        (roles[role] if role else others).append(sub)
    class_folders = [sub.name for sub in others if image_files(sub)]
    split_folders = [sub.name + "/" for sub in roles["train"] + roles["test"]]
    if split_folders:
        return _split_layout(root, options, roles, split_folders, class_folders)
    if options.split is None:
        if class_folders:
            raise DatasetUnavailable(
                f"{str(root)!r} holds class folders ({_some(class_folders)}) but no train/ "
                f"and test/ folders: use folder:{root}?split=0.2 to hold out 20% of each "
                f"class for testing (a seeded split), or arrange it as "
                f"{str(root / 'train' / 'CLASS')!r} and {str(root / 'test' / 'CLASS')!r}"
            )
        raise DatasetUnavailable(f"{str(root)!r} holds no class folders of images; {LAYOUTS}")
    classes = _class_files(root)
    index = {name: i for i, name in enumerate(sorted(classes))}
    held = {
        name: _held_out(files, root, options.split, options.seed) for name, files in classes.items()
    }
    test = {name: [f for f in files if f in held[name]] for name, files in classes.items()}
    train = {name: [f for f in files if f not in held[name]] for name, files in classes.items()}
    if not any(test.values()):
        raise DatasetUnavailable(
            f"?split={options.split:g} holds out no test images of {str(root)!r}: every class "
            f"has a single image; add images"
        )
    share = _percent(options.split)
    notes = _split_notes(root, options.split, classes, test)
    rule = (
        f"a seeded stratified split: {share} of each class held out, rounded, classes of 2+ "
        f"images keeping at least one image on each side; chosen by hashing seed "
        f"{options.seed} with each file's path relative to the folder"
    )
    return FolderLayout(
        root,
        tuple(index),
        {"train": _labelled(train, index), "test": _labelled(test, index)},
        {
            "train": f"{str(root)!r} minus the held-out test images ({rule})",
            "test": f"the images held out of {str(root)!r} ({rule})",
        },
        notes,
    )


def _split_notes(
    root: Path, fraction: float, classes: dict[str, list[Path]], test: dict[str, list[Path]]
) -> tuple[str, ...]:
    """What ``?split=FRACTION`` could not do as asked: classes of one image (train only),
    and a held-out share that rounding moved more than one point from the asked one."""
    notes = []
    single = sorted(name for name, files in classes.items() if len(files) == 1)
    if single:
        notes.append(
            f"folder:{root}?split={fraction:g}: {len(single)} class(es) hold a single image "
            f"({_some(single)}), which stays in the train split: the test split has none of "
            f"them"
        )
    total = sum(len(files) for files in classes.values())
    held = sum(len(files) for files in test.values())
    if abs(held / total - fraction) > 0.01:
        notes.append(
            f"folder:{root}?split={fraction:g} holds out {held} of {total} images "
            f"({_percent(held / total)}, not {_percent(fraction)}): each class's share is "
            f"rounded, and a class of 2+ images keeps at least one image on each side"
        )
    return tuple(notes)


def _split_layout(root, options, roles, split_folders, class_folders) -> FolderLayout:
    if class_folders:
        raise DatasetUnavailable(
            f"{str(root)!r} is ambiguous: it holds split folders ({', '.join(split_folders)}) "
            f"and class folders ({_some(class_folders)}); {LAYOUTS}: move the class folders "
            f"into the splits, or point folder: at the flat tree"
        )
    if options.split is not None:
        hint = ""
        if roles["train"] and not roles["test"]:
            hint = f", or use folder:{roles['train'][0]}?split={options.split:g}"
        raise DatasetUnavailable(
            f"{str(root)!r} holds split folders ({', '.join(split_folders)}), so ?split= "
            f"does not apply (it splits a flat PATH/CLASS/IMAGE tree): drop it{hint}"
        )
    for role, found in roles.items():
        names = [f.name.lower() for f in found]
        if len(set(names)) < len(names):
            raise DatasetUnavailable(
                f"{str(root)!r} is ambiguous: several {role} folders differ only in case "
                f"({', '.join(f.name + '/' for f in found)}); keep one"
            )
    if not roles["train"]:
        raise DatasetUnavailable(
            f"{str(root)!r} has {', '.join(split_folders)} but no train/ folder, and a test "
            f"split is never used for training; add {str(root / 'train' / 'CLASS')!r} "
            f"({LAYOUTS})"
        )
    if not roles["test"]:
        train = roles["train"][0]
        raise DatasetUnavailable(
            f"{str(root)!r} has {train.name}/ but no test/ (or val/, valid/) folder, and the "
            f"training images are never used for testing; add {str(root / 'test' / 'CLASS')!r}, "
            f"or use folder:{train}?split=0.2 to hold out 20% of each class of {train.name}/"
        )
    order = SPLIT_FOLDERS["test"]
    tests = sorted(roles["test"], key=lambda f: order.index(f.name.lower()))
    train_dir, test_dir = roles["train"][0], tests[0]
    splits = {"train": _class_files(train_dir), "test": _class_files(test_dir)}
    names = sorted(set(splits["train"]) | set(splits["test"]))
    index = {name: i for i, name in enumerate(names)}
    notes = []
    only_train = sorted(set(splits["train"]) - set(splits["test"]))
    only_test = sorted(set(splits["test"]) - set(splits["train"]))
    if only_train or only_test:
        parts = [f"only in {train_dir.name}/: {_some(only_train)}"] if only_train else []
        parts += [f"only in {test_dir.name}/: {_some(only_test)}"] if only_test else []
        notes.append(
            f"folder:{root} has different classes in its splits ({'; '.join(parts)}); labels "
            f"number all {len(names)} classes, the same in both splits"
        )
    unused = f" ({', '.join(f.name + '/' for f in tests[1:])} not used)" if tests[1:] else ""
    return FolderLayout(
        root,
        tuple(names),
        {split: _labelled(classes, index) for split, classes in splits.items()},
        {"train": repr(str(train_dir)), "test": repr(str(test_dir)) + unused},
        tuple(notes),
    )


def _channels(layout: FolderLayout, spec: str) -> tuple[int, str]:
    """1 if every image of both splits is grayscale, else 3, and a note when they mix."""
    files = [f for split in ("train", "test") for f, _ in layout.files[split]]
    gray = count_grayscale(files)
    if gray == len(files):
        return 1, ""
    note = ""
    if gray:
        note = (
            f"{spec} mixes grayscale and RGB images ({gray} gray, {len(files) - gray} "
            f"colour): all are read as RGB"
        )
    return 3, note


def _warn(notes: list[str]) -> None:
    for note in notes:  # issued from one place: each distinct note is shown once
        warnings.warn(note, UserWarning, stacklevel=1)


def folder_channels(path: str | Path) -> int:
    """1 if every image under ``path`` (at any depth) is grayscale, else 3; every file's
    header is read, not a sample."""
    files = image_files(Path(path).expanduser())
    return 1 if files and count_grayscale(files) == len(files) else 3


class ImageFolderTree(DatasetSource):
    """Images in CLASS folders: PATH/train with PATH/test (or val), or PATH?split=FRACTION.

    ``folder:PATH`` reads ``PATH/train/CLASS/IMAGE`` and ``PATH/test/CLASS/IMAGE``
    (``val/`` or ``valid/`` stand in for ``test/``). ``folder:PATH?split=0.2`` splits a
    flat ``PATH/CLASS/IMAGE`` tree: 20% of each class (stratified) is held out for the
    test split, chosen by a hash of each file's relative path and a seed (0, or
    ``&seed=N``), so every process and machine gets the same split. Missing splits, a root
    mixing class and split folders and empty class folders are errors; hidden files and
    folders and files of other types are skipped. Images are read as grayscale only if
    every image of both splits is; otherwise all are RGB (a warning says so when they mix).
    """

    name = "folder"
    argument_name = "PATH"

    def __init__(self, argument: str | None = None) -> None:
        super().__init__(argument)
        self.options = parse_folder_argument(str(argument))

    @property
    def root(self) -> Path:
        """The tree's folder."""
        return Path(self.options.path).expanduser()

    def layout(self) -> FolderLayout:
        """The tree's splits and classes (file names only; see :func:`folder_layout`)."""
        return folder_layout(self.options)

    def channels(self) -> int:
        """1 if every image in both splits is grayscale, else 3 (from the files' headers).

        Raises:
            DatasetUnavailable: the folder is missing or not a valid tree: a missing
                folder has no channels, and guessing 3 made callers that ask first say
                "has 3 channels" about a folder that does not exist.
        """
        layout = self.layout()
        channels, note = _channels(layout, self.spec)
        _warn([*layout.notes, note] if note else list(layout.notes))
        return channels

    def class_count(self) -> int:
        """The class folders of both splits (file names only)."""
        return len(self.layout().classes)

    def check(self, *, root: str, download: bool, image_size: int) -> None:
        self.layout()

    def load(self, split: str, *, root: str, download: bool, image_size: int) -> ImageSet:
        layout = self.layout()
        channels, note = _channels(layout, self.spec)
        notes = [*layout.notes, note] if note else list(layout.notes)
        _warn(notes)
        mode = "L" if channels == 1 else "RGB"
        files = layout.files[split]
        images = torch.stack([read_image(path, mode, image_size) for path, _ in files])
        labels = torch.tensor([label for _, label in files], dtype=torch.long)
        classes = ", ".join(layout.classes[:5]) + (", ..." if len(layout.classes) > 5 else "")
        description = (
            f"{self.spec} {split}: {len(files)} images of {len(layout.classes)} classes "
            f"({classes}) from {layout.sources[split]}; read as "
            f"{'grayscale' if channels == 1 else 'RGB'}"
        )
        description = "; ".join([description, *notes])
        return ImageSet(images, labels, self.spec, description=description)
