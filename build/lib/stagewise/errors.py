"""Errors that name the file, line or config key at fault."""


class StagewiseError(Exception):
    """Base class for errors a user can fix by changing an input or the config."""


class InputFormatError(StagewiseError, ValueError):
    """A malformed or missing input file; the message names the file and, where known, the line."""

    def __init__(self, path, message, line=None):
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line


class ConfigError(StagewiseError, ValueError):
    """An invalid configuration; the message names the key."""


class EvaluationError(StagewiseError, ValueError):
    """Qrels and settings that cannot give a meaningful number (no judgments, a threshold above every grade)."""
