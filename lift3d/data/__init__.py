"""The procedural 3D world: shape families, colours, captions, a ground-truth renderer, datasets.

>>> from lift3d.data import procedural_object, render_object
>>> obj = procedural_object("cube", "red", seed=0)
"""

from lift3d.data.captions import FAMILY_WORDS, caption_for, parse_caption
from lift3d.data.objects import FAMILIES, ProceduralObject, procedural_object
from lift3d.data.ood import ood_objects
from lift3d.data.palette import PALETTE, Colour, colour, nearest_colour, palette_rgb
from lift3d.data.splits import LEGACY_PROMPTS, PromptSpec, prompt_split, split_prompts
from lift3d.data.tracer import AMBIENT, LIGHT_DIRECTION, render_object, sphere_trace
from lift3d.data.zeroverse import RandomObject, ZeroverseConfig, random_composition

__all__ = [
    "AMBIENT",
    "FAMILIES",
    "FAMILY_WORDS",
    "LEGACY_PROMPTS",
    "LIGHT_DIRECTION",
    "PALETTE",
    "Colour",
    "ProceduralObject",
    "PromptSpec",
    "RandomObject",
    "ZeroverseConfig",
    "caption_for",
    "colour",
    "nearest_colour",
    "palette_rgb",
    "parse_caption",
    "ood_objects",
    "procedural_object",
    "prompt_split",
    "random_composition",
    "render_object",
    "sphere_trace",
    "split_prompts",
]
