"""Typed dataclass configs, overrides and config files."""

from nca.config.dataclass_config import (
    ConfigError,
    FieldSpec,
    build_config,
    coerce,
    config_fields,
    config_to_dict,
    field_docs,
    type_name,
)
from nca.config.overrides import load_config_file, parse_override, route_overrides

__all__ = [
    "ConfigError",
    "FieldSpec",
    "build_config",
    "coerce",
    "config_fields",
    "config_to_dict",
    "field_docs",
    "load_config_file",
    "parse_override",
    "route_overrides",
    "type_name",
]
