"""Errors the suite reports to users as one line: the thing, the value, the fix."""


class SuiteError(Exception):
    """An error whose message is complete as it stands; the CLI prints it without a traceback."""


class ConfigError(SuiteError):
    """A registry file, a name or an override is wrong; raised before anything runs."""


class DatabaseError(SuiteError):
    """The MongoDB server cannot be reached or started."""
