"""The exceptions lorascope raises: one line that names the file, tensor or key and what is wrong."""

from __future__ import annotations


class LorascopeError(Exception):
    """Base of every error lorascope raises on purpose; the CLI prints it as one line, exit status 2."""


class InputError(LorascopeError):
    """A model, adapter, file or option is wrong: missing, corrupt, mismatched or out of range."""


class ResourceError(LorascopeError):
    """The work would not fit (memory, disk); the message names the option that helps."""


class JobError(LorascopeError):
    """A job kept failing on the executor after its retries; the message names the job and its last error."""
