"""The config boundary: validate a workflow configuration against the schema (``stagewise.schema``), fill defaults,
check what the schema cannot (references between sections, a teacher for D), name the key at fault; and what the
workflow reads from a validated config (corpora, test sets, thresholds). ``stagewise.settings`` turns its sections
into typed settings."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import ConfigError
from .grid import grid_cells, last_stage, with_teachers
from .schema import SCHEMA, _first_error, _validator, drop_default_length, load_schema


def validate_config(config: dict, schema_path=SCHEMA) -> dict:
    """Validate ``config`` in place, filling defaults; raise ConfigError naming the first bad key."""
    schema = load_schema(schema_path)
    training = (config.get("training") or {}) if isinstance(config, dict) else {}
    given = {kind: set(training.get(kind) or {}) if isinstance(training, dict) else set() for kind in ("C", "D")}
    _first_error(_validator(schema), config)
    for kind, keys in given.items():
        drop_default_length(config["training"][kind], keys)
    _check_references(config, given)
    return config


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """A YAML loader that rejects a key given twice in one mapping (PyYAML keeps the last one silently)."""


def _mapping_without_duplicates(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` merges; its keys may be overridden
            continue
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(
                f"{node.start_mark.name}:{key_node.start_mark.line + 1}: config key {key!r} is given "
                f"twice in one section (also on line {seen[key]}); YAML would keep the last silently"
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def check_config_files(paths):
    """Stop on a config file that gives a key twice in one mapping, naming the file, line and key, or that is not
    YAML, naming the file, line and column (before Snakemake reads it and says only that parsing failed)."""
    for path in paths:
        with open(path, encoding="utf-8") as f:
            try:
                yaml.load(f, Loader=_UniqueKeyLoader)
            except yaml.MarkedYAMLError as e:
                mark = e.problem_mark or e.context_mark
                where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
                raise ConfigError(
                    f"{where}: not valid YAML: {e.problem or e.context}"
                    + (f" ({e.context})" if e.context and e.problem else "")
                ) from None


def replaces_default(given: dict) -> bool:
    """Whether the config given on the command line (--configfile files merged, --config values) replaces the demo's
    default config (``standalone: true``) or merges over it (``false``, Snakemake's rule). A config that names its
    own corpus without saying which is an error: merged, it would silently inherit the demo's rankers, test sets and
    synthetic data."""
    if "standalone" in given:
        return bool(given["standalone"])
    if "corpus" in given:
        raise ConfigError(
            "the given config sets 'corpus' (its own data) but not 'standalone': add 'standalone: true' "
            "so that it replaces the demo's config/config.yaml, or 'standalone: false' to merge over it "
            "(then the demo's rankers, test sets and synthetic section stay unless you replace them)"
        )
    return False


def typed_command_line_values(values):
    """``--config`` values with the YAML types a config file would give them. Snakemake types a top-level value
    itself (int, float, bool, else string) but reads lists and mappings with YAML's base loader, which keeps every
    scalar a string: ``--config 'seeds=[1]'`` arrives as ``['1']``. Scalars inside lists and mappings are read
    again with the safe loader, so ``[1]`` is ``[1]`` (and ``[1e-5]`` stays a string, as in a file)."""

    def nested(value):
        if isinstance(value, dict):
            return {k: nested(v) for k, v in value.items()}
        if isinstance(value, list):
            return [nested(v) for v in value]
        return yaml.safe_load(value) if isinstance(value, str) and value else value

    return {k: nested(v) if isinstance(v, (dict, list)) else v for k, v in (values or {}).items()}


def looks_like_path(name: str) -> bool:
    """A local folder rather than a hub id (``org/name``): absolute, relative with ./ or ../, or deeper than one /."""
    return name.startswith(("/", "./", "../", "~")) or name.count("/") > 1


def negatives_run_path(config: dict) -> str:
    """The training run C's pools come from: training.C.negatives_run's file, or the negatives ranker's retrieval for
    the training queries (a workflow output)."""
    c = config["training"]["C"]
    return (
        c["negatives_run"]["path"]
        if c.get("negatives_run")
        else f"results/runs/first_stage/{c['negatives_ranker']}/train.run"
    )


def test_set_dataset(spec) -> str:
    """A test set's dataset: the entry itself, or its ``dataset`` key."""
    return spec["dataset"] if isinstance(spec, dict) else spec


#: the corpus key of the grid's own corpus (config key corpus); a test set with its own corpus gives its key
MAIN_CORPUS = "main"


def test_set_corpora(config: dict) -> dict[str, str]:
    """Test set -> the key of the corpus it searches: ``main`` for the grid's corpus, else the name of the first test
    set that names that corpus (test sets naming the same corpus share its indexes)."""
    keys, found = {}, {config["corpus"]: MAIN_CORPUS}
    for name, spec in config["test_sets"].items():
        corpus = spec.get("corpus", config["corpus"]) if isinstance(spec, dict) else config["corpus"]
        keys[name] = found.setdefault(corpus, name)
    return keys


def corpora(config: dict) -> dict[str, str]:
    """Corpus key -> its dataset spec: the grid's corpus, then each test set's own."""
    found = {MAIN_CORPUS: config["corpus"]}
    for name, key in test_set_corpora(config).items():
        if key not in found:
            found[key] = config["test_sets"][name]["corpus"]
    return found


def out_of_domain(config: dict) -> list[str]:
    """The test sets the tables count out-of-domain: their ``domain``, by default those with their own corpus."""
    own_corpus = {name: key != MAIN_CORPUS for name, key in test_set_corpora(config).items()}
    return [
        name
        for name, spec in config["test_sets"].items()
        if (spec if isinstance(spec, dict) else {}).get("domain", "out" if own_corpus[name] else "in") == "out"
    ]


def relevance_thresholds(config: dict) -> dict[str, int]:
    """Test set -> the lowest grade its binary metrics count as relevant."""
    default = config["evaluation"]["relevance_threshold"]
    return {
        name: spec.get("relevance_threshold", default) if isinstance(spec, dict) else default
        for name, spec in config["test_sets"].items()
    }


def first_stage_depth(config: dict) -> int | None:
    """Where first-stage runs are cut for evaluation: the re-ranking depth, or None (the whole run, as released)."""
    return config["rerank"]["depth"] if config["evaluation"]["first_stage_depth"] == "rerank" else None


def _check_stage_lengths(config: dict, given: dict[str, set]):
    """Each stage gives its length at most once: steps or epochs, not both (one would be ignored; given neither, the
    stage kind's default epochs apply); a stage-2 entry gives at most one of them (it replaces the stage's)."""
    for stage in ("C", "D"):
        if {"steps", "epochs"} <= given[stage]:
            raise ConfigError(
                f"config key 'training.{stage}': give 'steps' or 'epochs', not both (one would be ignored)"
            )
    for schedule, setting in config["training"].get("second_stage", {}).items():
        for i, override in enumerate(setting if isinstance(setting, list) else [setting]):
            if "steps" in override and "epochs" in override:
                where = f"training.second_stage.{schedule}" + (f".{i}" if isinstance(setting, list) else "")
                raise ConfigError(f"config key '{where}': give 'steps' or 'epochs', not both (one would be ignored)")


def _check_teacher(config: dict):
    """The keys of each teacher agree (a file that gives what ``labels`` says), and every D stage's loss is one its
    teacher can give (see ``stagewise.settings.check_teacher_loss``)."""
    from .settings import cell_training, teacher_sections, teacher_settings

    for name in teacher_sections(config):
        teacher_settings(config, name)
    has_d = any("D" in schedule.split("-") for schedule in config["schedules"])
    d_stages = with_teachers(config, "D") if has_d else []
    for cell in [*d_stages, *(c for c in grid_cells(config) if last_stage(c) == "D")]:
        cell_training(config, cell)


def _check_references(config: dict, given: dict[str, set]):
    c = config["training"]["C"]
    main_spec = config["test_sets"].get(MAIN_CORPUS)
    if isinstance(main_spec, dict) and main_spec.get("corpus", config["corpus"]) != config["corpus"]:
        raise ConfigError(
            f"config key 'test_sets.{MAIN_CORPUS}': a test set with its own corpus cannot be named "
            f"{MAIN_CORPUS!r} (the grid's corpus has that name in paths); rename the test set"
        )
    if "train" in config["test_sets"]:
        raise ConfigError(
            "config key 'test_sets.train': 'train' is the name of the training queries' runs; rename the test set"
        )
    if "negatives_run" in c and "negatives_ranker" in given["C"]:
        raise ConfigError("config key 'training.C': give 'negatives_run' or 'negatives_ranker', not both")
    for name, ranker in config["rankers"].items():
        _check_ranker(name, ranker, config)
    if not any(r.get("rerank", True) for r in config["rankers"].values()):
        raise ConfigError(
            "config key 'rankers': no ranker is re-ranked (every one has rerank: false), so no model "
            "would be evaluated; let at least one re-rank"
        )
    _check_stage_lengths(config, given)
    needs_train = {} if "negatives_run" in c else {c["negatives_ranker"]: "training.C.negatives_ranker"}
    if config.get("synthetic") is not None:
        needs_train.setdefault(config["synthetic"]["teacher_ranker"], "synthetic.teacher_ranker")
    for ranker, key in needs_train.items():
        if ranker not in config["rankers"]:
            raise ConfigError(f"config key {key!r}: {ranker!r} is not one of the rankers {sorted(config['rankers'])}")
        spec = config["rankers"][ranker]
        if spec["kind"] == "run" and "train" not in spec["runs"]:
            raise ConfigError(f"config key 'rankers.{ranker}.runs' needs a 'train' run: {key} names this ranker")
    if c["random_negatives"] > c["negatives"]:
        raise ConfigError("config key 'training.C.random_negatives' must not exceed 'training.C.negatives'")
    grid_cells(config)  # two entries of a sweep that make the same cell stop here
    if "teacher" in config and "teachers" in config:
        raise ConfigError(
            "config keys 'teacher' and 'teachers': give one teacher under 'teacher' or several under 'teachers', "
            "not both"
        )
    if any("D" in s for s in config["schedules"]) and "teacher" not in config and "teachers" not in config:
        raise ConfigError(
            "missing required config key 'teacher' (schedules with D need teacher rankings; or 'teachers' for several)"
        )
    if config.get("teacher") is not None or "teachers" in config:
        _check_teacher(config)
    for name, spec in config["rerankers"].items():
        if not spec.get("pretrained") and not spec.get("architecture"):
            raise ConfigError(f"config key 'rerankers.{name}': give either 'pretrained' or 'architecture'")
        pretrained = spec.get("pretrained")
        if pretrained and looks_like_path(pretrained) and not Path(pretrained).expanduser().is_dir():
            raise ConfigError(
                f"config key 'rerankers.{name}.pretrained': the folder {pretrained!r} does not exist "
                "(a hub id has the form org/name)"
            )
    _canonical_metrics(config)
    unknown = [m for m in config["report"]["metrics"] if m not in config["evaluation"]["metrics"]]
    if unknown:
        raise ConfigError(f"config key 'report.metrics': {unknown} are not in evaluation.metrics")
    reference = config.get("reference")
    if reference is not None and not (reference.get("cells") or reference.get("file")):
        raise ConfigError("config key 'reference': give 'cells', a 'file', or both")
    synthetic = config.get("synthetic")
    if synthetic is not None and "train" not in synthetic["splits"]:
        raise ConfigError("config key 'synthetic.splits' must include a 'train' split")


def _canonical_metrics(config: dict):
    """Metric names of evaluation.metrics and report.metrics in our spelling (ir_measures' accepted), in place; a
    (rel=N) must agree with every test set's threshold, since the evaluation counts relevance per test set."""
    from .evaluation.names import canonical_metric

    thresholds = relevance_thresholds(config)
    for section in ("evaluation", "report"):
        names = []
        for i, given in enumerate(config[section]["metrics"]):
            try:
                metric, rel = canonical_metric(given)
            except ValueError as e:
                raise ConfigError(f"config key '{section}.metrics.{i}': {e}") from None
            other = {t: v for t, v in thresholds.items() if rel is not None and v != rel}
            if other:
                raise ConfigError(
                    f"config key '{section}.metrics.{i}': {given} counts grades >= {rel} as relevant, "
                    f"but test set(s) {', '.join(sorted(other))} count grades >= "
                    f"{', '.join(str(v) for v in sorted(set(other.values())))}: set the thresholds in "
                    "test_sets or drop (rel=...)"
                )
            if metric in names:
                raise ConfigError(f"config key '{section}.metrics.{i}': {given} is {metric}, already listed")
            names.append(metric)
        config[section]["metrics"] = names
    margins = {}
    for given, margin in config["significance"]["equivalence_margins"].items():
        key = f"config key 'significance.equivalence_margins.{given}'"
        try:
            metric = canonical_metric(given)[0]
        except ValueError as e:
            raise ConfigError(f"{key}: {e}") from None
        if metric not in config["evaluation"]["metrics"]:
            raise ConfigError(
                f"{key}: {metric} is not in evaluation.metrics ({', '.join(config['evaluation']['metrics'])})"
            )
        if metric in margins:
            raise ConfigError(f"{key}: {given} is {metric}, which already has a margin")
        rel = canonical_metric(given)[1]
        other = {t: v for t, v in thresholds.items() if rel is not None and v != rel}
        if other:
            raise ConfigError(
                f"{key}: {given} counts grades >= {rel} as relevant, but test set(s) "
                f"{', '.join(sorted(other))} count grades >= "
                f"{', '.join(str(v) for v in sorted(set(other.values())))}"
            )
        margins[metric] = margin
    config["significance"]["equivalence_margins"] = margins
    for i, claim in enumerate(config.get("claims", [])):
        try:
            claim["metric"] = canonical_metric(claim["metric"])[0]
        except ValueError as e:
            raise ConfigError(f"config key 'claims.{i}.metric': {e}") from None


def _check_ranker(name: str, ranker: dict, config: dict):
    if ranker["kind"] == "colbert" and ("checkpoint" in ranker) == ("encoder" in ranker):
        raise ConfigError(f"config key 'rankers.{name}': give either 'checkpoint' or 'encoder'")
    if ranker["kind"] == "run":
        missing = [t for t in config["test_sets"] if t not in ranker["runs"]]
        if missing:
            raise ConfigError(f"config key 'rankers.{name}.runs' has no run for the test sets {missing}")
        unknown = [t for t in ranker["runs"] if t not in config["test_sets"] and t != "train"]
        if unknown:
            raise ConfigError(f"config key 'rankers.{name}.runs': {unknown} are neither test sets nor 'train'")
