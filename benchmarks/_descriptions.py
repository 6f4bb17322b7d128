"""How a judge names the objects of held-out colour×shape pairs in its descriptions, beside seen pairs."""

from __future__ import annotations

import collections
import re

from unireward.data.shapes import COLOURS, HELD_OUT, SHAPES, colour_first, names_style

# A colour and shape named together; `becomes blue square` (a video's change) is not a new object.
_OBJECT = re.compile(rf"(?<!becomes )\b({'|'.join(COLOURS)}) ({'|'.join(SHAPES)})\b")


def names_reader(describe: str):
    """How to read a judge of `describe` style: a shape-first or two-lists judge's names written colour
    first (`shapes.colour_first`), as the true descriptions and the parsers here have them; others
    unchanged."""
    return str if names_style(describe) == "colour-first" else colour_first


def tally_objects(counts: collections.Counter, true_description: str, said_description: str) -> None:
    """Position by position, each true object: named right, named with its colour and another shape, or
    named with its shape and another colour.

    On held-out pairs the second case is the language model's colour→shape prior from training
    (`purple square` written `purple circle`) overruling what the vision tower read (research log,
    session 10); seen pairs are counted alike for comparison."""
    said = _OBJECT.findall(said_description)
    for i, (colour, shape) in enumerate(_OBJECT.findall(true_description)):
        kind = "held_out" if (colour, shape) in HELD_OUT else "seen"
        got = said[i] if i < len(said) else None
        counts[f"{kind}_objects"] += 1
        counts[f"{kind}_right"] += got == (colour, shape)
        counts[f"{kind}_other_shape"] += got is not None and got[0] == colour and got[1] != shape
        counts[f"{kind}_other_colour"] += got is not None and got[1] == shape and got[0] != colour


def objects_summary(counts: collections.Counter) -> dict:
    """`held_out` and `seen`: objects, named right, with their colour but another shape, and with their
    shape but another colour (where a shape-first judge's error went; research log, session 23)."""
    return {
        kind: {
            "objects": counts[f"{kind}_objects"],
            "right": counts[f"{kind}_right"],
            "colour_right_other_shape": counts[f"{kind}_other_shape"],
            "shape_right_other_colour": counts[f"{kind}_other_colour"],
        }
        for kind in ("held_out", "seen")
    }


def objects_line(summary: dict) -> str:
    """One printed line: `held-out objects right 32/110 (colour right, other shape 50; shape right, other
    colour 4), seen 85/111 (3; 1)`."""
    h, s = summary["held_out"], summary["seen"]
    shape, colour = "colour_right_other_shape", "shape_right_other_colour"
    return (
        f"held-out objects right {h['right']}/{h['objects']} (colour right, other shape {h[shape]}; "
        f"shape right, other colour {h[colour]}), seen {s['right']}/{s['objects']} ({s[shape]}; {s[colour]})"
    )


def own_lookup(said_description: str, name: str) -> str:
    """The lookup a judge's own description implies for the caption object `name` (`red square`): the
    described objects of its shape, in the order written (`red square and blue square`; `none`), as
    `shapes.sees` builds it from the truth."""
    shape = name.partition(" ")[2]
    found = [f"{c} {s}" for c, s in _OBJECT.findall(said_description) if s == shape]
    return " and ".join(found) or "none"
