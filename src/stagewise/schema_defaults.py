"""Settings objects from config sections, the schema's defaults filling what a section leaves out.

A validated config already holds every default (``stagewise.config.validate_config`` fills them in); code given part of
a section (a test, a benchmark, the command line) gets the same values here, so the schema stays the one place a
default lives.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import fields

from .errors import ConfigError


@functools.lru_cache(maxsize=1)
def _schema() -> dict:
    from .config import load_schema

    return load_schema()


def schema_node(path: str) -> dict:
    """The schema of a config section by its dotted place in the schema file (``definitions.bm25_ranker``)."""
    node = _schema()
    for key in path.split("."):
        node = node[key]
    return node


def with_defaults(node: dict, section: dict) -> dict:
    """``section`` over the defaults of the schema ``node``, a nested object's alike. A key the schema does not
    name is an error, as in validation."""
    properties = node["properties"]
    unknown = sorted(set(section) - set(properties))
    if unknown:
        raise ConfigError(f"unknown config keys {unknown}; allowed here: {', '.join(sorted(properties))}")
    filled = {name: copy.deepcopy(sub["default"]) for name, sub in properties.items() if "default" in sub}
    filled.update(section)
    for name, sub in properties.items():
        if "properties" in sub and isinstance(filled.get(name), dict):
            filled[name] = with_defaults(sub, filled[name])
    return filled


def settings_from(cls, path: str, section: dict):
    """The dataclass ``cls`` (one field per key of the section at ``path``) from ``section``: a key neither the section
    nor the schema gives is None."""
    values = with_defaults(schema_node(path), section)
    return cls(**{f.name: values.get(f.name) for f in fields(cls)})
