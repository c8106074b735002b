"""The grid's cells: a schedule (C, D, C-D, D-C) with its teacher, when the config has two or more, and its stage-2
setting, named ``C-D_lr1e-08`` or ``C-D@rankgpt_lr1e-08``; what a cell's name says (its schedule, its teacher, its last
training stage, the cell of its stage-1 model) and the cells a config makes."""

from __future__ import annotations

from .errors import ConfigError

# Vocabulary: first stage = retrieval (never a training stage); stage 1 / stage 2 = the training stages of a
# two-stage schedule; schedule = C, D, C-D or D-C; cell = a schedule with its stage-2 settings (C-D_lr1e-08);
# model = reranker x cell x seed.

#: the schedules of the paper; a cell of the grid is one of them or a stage-2 setting of a two-stage one (C-D_lr1e-05)
SCHEDULES = ("C", "D", "C-D", "D-C")
#: between a schedule and the keys of its stage-2 setting in a cell's name
CELL_SEPARATOR = "_"
#: between a schedule and its teacher in a cell's name (D@rankgpt), when the config has two or more teachers
TEACHER_MARKER = "@"


def _head(cell: str) -> str:
    """The schedule with its teacher marker: C-D@rankgpt for C-D@rankgpt_lr1e-05."""
    return cell.split(CELL_SEPARATOR)[0]


def schedule_of(cell: str) -> str:
    """The schedule of a cell: C-D for C-D_lr1e-05 and for C-D@rankgpt_lr1e-05."""
    return _head(cell).split(TEACHER_MARKER)[0]


def teacher_of(cell: str) -> str | None:
    """The teacher a cell's name carries (rankgpt for D-C@rankgpt_lr1e-05); None for a cell without a marker (a C
    cell, or any cell of a config with one teacher)."""
    head = _head(cell)
    return head.split(TEACHER_MARKER, 1)[1] if TEACHER_MARKER in head else None


def without_teacher(cell: str) -> str:
    """The cell's name without its teacher marker: C-D_lr1e-05 for C-D@rankgpt_lr1e-05."""
    teacher = teacher_of(cell)
    return cell.replace(f"{TEACHER_MARKER}{teacher}", "", 1) if teacher else cell


def last_stage(cell: str) -> str:
    """The kind (C or D) of a cell's last training stage: C-D (and C-D_lr1e-05, C-D@rankgpt) trains D on top of C."""
    return schedule_of(cell).split("-")[-1]


def stage_one_schedule(cell: str) -> str | None:
    """The cell whose model a two-stage cell starts from: C for C-D_lr1e-05 and C-D@rankgpt, D for D-C_lr1e-05 and
    D@rankgpt for D-C@rankgpt (the D model of the same teacher); None for a one-stage cell."""
    schedule = schedule_of(cell)
    if "-" not in schedule:
        return None
    first = schedule.split("-")[0]
    teacher = teacher_of(cell)
    return f"{first}{TEACHER_MARKER}{teacher}" if first == "D" and teacher else first


def marked_teachers(config: dict) -> list[str]:
    """The teachers whose names mark cells: every one of ``teachers`` when it has two or more, else none (one
    teacher, in either form, leaves the names as they were)."""
    teachers = list(config["teachers"]) if "teachers" in config else []
    return teachers if len(teachers) > 1 else []


def with_teachers(config: dict, schedule: str) -> list[str]:
    """A schedule once per marked teacher (D@rankgpt, D@scores) when it has a D stage, else the schedule itself."""
    teachers = marked_teachers(config) if "D" in schedule.split("-") else []
    return [f"{schedule}{TEACHER_MARKER}{t}" for t in teachers] or [schedule]


def _value_label(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def cell_name(schedule: str, override: dict) -> str:
    """A stage-2 setting's cell: the schedule, then each key and value (sorted keys); {} is the schedule itself."""
    return CELL_SEPARATOR.join([schedule, *(f"{k}{_value_label(v)}" for k, v in sorted(override.items()))])


def stage_two_cells(config: dict, schedule: str) -> dict[str, dict]:
    """Cell name -> stage-2 override of a schedule: one cell for a one-stage schedule or a single setting, one per
    entry of a sweep (a list under ``training.second_stage.<schedule>``)."""
    setting = config["training"].get("second_stage", {}).get(schedule, {}) if "-" in schedule else {}
    if not isinstance(setting, list):
        return {schedule: setting}
    cells = {}
    for override in setting:
        name = cell_name(schedule, override)
        if name in cells:
            raise ConfigError(f"config key 'training.second_stage.{schedule}': two entries make the same cell {name!r}")
        cells[name] = override
    return cells


def grid_cells(config: dict) -> list[str]:
    """The grid's schedule axis: each configured schedule, once per teacher for a schedule with a D stage when the
    config has two or more (D@rankgpt, D@scores), a stage-2 sweep expanded into its cells (C-D@rankgpt_lr1e-08)."""
    return [
        _marked(cell, marked)
        for schedule in config["schedules"]
        for marked in with_teachers(config, schedule)
        for cell in stage_two_cells(config, schedule)
    ]


def _marked(cell: str, marked_schedule: str) -> str:
    """A cell of a schedule renamed with the schedule's teacher marker: C-D_lr1e-08 -> C-D@rankgpt_lr1e-08."""
    return marked_schedule + cell[len(schedule_of(marked_schedule)) :]


def model_cells(config: dict) -> list[str]:
    """Every cell a model may be trained for: C, D (once per marked teacher), and the grid's cells (the stage-1 models
    of two-stage cells are trained whether or not C and D are cells themselves)."""
    return list(dict.fromkeys(["C", *with_teachers(config, "D"), *grid_cells(config)]))
