"""Errors that stop the app before it serves anything."""


class ConfigurationError(Exception):
    """The environment or the policy file is missing something or holds a wrong value.

    The message is written for the admin: it names the variable or policy key and says what to do.
    """
