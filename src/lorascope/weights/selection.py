"""The user's include/exclude regular expressions, and the default choice of matrices when none is given."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lorascope.errors import InputError
from lorascope.weights.names import is_embedding, is_head, is_matrix
from lorascope.weights.store import TensorStore


def _compile(patterns: Sequence[str], option: str) -> tuple[re.Pattern[str], ...]:
    if isinstance(patterns, str):
        patterns = [patterns]
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as err:
            raise InputError(f"{option} {pattern!r}: not a valid regular expression ({err})") from err
    return tuple(compiled)


@dataclass(frozen=True)
class Selection:
    """Which BASE tensor names are analysed.

    Without include: every linear-layer weight, less embedding tables and output heads (for an adapter: every
    matrix it changes, embeddings included, heads not). With include: exactly the matrices whose name an
    include pattern finds (re.search), heads and embeddings too. Exclude patterns then remove names.
    """

    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def build(cls, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> Selection:
        """Compile the patterns; a malformed one is an InputError naming it."""
        return cls(_compile(include, "--include"), _compile(exclude, "--exclude"))

    def skip_reason(self, name: str, *, adapted: bool = False) -> str | None:
        """Why `name` is left out, or None when it is analysed; `adapted` applies the adapter defaults."""
        for pattern in self.exclude:
            if pattern.search(name):
                return f"excluded by --exclude {pattern.pattern!r}"
        if self.include:
            if any(p.search(name) for p in self.include):
                return None
            return "not matched by --include"
        if is_head(name):
            return "output/task head: not analysed by default (select it with --include)"
        if is_embedding(name) and not adapted:
            return "embedding table: not analysed by default (select it with --include)"
        return None

    def check_against(self, store: TensorStore, role: str) -> None:
        """Each include pattern must find a matrix; one that finds only other tensors is an InputError."""
        for pattern in self.include:
            hits = [name for name in store if pattern.search(name)]
            if not hits:
                raise InputError(f"--include {pattern.pattern!r} matches no tensor in {role} {store.root}")
            if not any(is_matrix(store.info(name)) for name in hits):
                shown = ", ".join(f"{n} {store.shape(n)}" for n in hits[:4])
                more = f" and {len(hits) - 4} more" if len(hits) > 4 else ""
                raise InputError(
                    f"--include {pattern.pattern!r} matches only tensors that are not 2-D weight matrices: "
                    f"{shown}{more}"
                )
