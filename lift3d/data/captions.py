"""Captions of procedural objects from templates with synonyms, and the parser back to labels."""

from __future__ import annotations

import random
import re

from lift3d.data.palette import PALETTE

FAMILY_WORDS: dict[str, tuple[str, ...]] = {
    "sphere": ("sphere", "ball", "orb"),
    "cube": ("cube", "box", "block"),
    "cylinder": ("cylinder", "column", "drum"),
    "tube": ("tube", "pipe", "hollow cylinder"),
    "cone": ("cone", "traffic cone shape", "spike"),
    "torus": ("torus", "donut", "ring"),
    "capsule": ("capsule", "pill", "lozenge"),
    "ellipsoid": ("ellipsoid", "egg shape", "oval blob"),
    "pyramid": ("pyramid", "square pyramid"),
    "octahedron": ("octahedron", "diamond", "double pyramid"),
    "wedge": ("wedge", "ramp", "doorstop"),
    "mushroom": ("mushroom", "toadstool"),
    "table": ("table", "desk"),
    "snowman": ("snowman", "snow figure"),
}
"""Family name -> words captions may use for it (first = canonical; phrases disjoint across families)."""

TEMPLATES: tuple[str, ...] = (
    "a {colour} {shape}",
    "a {colour} {shape}",
    "a {shape} that is {colour}",
    "a {colour} {shape} on a white background",
    "a 3d model of a {colour} {shape}",
    "a simple {colour} {shape}",
    "a matte {colour} {shape}",
    "one {colour} {shape}",
)
"""Caption templates; the first is repeated so that the plain form is the most common."""


def caption_for(family: str, colour: str, seed: int) -> str:
    """A caption for (``family``, canonical ``colour``), its wording deterministic in ``seed``.

    Seed 0 always gives the plain canonical form "a {colour} {family}" (or "an ...").
    """
    if family not in FAMILY_WORDS:
        raise ValueError(f"unknown family {family!r}; choose one of {list(FAMILY_WORDS)}.")
    col = next((c for c in PALETTE if c.name == colour), None)
    if col is None:
        raise ValueError(f"unknown colour {colour!r}; choose one of {[c.name for c in PALETTE]}.")
    if seed == 0:
        text = f"a {colour} {family}"
    else:
        rng = random.Random(f"caption:{family}:{colour}:{seed}")
        text = rng.choice(TEMPLATES).format(colour=rng.choice((col.name,) + col.synonyms),
                                            shape=rng.choice(FAMILY_WORDS[family]))
    return re.sub(r"\ba (?=[aeiou])", "an ", text)


def _pattern(words: dict[str, tuple[str, ...]]) -> list[tuple[re.Pattern[str], str]]:
    pairs = [(w, name) for name, ws in words.items() for w in ws]
    pairs.sort(key=lambda p: -len(p[0]))  # longest phrase first ("hollow cylinder" before "cylinder")
    return [(re.compile(rf"\b{re.escape(w)}s?\b"), name) for w, name in pairs]


_FAMILY_PATTERNS = _pattern(FAMILY_WORDS)
_BACKGROUND = re.compile(r"\b(on|against|over) an? \w+ background\b")
_COLOUR_PATTERNS = _pattern({c.name: (c.name,) + c.synonyms for c in PALETTE})


def _find(text: str, patterns: list[tuple[re.Pattern[str], str]]) -> tuple[str | None, str]:
    """The earliest match in ``text`` (longest phrase on ties) and ``text`` with it blanked out."""
    best: tuple[int, int, str, re.Match[str]] | None = None
    for pattern, name in patterns:
        m = pattern.search(text)
        if m and (best is None or (m.start(), -len(m.group())) < best[:2]):
            best = (m.start(), -len(m.group()), name, m)
    if best is None:
        return None, text
    m = best[3]
    return best[2], text[: m.start()] + " " + text[m.end():]


def parse_caption(text: str) -> tuple[str | None, str | None]:
    """``(family, colour)`` named in a caption or prompt, either None when it names none.

    Matching is case-insensitive on whole words, longest phrase first, so
    ``parse_caption("A crimson box") == ("cube", "red")``.
    """
    lowered = " ".join(text.lower().replace("-", " ").split())
    lowered = _BACKGROUND.sub(" ", lowered)
    family, rest = _find(lowered, _FAMILY_PATTERNS)
    colour, _ = _find(rest, _COLOUR_PATTERNS)
    return family, colour
