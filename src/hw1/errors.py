"""Errors that the pipeline reports as one clear line, without a traceback."""


class ReportError(Exception):
    """Base class: the message alone tells the user what is wrong and where."""


class DataError(ReportError):
    """Input data is missing, corrupt or laid out wrongly. The message names the file."""


class ConfigError(ReportError):
    """A profile, option or configuration value is invalid. The message names it."""
