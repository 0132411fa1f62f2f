"""Attribute selection (RFC 7644 §3.4.2.5, §3.9): ``attributes`` and ``excludedAttributes``
applied to a rendered resource; ``id``, ``schemas`` and ``meta`` are always returned."""

from __future__ import annotations

from typing import Any


def names(raw: str | list[str] | None) -> list[str]:
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else raw.split(",")
    return [i.strip() for i in items if isinstance(i, str) and i.strip()]


def _split(name: str, core: str, urns: tuple[str, ...]) -> tuple[str, str, str | None]:
    """(container key: core or an extension URN, attribute, sub-attribute) of a name."""
    lower = name.lower()
    for urn in sorted(urns, key=len, reverse=True):
        if lower == urn.lower():
            return urn, "", None
        if lower.startswith(urn.lower() + ":"):
            name = name[len(urn) + 1 :]
            attr, __, sub = name.partition(".")
            return urn, attr.lower(), sub.lower() or None
    attr, __, sub = name.partition(".")
    return core, attr.lower(), sub.lower() or None


def select(
    body: dict[str, Any], attributes: list[str], excluded: list[str], core: str, urns: tuple[str, ...]
) -> dict[str, Any]:
    """The resource with only ``attributes`` (and id, schemas, meta: always returned) or without
    ``excluded``."""
    if attributes:
        keep: dict[str, dict[str, set[str] | None]] = {}
        for name in attributes:
            container, attr, sub = _split(name, core, urns)
            subs = keep.setdefault(container, {})
            if not attr:
                subs["*"] = None
            elif sub is None or subs.get(attr, set()) is None:
                subs[attr] = None
            else:
                current = subs.setdefault(attr, set())
                if current is not None:
                    current.add(sub)
        out: dict[str, Any] = {}
        for key, value in body.items():
            lower = key.lower()
            if lower in ("id", "schemas", "meta"):
                out[key] = value
            elif key in urns and key != core:
                wanted = keep.get(key)
                if wanted is None:
                    continue
                out[key] = value if "*" in wanted else _keep(value, wanted)
                if not out[key]:
                    del out[key]
            elif lower in keep.get(core, {}):
                out[key] = _keep({key: value}, keep[core])[key]
        return out
    out = dict(body)
    for name in excluded:
        container, attr, sub = _split(name, core, urns)
        target: Any = out if container == core else out.get(container)
        if not isinstance(target, dict) or attr in ("id", "schemas", "meta"):
            continue
        found = next((k for k in target if k.lower() == attr), None)
        if found is None:
            continue
        if container != core and target is out.get(container):
            target = out[container] = dict(target)
        if sub is None:
            del target[found]
        elif isinstance(target[found], dict):
            target[found] = {k: v for k, v in target[found].items() if k.lower() != sub}
        elif isinstance(target[found], list):
            target[found] = [{k: v for k, v in i.items() if k.lower() != sub} for i in target[found]]
    return out


def _keep(value: dict[str, Any], wanted: dict[str, set[str] | None]) -> dict[str, Any]:
    out = {}
    for key, item in value.items():
        if key.lower() not in wanted:
            continue
        subs = wanted[key.lower()]
        if subs is None:
            out[key] = item
        elif isinstance(item, dict):
            out[key] = {k: v for k, v in item.items() if k.lower() in subs}
        elif isinstance(item, list):
            out[key] = [
                {k: v for k, v in i.items() if k.lower() in subs} for i in item if isinstance(i, dict)
            ]
    return out
