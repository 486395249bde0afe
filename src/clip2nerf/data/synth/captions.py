"""Captions from an object's class and part colours ("a red sofa with black legs")."""

from __future__ import annotations

import numpy as np

PART_PHRASES: dict[str, str] = {
    "legs": "{} legs", "wheels": "{} wheels", "windows": "{} windows", "wings": "{} wings",
    "engines": "{} engines", "handles": "{} handles", "doors": "{} doors",
    "drawers": "{} drawers", "cushions": "{} cushions", "drivers": "{} speaker cones",
    "sail": "a {} sail", "shade": "a {} shade", "screen": "a {} screen", "stock": "a {} stock",
    "base": "a {} base", "top": "a {} top", "back": "a {} back", "seat": "a {} seat",
    "frame": "a {} frame", "stand": "a {} stand", "tail": "a {} tail", "deck": "a {} deck",
    "cabin": "a {} cabin", "barrel": "a {} barrel", "scope": "a {} scope", "body": "a {} body",
    "stem": "a {} stem", "camera": "a {} camera", "funnel": "a {} funnel",
}

_TEMPLATES = (
    "{a} {c} {noun}",
    "{a} {c} {noun}",
    "{A} {c} {noun}",
    "a 3d model of {a} {c} {noun}",
    "{a} {noun} in {c}",
)


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _phrase(part: str, colour: str) -> str:
    text = PART_PHRASES.get(part, "{} " + part).format(colour)
    if text.startswith("a ") and colour[:1] in "aeiou":
        text = "an " + text[2:]
    return text


def make_caption(noun: str, colors: dict[str, str], order: list[str],
                 rng: np.random.Generator) -> str:
    """Caption naming ``noun`` and the main colour (``colors[order[0]]``) plus up to two other
    parts (in ``order``) whose colour differs from the main one; wording varies with ``rng``."""
    main = colors[order[0]]
    template = _TEMPLATES[int(rng.integers(len(_TEMPLATES)))]
    a = article(main) if "{c} {noun}" in template else article(noun)
    text = template.format(a=a, A=a.capitalize(), c=main, noun=noun)
    extra = [p for p in order[1:] if p in colors and colors[p] != main]
    seen: set[str] = set()
    mention = []
    for p in extra:
        if p in PART_PHRASES and p not in seen:
            mention.append(_phrase(p, colors[p]))
            seen.add(p)
        if len(mention) == 2:
            break
    if mention:
        text += " with " + " and ".join(mention)
    return text
