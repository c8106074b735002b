"""Typed settings: frozen dataclasses built once from a validated config (``stagewise.config.validate_config``), so
that nothing below the config boundary knows a default. Each class's fields are its schema section's keys (a test
checks it); the schema, ``schemas/config.schema.yaml``, is the one place a default lives.

* ``ContrastiveSettings`` / ``DistillationSettings``: a training stage of kind C or D (``stage(kind, given)`` fills a
  section given in code, as the CLI, tests and notebooks do; ``cell_training(config, cell)`` gives a cell's last
  stage with its stage-2 setting applied, and what decides a rerun: ``TrainingSettings.determinants``).
* ``TeacherSettings``, ``RerankSettings``, ``EvaluationSettings``, ``SignificanceSettings``: their sections.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from typing import Any, ClassVar

from .errors import ConfigError
from .evaluation.names import canonical_metric
from .grid import CELL_SEPARATOR, last_stage, marked_teachers, schedule_of, stage_two_cells, teacher_of, without_teacher
from .schema import drop_default_length, fill_section, schema_node


def node_path(section: tuple[str, ...]) -> str:
    """The schema node of a config section given by its keys (``("training", "C")``), or of a definition
    (``("definitions", "bm25_ranker")``)."""
    if section[0] == "definitions":
        return ".".join(["definitions", section[1], *(f"properties.{k}" for k in section[2:])])
    return ".".join(f"properties.{k}" for k in section)


@cache
def schema_properties(section: tuple[str, ...]) -> dict:
    """The properties of a schema section (see ``node_path``)."""
    node = schema_node(node_path(section))
    if "$ref" in node:
        node = schema_node(node["$ref"].removeprefix("#/").replace("/", "."))
    return node["properties"]


def settings_from(cls, path: str, section: dict):
    """The dataclass ``cls`` (one field per key of the schema node at ``path``, see ``stagewise.schema.schema_node``)
    from ``section``, validated and with the schema's defaults filled; a key neither gives is None."""
    values = fill_section(path, dict(section))
    return cls(**{f.name: values.get(f.name) for f in fields(cls)})


def schema_default(section: tuple[str, ...], key: str):
    """The schema's default of one key (the CLI's defaults come from here)."""
    return schema_properties(section)[key]["default"]


def schema_choices(section: tuple[str, ...], key: str) -> list:
    """The values the schema allows for one key (its enum)."""
    return schema_properties(section)[key]["enum"]


class Settings:
    """A schema section as a frozen dataclass; subclasses name their ``SECTION``."""

    SECTION: ClassVar[tuple[str, ...]] = ()
    #: keys that change no result: where a file comes from, how often a checkpoint or a log line is written
    COSMETIC: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def from_section(cls, section: Mapping[str, Any]):
        """From a validated section (defaults filled); a key the schema does not give a default and the section
        leaves out is None."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - names)
        if unknown:
            raise ConfigError(f"config section {'.'.join(cls.SECTION)!r}: unknown keys {unknown}")
        return cls(**{name: section.get(name) for name in names})

    @classmethod
    def from_config(cls, config: dict):
        """From a validated config: its section."""
        section = config
        for key in cls.SECTION:
            section = section[key]
        return cls.from_section(section)

    @classmethod
    def of(cls, **given):
        """From the keys ``given``, the others from the schema (the CLI, tests, notebooks); stops on a bad key."""
        return cls.from_section(fill_section(node_path(cls.SECTION), given))

    def as_dict(self) -> dict:
        """The section as a mapping, without the keys that were left out (None where the schema has no null
        default): the form hparams.json, fingerprints and the train rule's params record."""
        properties = schema_properties(self.SECTION)
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) is not None or properties[f.name].get("default", 0) is None
        }

    def determinants(self) -> dict:
        """The settings that change a result: all but the cosmetic ones (nested mappings included)."""
        return _without(self.as_dict(), self.COSMETIC)


def _without(value, keys):
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    return value


@dataclass(frozen=True)
class StageSettings(Settings):
    """The keys every training stage has (the schema's definitions.stage_common)."""

    KIND: ClassVar[str] = ""
    COSMETIC: ClassVar[frozenset[str]] = frozenset({"checkpoint_every", "source", "data_workers", "log_every"})

    steps: int | None
    epochs: float | None
    loss: str
    temperature: float
    freeze_position_embeddings: bool
    validation_fraction: float
    validation_seed: int | None
    validation_split: str
    precision: str
    queries_per_batch: int
    accumulate_grad_batches: int
    lr: float
    weight_decay: float
    weight_decay_all: bool
    warmup_steps: int
    max_length: int
    chunk_size: int | None
    data_workers: int | str
    log_every: int | None
    gradient_clip_val: float
    checkpoint_every: int
    eval_every: int | None
    select_metric: str
    select: str

    #: the keys that say what is evaluated on the held-out queries and which weights are exported
    SELECTION: ClassVar[tuple[str, ...]] = ("eval_every", "select_metric", "select")

    def __post_init__(self):
        if self.select == "best" and not self.validation_fraction:
            raise ConfigError(
                f"training.{self.KIND}: select: best picks the weights by the held-out queries' {self.select_metric}; "
                "set validation_fraction > 0 to hold some out"
            )
        try:
            canonical_metric(self.select_metric)
        except ValueError as e:
            raise ConfigError(f"training.{self.KIND}.select_metric: {e}") from None

    @property
    def kind(self) -> str:
        return self.KIND

    @property
    def evaluation_interval(self) -> int:
        """Optimizer steps between evaluations of the held-out queries: eval_every, or checkpoint_every."""
        return self.eval_every or self.checkpoint_every

    def determinants(self) -> dict:
        """As ``Settings.determinants``; the selection keys count only when queries are held out (without, nothing is
        evaluated or selected), and eval_every as the interval it resolves to (checkpoint_every itself is cosmetic)."""
        found = super().determinants()
        for key in self.SELECTION:
            found.pop(key, None)
        if self.validation_fraction:
            found.update(eval_every=self.evaluation_interval, select_metric=self.select_metric, select=self.select)
        return found


@dataclass(frozen=True)
class ContrastiveSettings(StageSettings):
    """A C stage: LCE over one positive and hard negatives from a first-stage run (training.C)."""

    KIND: ClassVar[str] = "C"
    SECTION: ClassVar[tuple[str, ...]] = ("training", "C")

    negatives: int
    random_negatives: int
    negatives_ranker: str
    negatives_run: dict | None
    negatives_depth: int
    min_positive_grade: int
    positive_policy: str


@dataclass(frozen=True)
class DistillationSettings(StageSettings):
    """A D stage: distillation of the teacher's rankings (training.D)."""

    KIND: ClassVar[str] = "D"
    SECTION: ClassVar[tuple[str, ...]] = ("training", "D")

    group_size: int


STAGE_KINDS = {"C": ContrastiveSettings, "D": DistillationSettings}


def stage(kind: str, given: Mapping[str, Any] | None = None) -> StageSettings:
    """A stage of ``kind`` (C or D) from the keys ``given``, the others from the schema; stops on a bad key."""
    if kind not in STAGE_KINDS:
        raise ConfigError(f"stage kind {kind!r} is not one of {sorted(STAGE_KINDS)}")
    given = dict(given or {})
    section = drop_default_length(fill_section(node_path(("training", kind)), dict(given)), given)
    return STAGE_KINDS[kind].from_section(section)


#: losses that distil the teacher's score values, not only their order: a D stage with one needs teacher.labels: scores
SCORE_LOSSES = ("margin_mse", "kl")


@dataclass(frozen=True)
class TeacherSettings(Settings):
    """D's teacher (the config's teacher section): a ranking (RankGPT candidates + permutations, or a TREC run) or,
    with ``labels: scores``, the teacher's scores (a TREC run, or scored triples). Contradicting keys stop here with
    the key named."""

    SECTION: ClassVar[tuple[str, ...]] = ("teacher",)
    COSMETIC: ClassVar[frozenset[str]] = frozenset({"source"})

    labels: str
    candidates: str | None
    permutations: str | None
    run: str | None
    triples: str | None
    depth: int
    ranking_size: int | None
    malformed: str
    repeated: str
    md5: dict | None
    source: str | None

    def __post_init__(self):
        if self.triples and (self.run or self.candidates or self.permutations):
            raise ConfigError(
                "config key 'teacher.triples': give triples, a run, or candidates + permutations, one of them"
            )
        if not (self.run or self.triples or (self.candidates and self.permutations)):
            raise ConfigError(
                "config key 'teacher': give 'run', or both 'candidates' and 'permutations', or "
                "'triples' (with labels: scores)"
            )
        if self.labels == "scores" and not (self.run or self.triples):
            raise ConfigError(
                "config key 'teacher.labels': scores come from a run (teacher.run, whose scores are the "
                "teacher's) or from triples (teacher.triples); RankGPT's permutations give only ranks"
            )
        if self.labels == "ranks" and self.triples:
            raise ConfigError(
                "config key 'teacher.labels': teacher.triples gives the teacher's scores; set labels: scores"
            )

    def files(self) -> list[str]:
        return [path for path in (self.run, self.triples, self.candidates, self.permutations) if path]


#: the key of a ``teachers`` entry that is no TeacherSettings field: the loss of D stages distilled from that teacher
TEACHER_LOSS = "loss"


def teacher_sections(config: dict) -> dict[str, dict]:
    """Teacher name -> its section: the ``teachers`` mapping, or the one ``teacher`` section (named teacher); empty
    without a teacher."""
    if "teachers" in config:
        return dict(config["teachers"])
    return {"teacher": config["teacher"]} if config.get("teacher") is not None else {}


def teacher_key(config: dict, name: str) -> str:
    """The config key of a teacher: ``teacher`` for the single section, ``teachers.<name>`` for an entry."""
    return f"teachers.{name}" if "teachers" in config else "teacher"


def teacher_settings(config: dict, name: str) -> TeacherSettings:
    """A teacher's settings (its ``loss``, a key of ``teachers`` entries only, left out); an error names the entry's
    keys (``teachers.<name>.labels``)."""
    section = {k: v for k, v in teacher_sections(config)[name].items() if k != TEACHER_LOSS}
    key = teacher_key(config, name)
    try:
        return TeacherSettings.from_section(section)
    except ConfigError as e:
        if key == "teacher":
            raise
        message = str(e).replace("'teacher'", f"'{key}'").replace("teacher.", f"{key}.")
        raise ConfigError(message) from None


def cell_teacher(config: dict, cell: str) -> str:
    """The name of the teacher a cell with a D stage distils: the one its name carries, or the config's only one."""
    names = list(teacher_sections(config))
    marked = teacher_of(cell)
    if marked is None and len(names) == 1:
        return names[0]
    if marked is not None and marked in marked_teachers(config):
        return marked
    if not names:
        raise ConfigError(f"cell {cell!r} has a D stage, but the config has no teacher (teacher or teachers)")
    raise ConfigError(
        f"{cell!r} is not a cell of this config: with the teachers {names}, a cell with a D stage names one of them "
        "after its schedule (D@name, C-D@name_lr1e-08); with one teacher, none"
    )


def check_teacher_loss(loss: str, teacher: TeacherSettings, key: str = "training.D.loss"):
    """Stop when a D stage's ``loss`` distils score values (``SCORE_LOSSES``) from a teacher that gives ranks: the
    labels 21 - rank have no score scale, so their margins and softmax are made up (``key``: the config key that set
    the loss)."""
    if loss in SCORE_LOSSES and teacher.labels != "scores":
        raise ConfigError(
            f"config key {key!r}: {loss} distils the teacher's scores, but teacher.labels is "
            f"{teacher.labels!r} (labels from ranks carry no score scale); use ranknet or listnet, or a "
            "teacher that gives scores (teacher.labels: scores with teacher.run or teacher.triples)"
        )


@dataclass(frozen=True)
class TrainingSettings:
    """The last stage of a cell, with the teacher for a D stage."""

    stage: StageSettings
    teacher: TeacherSettings | None

    @property
    def determinants(self) -> dict:
        """What a model's weights depend on in the config, so that only their change retrains it (the train rule's
        params): the stage's settings with the cell's stage-2 setting, and the teacher for a D stage only, without
        cosmetic keys (a changed teacher does not retrain C; a changed checkpoint_every or source retrains
        nothing)."""
        teacher = self.teacher.determinants() if self.teacher is not None else None
        # keys sorted: the rerun trigger compares the params' repr, which a reordered schema must not change
        return json.loads(json.dumps({"hparams": self.stage.determinants(), "teacher": teacher}, sort_keys=True))


def cell_stage(config: dict, cell: str) -> StageSettings:
    """A cell's last stage: its stage kind's section, with its teacher's ``loss`` (a D stage distilled from a
    ``teachers`` entry that gives one), then the cell's ``training.second_stage`` setting replacing keys for a
    two-stage schedule (a given ``steps`` or ``epochs`` replaces the section's length)."""
    kind = last_stage(cell)
    settings = dict(config["training"][kind])
    if kind == "D" and teacher_sections(config):
        teacher_loss = teacher_sections(config)[cell_teacher(config, cell)].get(TEACHER_LOSS)
        if teacher_loss is not None:
            settings[TEACHER_LOSS] = teacher_loss
    override = stage_two_cells(config, schedule_of(cell)).get(without_teacher(cell))
    if override is None:
        raise ConfigError(
            f"{cell!r} is not a cell of this config (its schedule and stage-2 setting, joined by {CELL_SEPARATOR!r})"
        )
    if "steps" in override:
        settings["epochs"] = None
    if "epochs" in override:
        settings["steps"] = None
    settings.update(override)
    return STAGE_KINDS[kind].from_section(settings)


def cell_training(config: dict, cell: str) -> TrainingSettings:
    """A cell's last stage with the teacher for a D stage (the one its name carries, or the config's only one; its
    ``loss`` applied); stops on a loss the teacher cannot give (see ``check_teacher_loss``)."""
    if teacher_of(cell) is not None:
        if "D" not in schedule_of(cell).split("-"):
            raise ConfigError(f"{cell!r} is not a cell of this config: only a schedule with a D stage has a teacher")
        cell_teacher(config, cell)  # a teacher of this config
    stage_settings = cell_stage(config, cell)
    if last_stage(cell) != "D" or not teacher_sections(config):
        return TrainingSettings(stage_settings, None)
    name = cell_teacher(config, cell)
    teacher = teacher_settings(config, name)
    override = stage_two_cells(config, schedule_of(cell))[without_teacher(cell)]
    if TEACHER_LOSS in override:
        key = f"training.second_stage.{schedule_of(cell)} ({cell})"
    elif teacher_sections(config)[name].get(TEACHER_LOSS) is not None:
        key = f"{teacher_key(config, name)}.loss"
    else:
        key = "training.D.loss"
    check_teacher_loss(stage_settings.loss, teacher, key)
    return TrainingSettings(stage_settings, teacher)


@dataclass(frozen=True)
class RerankSettings(Settings):
    SECTION: ClassVar[tuple[str, ...]] = ("rerank",)

    depth: int
    batch_size: int
    max_length: int
    head_precision: str


@dataclass(frozen=True)
class EvaluationSettings(Settings):
    SECTION: ClassVar[tuple[str, ...]] = ("evaluation",)

    metrics: list[str]
    relevance_threshold: int
    first_stage_depth: str
    compare_checkpoints: bool


@dataclass(frozen=True)
class SignificanceSettings(Settings):
    SECTION: ClassVar[tuple[str, ...]] = ("significance",)

    test: str
    correction: str
    alpha: float
    permutations: int
    seed: int
    equivalence_margins: dict
    power: float
    confidence: float
