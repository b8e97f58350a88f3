"""Entry-point plugin registry (in the spirit of timm's registry and
nerfstudio's / mkdocs' plugin discovery).

* Discovery reads an entry-point group (``nca.rules``, ``nca.tasks``) into a
  lazy ``{name: entry}`` map; nothing is imported until a plugin is asked for.
* Built-ins are registered through the same groups, in our own pyproject.
* A loaded object is type-checked; a name provided twice is an error naming
  both providers; an unknown name is an error listing the known names and the
  closest match.
* :meth:`PluginRegistry.register` adds plugins programmatically (notebooks,
  tests) under the same rules.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib.metadata as metadata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class PluginError(Exception):
    """Base class of registry errors."""


class UnknownPluginError(PluginError, LookupError):
    """No plugin of that name is installed."""


class PluginConflictError(PluginError):
    """Two providers register the same name."""


class PluginLoadError(PluginError):
    """A plugin's entry point failed to import."""


class PluginTypeError(PluginError, TypeError):
    """A plugin's entry point loaded something of the wrong type."""


@dataclass
class PluginEntry:
    """One registered plugin; ``load()`` imports it on first use.

    Attributes:
        name: Registered name.
        provider: Distribution (``"name version"``) or module that provides it.
        target: ``"module:attr"`` of the entry point, or the object's qualified name.
    """

    name: str
    provider: str
    target: str
    _entry_point: metadata.EntryPoint | None = field(default=None, repr=False)
    _loaded: Any = field(default=None, repr=False)


def _provider_of(entry_point: metadata.EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return "unknown distribution"
    return f"{dist.metadata['Name']} {dist.version}"


class PluginRegistry(Generic[T]):
    """Plugins of one kind, discovered from an entry-point group.

    Args:
        group: Entry-point group, e.g. ``"nca.rules"``.
        kind: Human name of the kind, e.g. ``"rule"``, used in messages.
        check: Validates a loaded object; raises :class:`TypeError` (its
            message is shown) if it is not a valid plugin of this kind.
        entry_points: Source of entry points, for tests; defaults to
            ``importlib.metadata.entry_points(group=group)``.
    """

    def __init__(
        self,
        group: str,
        kind: str,
        check: Callable[[Any], None],
        entry_points: Callable[[], Iterable[metadata.EntryPoint]] | None = None,
    ) -> None:
        self.group = group
        self.kind = kind
        self._check = check
        self._entry_points = entry_points or (lambda: metadata.entry_points(group=group))
        self._discovered: dict[str, PluginEntry] | None = None
        self._registered: dict[str, PluginEntry] = {}

    # ------------------------------------------------------------ discovery
    def _discover(self) -> dict[str, PluginEntry]:
        if self._discovered is None:
            found: dict[str, PluginEntry] = {}
            for ep in self._entry_points():
                entry = PluginEntry(ep.name, _provider_of(ep), ep.value, _entry_point=ep)
                if ep.name in found and found[ep.name].target != ep.value:
                    raise self._conflict(found[ep.name], entry)
                found.setdefault(ep.name, entry)
            self._discovered = found
        return self._discovered

    def _conflict(self, first: PluginEntry, second: PluginEntry) -> PluginConflictError:
        return PluginConflictError(
            f"{self.kind} name {first.name!r} is provided twice: by {first.provider} "
            f"({first.target}) and by {second.provider} ({second.target}). "
            f"Uninstall one of them or rename one {self.kind}."
        )

    def _entries(self) -> dict[str, PluginEntry]:
        entries = dict(self._discover())
        for name, entry in self._registered.items():
            if name in entries:
                raise self._conflict(entries[name], entry)
            entries[name] = entry
        return entries

    def refresh(self) -> None:
        """Forget discovered entry points (e.g. after installing a package)."""
        self._discovered = None

    # ---------------------------------------------------------- registration
    def register(self, obj: T | None = None, *, name: str | None = None) -> Any:
        """Register ``obj`` programmatically; usable as ``@registry.register``.

        The name defaults to ``obj.name``. A name already provided by an entry
        point or an earlier registration is a :class:`PluginConflictError`.
        """

        def add(target: T) -> T:
            self._check(target)
            plugin_name = name or getattr(target, "name", None)
            if not plugin_name:
                raise PluginTypeError(f"{target!r} has no `name`; pass register(name=...)")
            qualname = f"{target.__module__}:{getattr(target, '__qualname__', target)}"
            entry = PluginEntry(
                plugin_name, f"module {target.__module__}", qualname, _loaded=target
            )
            existing = self._entries().get(plugin_name)
            if existing is not None and existing._loaded is not target:
                raise self._conflict(existing, entry)
            self._registered[plugin_name] = entry
            return target

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> None:
        """Remove a programmatic registration (entry points cannot be removed)."""
        self._registered.pop(name, None)

    # --------------------------------------------------------------- lookup
    def names(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching a glob ``pattern``; imports nothing."""
        return sorted(n for n in self._entries() if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries()

    def entry(self, name: str) -> PluginEntry:
        """The entry for ``name`` (not loaded)."""
        entries = self._entries()
        if name not in entries:
            raise self.unknown(name)
        return entries[name]

    def unknown(self, name: str) -> UnknownPluginError:
        known = sorted(self._entries())
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listing = (
            f"Installed {self.kind}s: {', '.join(known)}."
            if known
            else f"No {self.kind}s are installed."
        )
        return UnknownPluginError(
            f"{self.kind} {name!r} is not installed.{hint} {listing} "
            f"({self.kind.capitalize()}s are discovered from the {self.group!r} "
            f"entry-point group; install a package that provides {name!r}.)"
        )

    def load(self, name: str) -> T:
        """Import (once) and type-check the plugin called ``name``."""
        entry = self.entry(name)
        if entry._loaded is None:
            assert entry._entry_point is not None
            try:
                obj = entry._entry_point.load()
            except Exception as err:
                raise PluginLoadError(
                    f"{self.kind} {name!r} from {entry.provider} failed to load "
                    f"({entry.target}): {type(err).__name__}: {err}"
                ) from err
            try:
                self._check(obj)
            except TypeError as err:
                raise PluginTypeError(
                    f"{self.kind} {name!r} from {entry.provider} ({entry.target}) is invalid: {err}"
                ) from err
            entry._loaded = obj
        return entry._loaded
