"""A fixed split of the procedural prompt space into a *tuning* set and a *held-out* set.

Every preset, weight and schedule of ``lift3d generate`` was chosen by looking at scores on the ten prompts of
``benchmarks/generate_quality.py`` (:data:`LEGACY_PROMPTS`), so those scores are tuning scores. The held-out set
measures whether the choices generalise: it names the same ten families with words, colours and phrasings that
no tuning prompt uses.

The prompt space is the product of the caption vocabulary (:mod:`lift3d.data.captions`, the words the bundled
prior's tokenizer knows): family words x colour words x templates (x size words). It is partitioned, not sampled:

=============== =============================================== ==============================================
part            tuning                                          held-out
=============== =============================================== ==============================================
family word     the canonical word (``cube``)                   a synonym (``box``, ``orb``, ``double pyramid``)
colour word     the name or its first synonym (``crimson``)     the second synonym (``scarlet``)
phrasing        :data:`TUNING_TEMPLATES`                        :data:`HELDOUT_TEMPLATES`
(family,colour) offsets 0-4, 6, 7, 9 (legacy) and 8             offset 5: no combination seen in tuning
=============== =============================================== ==============================================

Family ``i`` of :data:`BENCHMARK_FAMILIES` gets palette colour ``(i + offset) % 10``; the legacy prompts use every
offset but 5 and 8, so offset 8 extends the tuning set and offset 5 is held out (each set has all 10 colours).
There are no size words: the caption vocabulary has none ("small", "large" are unknown to the bundled prior's
tokenizer), and the ground truth has a fixed extent, so :attr:`PromptSpec.size` is None throughout
(:data:`SIZE_WORDS` is empty). The split is a pure function of these tables: no randomness, no dependence on
the seed, platform or library versions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from lift3d.data.captions import FAMILY_WORDS
from lift3d.data.palette import PALETTE

SplitName = Literal["tuning", "heldout", "legacy"]
SPLIT_NAMES: tuple[str, ...] = ("tuning", "heldout", "legacy")

LEGACY_PROMPTS: tuple[str, ...] = (
    "a red cube", "a blue sphere", "a green cone", "a yellow torus", "a purple cylinder",
    "an orange pyramid", "a white capsule", "a pink octahedron", "a blue mushroom", "a red table",
)
"""The ten prompts every earlier benchmark number was measured (and tuned) on; part of the tuning set."""

BENCHMARK_FAMILIES: tuple[str, ...] = ("cube", "sphere", "cone", "torus", "cylinder", "pyramid", "capsule",
                                       "octahedron", "mushroom", "table")
"""The families of :data:`LEGACY_PROMPTS`, in their order; both sets cover each of them."""

TUNING_TEMPLATES: tuple[str, ...] = ("a {colour} {shape}", "a {colour} {shape} on a white background",
                                     "a 3d model of a {colour} {shape}", "a simple {colour} {shape}")
HELDOUT_TEMPLATES: tuple[str, ...] = ("a {shape} that is {colour}", "a matte {colour} {shape}", "one {colour} {shape}")
SIZE_WORDS: tuple[str, ...] = ()
"""Size words the caption vocabulary knows (none)."""

_TUNING_OFFSET, _HELDOUT_OFFSET = 8, 5


@dataclass(frozen=True)
class PromptSpec:
    """One benchmark prompt and its ground truth.

    Attributes:
        text: the prompt ("a matte lilac orb").
        family: ground-truth family (a key of :data:`lift3d.data.FAMILIES`).
        colour: ground-truth canonical palette colour name.
        size: ground-truth size word, None when the prompt names no size (always, see the module docstring).
        family_word: the words naming the family in ``text``.
        colour_word: the word naming the colour in ``text``.
        template: the phrasing, with ``{colour}`` and ``{shape}`` placeholders.
    """

    text: str
    family: str
    colour: str
    size: str | None
    family_word: str
    colour_word: str
    template: str


def _spec(template: str, family: str, colour: str, family_word: str, colour_word: str) -> PromptSpec:
    text = re.sub(r"\ba (?=[aeiou])", "an ", template.format(colour=colour_word, shape=family_word))
    return PromptSpec(text, family, colour, None, family_word, colour_word, template)


def _legacy() -> list[PromptSpec]:
    out = []
    for text, family in zip(LEGACY_PROMPTS, BENCHMARK_FAMILIES):
        colour = text.split()[1]
        out.append(_spec(TUNING_TEMPLATES[0], family, colour, family, colour))
    return out


def _tuning_extra() -> list[PromptSpec]:
    out = []
    for i, family in enumerate(BENCHMARK_FAMILIES):
        c = PALETTE[(i + _TUNING_OFFSET) % len(PALETTE)]
        out.append(_spec(TUNING_TEMPLATES[i % len(TUNING_TEMPLATES)], family, c.name, FAMILY_WORDS[family][0],
                         c.synonyms[0]))
    return out


def _heldout() -> list[PromptSpec]:
    out = []
    for i, family in enumerate(BENCHMARK_FAMILIES):
        c = PALETTE[(i + _HELDOUT_OFFSET) % len(PALETTE)]
        words = FAMILY_WORDS[family]
        word = words[1 + i % (len(words) - 1)]
        out.append(_spec(HELDOUT_TEMPLATES[i % len(HELDOUT_TEMPLATES)], family, c.name, word, c.synonyms[1]))
    return out


def prompt_split(name: SplitName) -> list[PromptSpec]:
    """The prompts of split ``name``: ``tuning`` (20: the legacy ten, then ten more in tuning words),
    ``heldout`` (10, one per benchmark family) or ``legacy`` (the ten of :data:`LEGACY_PROMPTS`).

    Raises:
        ValueError: unknown split name.
    """
    if name == "legacy":
        return _legacy()
    if name == "tuning":
        return _legacy() + _tuning_extra()
    if name == "heldout":
        return _heldout()
    raise ValueError(f"unknown prompt split {name!r}; choose one of {', '.join(SPLIT_NAMES)}")


def split_prompts(name: SplitName) -> list[str]:
    """Just the prompt texts of :func:`prompt_split`."""
    return [p.text for p in prompt_split(name)]


__all__ = ["BENCHMARK_FAMILIES", "HELDOUT_TEMPLATES", "LEGACY_PROMPTS", "SIZE_WORDS", "SPLIT_NAMES", "TUNING_TEMPLATES",
           "PromptSpec", "SplitName", "prompt_split", "split_prompts"]
