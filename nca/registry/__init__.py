"""Generic entry-point plugin registry used for rules and tasks."""

from nca.registry.plugins import (
    PluginConflictError,
    PluginEntry,
    PluginError,
    PluginLoadError,
    PluginRegistry,
    PluginTypeError,
    UnknownPluginError,
)

__all__ = [
    "PluginConflictError",
    "PluginEntry",
    "PluginError",
    "PluginLoadError",
    "PluginRegistry",
    "PluginTypeError",
    "UnknownPluginError",
]
