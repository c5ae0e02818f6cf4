"""Match tensor names across a backbone and a task model that wraps it (`bert.encoder…` vs `encoder…`)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class PrefixMap:
    """Rewrite a TUNED name to BASE naming: an exact name is kept, else `strip` is replaced by `add`."""

    strip: str = ""
    add: str = ""

    def __call__(self, name: str, base_names: Collection[str]) -> str | None:
        """The BASE name for `name`, or None when BASE has no such tensor."""
        if name in base_names:
            return name
        if (self.strip or self.add) and name.startswith(self.strip):
            candidate = self.add + name[len(self.strip) :]
            if candidate in base_names:
                return candidate
        return None

    def guess(self, name: str) -> str:
        """`name` in BASE naming even when BASE lacks it (for reports)."""
        if (self.strip or self.add) and name.startswith(self.strip):
            return self.add + name[len(self.strip) :]
        return name

    def describe(self) -> str:
        """How names were rewritten, for the plan's notes."""
        return f"TUNED names '{self.strip}…' were matched to BASE names '{self.add}…'"


def _prefixes(names: Iterable[str]) -> set[str]:
    """Dotted prefixes of one or two leading components that are not layer indices."""
    found = {""}
    for name in names:
        parts = name.split(".")
        for depth in (1, 2):
            if len(parts) > depth and not any(p.isdigit() for p in parts[:depth]):
                found.add(".".join(parts[:depth]) + ".")
    return found


def find_prefix_map(base_names: Collection[str], tuned_names: Collection[str]) -> PrefixMap:
    """The prefix rewrite under which the most TUNED names find a BASE name (none, when names agree)."""
    unmatched = [n for n in tuned_names if n not in base_names]
    if not unmatched:
        return PrefixMap()
    best, best_count = PrefixMap(), 0
    strips = sorted(_prefixes(unmatched), key=len)
    adds = sorted(_prefixes(base_names), key=len)
    for strip in strips:
        # keep at least `module.param`: stripping a whole module name (`score.` of `score.weight`) would pair a
        # task head with an unrelated BASE tensor such as `model.norm.weight`
        rest = [n[len(strip) :] for n in unmatched if n.startswith(strip) and "." in n[len(strip) :]]
        if not rest:
            continue
        for add in adds:
            if not strip and not add:
                continue
            count = sum(1 for n in rest if add + n in base_names)
            if count > best_count:
                best, best_count = PrefixMap(strip, add), count
    return best
