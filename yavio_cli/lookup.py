"""Finding the one item a user meant in a listed collection, by what they typed: an id, a slug,
an email, or the start of a key or token (lists only ever show `yav_0a1b2c3d…`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from yavio_cli.terminal import fail

Item = dict[str, Any]


def find(items: Sequence[Item], typed: str, *, fields: Sequence[str], noun: str, listing: str,
         prefix_field: str | None = None,
         prefer: Callable[[Item], bool] | None = None) -> Item:
    """The item whose `fields` equal `typed` (case-insensitive), else, with `prefix_field`, whose
    prefix and `typed` start alike, in either direction: a shortened prefix or the whole secret
    both name it. Several matches are narrowed by `prefer` (e.g. not revoked); ends the command
    with one line when none or several remain. `listing` is the command that shows the choices.
    """
    wanted = typed.strip().rstrip("…").rstrip(".").lower()
    matches = [item for item in items
               if any(str(item.get(name) or "").lower() == wanted for name in fields)]
    if not matches and prefix_field and wanted:
        matches = [item for item in items if _prefixes_agree(str(item.get(prefix_field) or ""),
                                                             wanted)]
    if len(matches) > 1 and prefer:
        matches = [item for item in matches if prefer(item)] or matches
    if not matches:
        raise fail(f'No {noun} "{typed}"; see `{listing}`.')
    if len(matches) > 1:
        raise fail(f'"{typed}" matches {len(matches)} {noun}s; give its id (see `{listing}`).')
    return matches[0]


def _prefixes_agree(prefix: str, wanted: str) -> bool:
    prefix = prefix.lower()
    return bool(prefix) and (prefix.startswith(wanted) or wanted.startswith(prefix))
