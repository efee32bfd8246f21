"""The library's user-facing error: every layer may raise it, so it imports nothing."""


class ConfigError(ValueError):
    """A bad configuration: the message names the problem and the fix."""
