"""The config schema (``schemas/config.schema.yaml``, the one place a default lives): loading it, validating a config
or a section of one against it with its defaults filled in, and error messages that name the key at fault."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

from .errors import ConfigError

#: shipped inside the package, so an installed wheel (or the workflow used as a Snakemake module) finds it
SCHEMA = Path(__file__).resolve().parent / "schemas" / "config.schema.yaml"


def _strict_integers(validator_class):
    """JSON Schema counts 1.0 as an integer; a seed of 1.0 would then become the path seed1.0. Only ints are."""
    checker = validator_class.TYPE_CHECKER.redefine(
        "integer", lambda _checker, instance: isinstance(instance, int) and not isinstance(instance, bool)
    )
    return jsonschema.validators.extend(validator_class, type_checker=checker)


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _message(error) -> str:
    if error.validator == "oneOf" and error.context:
        # a value that fits no branch (a mapping or a list of them): the fault within the branch it was meant for
        depth = len(error.absolute_path)
        meant = [e for e in error.context if e.validator != "type" or len(e.absolute_path) > depth]
        return _message(jsonschema.exceptions.best_match(meant or error.context))
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in allowed)
        keys = ", ".join(repr(_key(path + [k])) for k in unknown)
        return f"unknown config key {keys}; allowed here: {', '.join(sorted(allowed)) or 'none'}"
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return f"missing required config key {_key(path + [missing])!r}"
    return f"config key {_key(path)!r}: {error.message}"


def load_schema(path=SCHEMA) -> dict:
    with open(path, encoding="utf-8") as f:
        # libyaml's loader when present: the pure-Python one takes most of a second on the schema
        schema = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    # a second-stage override shares the stage keys but must not fill in their defaults: only given keys replace
    override = schema["definitions"]["stage_override"]
    override["properties"] = {
        k: {kk: vv for kk, vv in v.items() if kk != "default"} for k, v in override["properties"].items()
    }
    return schema


def _validator(schema):
    return _with_defaults(_strict_integers(jsonschema.Draft202012Validator))(schema)


def _first_error(validator, instance, prefix=()):
    errors = sorted(
        validator.iter_errors(instance), key=lambda e: (len(list(e.absolute_path)), list(map(str, e.absolute_path)))
    )
    if errors:
        errors[0].relative_path.extendleft(reversed(prefix))
        raise ConfigError(_message(errors[0]))


#: the words of a schema path that are no config keys
_SCHEMA_WORDS = {"properties", "definitions", "additionalProperties"}


def schema_node(path: str, schema: dict | None = None) -> dict:
    """A node of the schema by its dotted path in the schema file (``properties.training.properties.C``,
    ``definitions.bm25_ranker``, ``properties.rerankers.additionalProperties``)."""
    node = schema or load_schema()
    for key in path.split("."):
        node = node[key]
    return node


def fill_section(path: str, instance: dict, schema_path=SCHEMA) -> dict:
    """Validate one section of a config (``path``: its schema node, see ``schema_node``) in place, filling defaults;
    raise ConfigError naming the bad key (code given part of a section, the command line, tests and notebooks, gets
    the values a config file would)."""
    schema = load_schema(schema_path)
    keys = [k for k in path.split(".") if k not in _SCHEMA_WORDS]
    _first_error(_validator({**schema_node(path, schema), "definitions": schema["definitions"]}), instance, keys)
    return instance


def drop_default_length(section: dict, given) -> dict:
    """A training stage's section after its defaults were filled: a length given as ``steps`` (``given``: the keys
    the user gave) replaces the stage kind's default ``epochs``, which would otherwise be given too."""
    if "steps" in given and "epochs" not in given:
        section.pop("epochs", None)
    return section
