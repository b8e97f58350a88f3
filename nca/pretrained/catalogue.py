"""The shipped models by name: list them, look one up, and get its weights file, checked.

Names are resolved wherever a run directory or checkpoint is accepted
(:func:`nca.checkpoint.find_checkpoint`): an existing path always wins, then a name of
the manifest. Outputs of commands run on a shipped model (reports, analyses, exports) go
to ``runs/pretrained/NAME`` in the working directory (:func:`output_dir`), never into
the installed package.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from nca.checkpoint import CheckpointCorrupted
from nca.errors import NCAError
from nca.pretrained.manifest import PretrainedModel, read_manifest

#: The manifest shipped with the package.
MANIFEST_FILE = Path(__file__).resolve().parent / "manifest.json"
#: The folder of the weights files, next to the manifest.
WEIGHTS_FOLDER = "weights"
#: Where commands write what they make from a shipped model, relative to the working
#: directory: ``runs/pretrained/NAME``.
OUTPUT_ROOT = Path("runs") / "pretrained"


class UnknownPretrainedModel(NCAError, ValueError):
    """No shipped model has that name."""


class PretrainedCorrupted(CheckpointCorrupted):
    """A shipped weights file differs from the checksum or size its manifest records."""


def _manifest(manifest: str | Path | None) -> Path:
    return Path(manifest) if manifest is not None else MANIFEST_FILE


def list_pretrained(manifest: str | Path | None = None) -> list[PretrainedModel]:
    """The shipped models, sorted by name.

    Args:
        manifest: Another manifest file (default: the package's).
    """
    return sorted(read_manifest(_manifest(manifest)), key=lambda m: m.name)


def pretrained_names(manifest: str | Path | None = None) -> list[str]:
    """The names of the shipped models, sorted."""
    return [m.name for m in list_pretrained(manifest)]


def known_names_line(manifest: str | Path | None = None) -> str:
    """``pretrained models: a, b, c`` (``none`` when the manifest lists none)."""
    return f"pretrained models: {', '.join(pretrained_names(manifest)) or 'none'}"


def get_pretrained(name: str, manifest: str | Path | None = None) -> PretrainedModel:
    """The manifest entry of ``name``.

    Raises:
        UnknownPretrainedModel: no model has that name (one line listing the known ones).
    """
    for model in list_pretrained(manifest):
        if model.name == name:
            return model
    raise UnknownPretrainedModel(
        f"no pretrained model named {name!r}; {known_names_line(manifest)}"
    )


def weights_file(model: PretrainedModel, manifest: str | Path | None = None) -> Path:
    """Where ``model``'s weights file lies (not checked; see :func:`pretrained_path`)."""
    return _manifest(manifest).parent / WEIGHTS_FOLDER / model.file


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pretrained_path(name: str, manifest: str | Path | None = None) -> Path:
    """The weights file of the shipped model ``name``, after checking its size and sha256
    against the manifest.

    Raises:
        UnknownPretrainedModel: no model has that name.
        FileNotFoundError: the manifest lists a file the package does not hold.
        PretrainedCorrupted: the file's size or checksum differs from the manifest's.
    """
    model = get_pretrained(name, manifest)
    path = weights_file(model, manifest)
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained model {name!r}: its weights {path} are missing from the package; "
            f"reinstall the toolkit"
        )
    size = path.stat().st_size
    found = file_sha256(path) if size == model.size_bytes else None
    if found != model.sha256:
        what = (
            f"sha256 {found[:12]}..., the manifest records {model.sha256[:12]}..."
            if found is not None
            else f"{size} bytes, the manifest records {model.size_bytes}"
        )
        raise PretrainedCorrupted(
            f"pretrained model {name!r} is damaged: {path} has {what} (a changed bit on "
            f"disk, an edited or replaced file); reinstall the toolkit, or regenerate the "
            f"entry with scripts/make_pretrained.py"
        )
    return path


def is_pretrained_name(text: str, manifest: str | Path | None = None) -> bool:
    """Whether ``text`` is the name of a shipped model."""
    return text in pretrained_names(manifest)


def looks_like_a_name(text: str) -> bool:
    """Whether ``text`` reads as a bare name (no folder, no file suffix), as a pretrained
    model is named, rather than as a path."""
    path = Path(text)
    return bool(text) and len(path.parts) == 1 and not path.suffix and not path.is_absolute()


def missing_source(source: str | Path, manifest: str | Path | None = None) -> str:
    """The one line for a run source that is neither a path that exists nor a shipped
    model's name: a bare name lists the shipped models; a path says it is none of them."""
    text = str(source)
    if looks_like_a_name(text):
        return (
            f"no run directory, checkpoint or pretrained model named {text!r}; "
            f"{known_names_line(manifest)}"
        )
    return f"{text!r} is neither a checkpoint file nor a run directory"


def shipped_name(path: str | Path, manifest: str | Path | None = None) -> str | None:
    """The name of the shipped model whose weights file ``path`` is, else ``None``."""
    path = Path(path)
    folder = (_manifest(manifest).parent / WEIGHTS_FOLDER).resolve()
    try:
        if path.resolve().parent != folder:
            return None
    except OSError:
        return None
    for model in list_pretrained(manifest):
        if model.file == path.name:
            return model.name
    return None


def output_dir(name: str) -> Path:
    """Where commands write what they make from the shipped model ``name``:
    ``runs/pretrained/NAME`` in the working directory (the package may be read-only)."""
    return OUTPUT_ROOT / name
