"""The grid's cells: a schedule (C, D, C-D, D-C) with its stage-2 setting, named ``C-D_lr1e-08``; what a cell's
name says (its schedule, its last training stage, the schedule of its stage-1 model) and the cells a config makes."""

from __future__ import annotations

from .errors import ConfigError

# Vocabulary: first stage = retrieval (never a training stage); stage 1 / stage 2 = the training stages of a
# two-stage schedule; schedule = C, D, C-D or D-C; cell = a schedule with its stage-2 settings (C-D_lr1e-08);
# model = reranker x cell x seed.

#: the schedules of the paper; a cell of the grid is one of them or a stage-2 setting of a two-stage one (C-D_lr1e-05)
SCHEDULES = ("C", "D", "C-D", "D-C")
#: between a schedule and the keys of its stage-2 setting in a cell's name
CELL_SEPARATOR = "_"


def schedule_of(cell: str) -> str:
    """The schedule of a cell: C-D for C-D_lr1e-05."""
    return cell.split(CELL_SEPARATOR)[0]


def last_stage(cell: str) -> str:
    """The kind (C or D) of a cell's last training stage: C-D (and C-D_lr1e-05) trains D on top of C."""
    return schedule_of(cell).split("-")[-1]


def stage_one_schedule(cell: str) -> str | None:
    """The schedule whose model a two-stage cell starts from (C for C-D_lr1e-05); None for a one-stage one."""
    schedule = schedule_of(cell)
    return schedule.split("-")[0] if "-" in schedule else None


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
    """The grid's schedule axis: each configured schedule, a stage-2 sweep expanded into its cells."""
    return [cell for schedule in config["schedules"] for cell in stage_two_cells(config, schedule)]
