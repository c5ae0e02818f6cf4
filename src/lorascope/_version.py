"""The installed lorascope version, read once from the package metadata (pyproject.toml is the one source).

Every module that records a version imports it from here, not from the package root, so no module imports
`lorascope` (and everything its __init__ pulls in) just to learn the version.
"""

from __future__ import annotations

from importlib.metadata import version

__version__ = version("lorascope")
