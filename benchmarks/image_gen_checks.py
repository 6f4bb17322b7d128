"""Does the judge look? Its written image-generation element checks against the oracle's.

The explained targets make the judge write, per image, one check per caption element before its verdict or
score (`red cross (object): 0`, `above (relation): 1`, `two (count): 0`; `red cross (object): sees blue
cross so 0` for judges trained with `--describe lookup`). This script draws image-generation
pairs and points from the shapes world, lets the judge write its answer (`generate`), and counts for each
element type how often the written check agrees with the oracle, separately for elements the image shows
(1) and those it does not (0). The balanced accuracy, the mean of the two rates, is 0.5 for a judge that
writes the same check whatever the image shows, however often that check is right. For judges that look
up what they described (`colours`, `lookup`), the steps between are counted apart: does the lookup follow
the judge's own description, and does the check follow the lookup.

    python benchmarks/image_gen_checks.py --model rm/ --n 100   # -> results/image_gen_checks.json
"""

from __future__ import annotations

import collections
import re
import time

from _descriptions import names_reader, objects_line, objects_summary, own_lookup, tally_objects
from _results import result_header, shapes_probe_parser, write_result

from unireward.data.shapes import PLURALS

# `lookup`-trained judges write what they see of the caption's shape first: `(object): sees red square so 0`.
# `colours`-trained ones the colours of that shape beside the asked one: `colours red, asked yellow: 0`;
# `colours-sides` ones each related object's side: `(relation): red cross left, blue circle right: 1`.
_CHECK = re.compile(
    r"([a-z][a-z ]*?) \((object|relation|count)\): "
    r"(?:sees [a-z ]*? so |colours [a-z ]*?, asked [a-z]+: "
    r"|[a-z]+ [a-z]+ [a-z]+, [a-z]+ [a-z]+ [a-z]+: )?([01])"
)


def written_checks(text: str) -> dict[str, tuple[str, int]]:
    """`{element: (type, 0 or 1)}` as written in one candidate's line or point answer."""
    return {name.strip(): (kind, int(v)) for name, kind, v in _CHECK.findall(text)}


def written_quality(text: str) -> str | None:
    found = re.search(r"[Qq]uality: (clean|slightly degraded|strongly degraded)", text)
    return found.group(1) if found else None


def written_lookups(text: str) -> list[str]:
    """What a `lookup`-trained judge says it sees of each caption object's shape, in order; a
    `colours`-trained judge's colours are written as objects (`colours red and blue` -> `red square and
    blue square`)."""
    sees = re.findall(r"(?<!\(count\)): sees ([a-z ]+?)(?: so [01]|\.)", text)
    colours = re.findall(r"([a-z][a-z ]*?) \(object\): colours ([a-z ]+?), asked", text)
    shaped = [
        " and ".join(f"{c} {_singular(name).partition(' ')[2]}" for c in found.split(" and "))
        if found != "none"
        else "none"
        for name, found in colours
    ]
    return sees + shaped


LOOKUP_KINDS = ("names_it", "none", "other_colour", "other_shape")


def lookup_kind(name: str, said: str) -> str:
    """What a written lookup says about the caption object `name`: names it (the check should be 1), or
    not, as `none`, only other colours of its shape, or objects of another shape (all 0)."""
    items = said.split(" and ")
    if name in items:
        return "names_it"
    if said == "none":
        return "none"
    shape = name.partition(" ")[2]
    return "other_colour" if all(i.partition(" ")[2] == shape for i in items) else "other_shape"


_SINGULAR = {plural: shape for shape, plural in PLURALS.items()}


def _singular(name: str) -> str:
    """A caption object's name as a description writes it (`red crosses` -> `red cross`)."""
    colour, _, shape = name.partition(" ")
    return f"{colour} {_SINGULAR.get(shape, shape)}"


def written_description(text: str) -> str | None:
    """What a `describe`-trained judge says the image shows (`Image 1: shows ...;`, `Image shows: ...`)."""
    found = re.search(r"[Ss]hows:? (.*?)[;.\n]", text)
    return found.group(1).strip() if found else None


def tally(
    counts: collections.Counter,
    truth: list[tuple[str, str, int]],
    quality: str,
    text: str,
    description: str | None = None,
    lookups: list[str] | None = None,
) -> None:
    """Add one candidate's written checks (`text`) against the oracle's elements, quality word and, when
    given, the true description (`shapes.describe_image`) and lookups (`shapes.sees`, per caption object)."""
    written = written_checks(text)
    counts["candidates"] += 1
    counts["quality_right"] += written_quality(text) == quality
    said = written_description(text)
    if description is not None and said is not None:
        counts["described"] += 1
        counts["description_exact"] += said == description
        true_objects = collections.Counter(description.split(", ")) - collections.Counter(["nothing"])
        said_objects = collections.Counter(said.split(", "))
        counts["objects_true"] += sum(true_objects.values())
        counts["objects_named"] += sum((true_objects & said_objects).values())
        tally_objects(counts, description, said)
    said_lookups = written_lookups(text)
    if lookups is not None and said_lookups:
        counts["lookups_written"] += len(said_lookups)
        counts["lookups_true"] += len(lookups)
        counts["lookups_exact"] += sum(a == b for a, b in zip(said_lookups, lookups))
        # Does each written object check follow from the judge's own lookup? (The comparison step alone.)
        objects = [(n, v) for n, (k, v) in written.items() if k == "object"]
        for (name, value), said_lookup in zip(objects, said_lookups):
            kind = lookup_kind(_singular(name), said_lookup)
            counts[f"lookups_{kind}_n"] += 1
            counts[f"lookups_{kind}_followed"] += value == (kind == "names_it")
            # And does the lookup follow the judge's own description? (The step before: a judge may
            # describe the image right, then look up another colour.)
            if said is not None:
                counts["lookups_described_n"] += 1
                counts["lookups_described_followed"] += said_lookup == own_lookup(said, _singular(name))
    for name, kind, value in truth:
        if name not in written or written[name][0] != kind:
            counts[f"{kind}/not_written"] += 1
            continue
        counts[f"{kind}/{value}/n"] += 1
        counts[f"{kind}/{value}/right"] += written[name][1] == value


def summary(counts: collections.Counter) -> dict:
    """Per element type: rates for shown (1) and not shown (0) elements and their mean."""
    out: dict = {"candidates": counts["candidates"], "quality_right": counts["quality_right"]}
    if counts["described"]:
        out["description"] = {
            "written": counts["described"],
            "exact": counts["description_exact"],
            "objects_named": counts["objects_named"],
            "objects_true": counts["objects_true"],
            **objects_summary(counts),
        }
    if counts["lookups_written"]:
        out["lookups"] = {k: counts[f"lookups_{k}"] for k in ("written", "true", "exact")}
        out["lookups"]["check_follows"] = {
            kind: {"n": counts[f"lookups_{kind}_n"], "followed": counts[f"lookups_{kind}_followed"]}
            for kind in LOOKUP_KINDS
        }
        out["lookups"]["follows_description"] = {
            "n": counts["lookups_described_n"],
            "followed": counts["lookups_described_followed"],
        }
    for kind in ("object", "relation", "count"):
        rates = {}
        for value in (1, 0):
            n = counts[f"{kind}/{value}/n"]
            right = counts[f"{kind}/{value}/right"]
            rates[str(value)] = {"right": right, "n": n, "rate": round(right / n, 4) if n else None}
        both = [r["rate"] for r in rates.values() if r["rate"] is not None]
        out[kind] = {
            **rates,
            "not_written": counts[f"{kind}/not_written"],
            "balanced_accuracy": round(sum(both) / 2, 4) if len(both) == 2 else None,
        }
    return out


def main(argv: list[str] | None = None) -> dict:
    from unireward.bench.loaders import BENCH_FRAME_POLICY
    from unireward.data.shapes import (
        ShapesWorld,
        caption_objects,
        describe_image,
        quality_word,
        sees,
    )
    from unireward.judge import default_model_path, load_judge, model_meta

    parser = shapes_probe_parser(
        __doc__, "image_gen_checks", n=100, n_help="image-generation pairs and points each", seed=11
    )
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)

    judge = load_judge(
        args.model, decision="generate", batch_size=args.batch_size, frame_policy=BENCH_FRAME_POLICY
    )
    as_read = names_reader(model_meta(args.model or default_model_path()).get("describe", ""))
    world = ShapesWorld(args.seed)
    pairs = [world.pair_example("image_gen", args.split) for _ in range(args.n)]
    points = [world.point_example("image_gen", args.split) for _ in range(args.n)]
    start = time.perf_counter()
    verdicts = judge.rank([p.item for p in pairs], decision="generate", swap=False, progress=True)
    scores = judge.score([p.item for p in points], decision="generate", progress=True)

    def true_lookups(cap, c) -> list[str]:
        return [sees(c, shape) for _, shape in caption_objects(cap)]

    counts = {"pair": collections.Counter(), "point": collections.Counter()}
    for ex, verdict in zip(pairs, verdicts, strict=True):
        lines = {
            m.group(1): m.group(2) for m in re.finditer(r"Image (\d): (.*)", as_read(verdict.raw_text or ""))
        }
        for k, side, details in (("1", "a", ex.details_a), ("2", "b", ex.details_b)):
            c = ex.spec[side]
            truth = details["elements"], quality_word(c), lines.get(k, ""), describe_image(c)
            tally(counts["pair"], *truth, true_lookups(ex.spec["prompt"], c))
    for ex, score in zip(points, scores, strict=True):
        c = ex.spec["candidate"]
        truth = ex.details["elements"], quality_word(c), as_read(score.raw_text or ""), describe_image(c)
        tally(counts["point"], *truth, true_lookups(ex.spec["prompt"], c))

    result = result_header(__file__, argv, judge, start, n=args.n, seed=args.seed, split=args.split)
    result.update(pair=summary(counts["pair"]), point=summary(counts["point"]))
    print(f"model {judge.describe().get('model')}  split {args.split}  n {args.n}")
    header = ("mode", "element", "shown, 1", "not shown, 0", "balanced", "unwritten")
    print("{:<6} {:<9} {:>12} {:>13} {:>9} {:>10}".format(*header))
    for mode in ("pair", "point"):
        s = result[mode]
        for kind in ("object", "relation", "count"):
            r = s[kind]
            cells = [f"{r[v]['right']}/{r[v]['n']}" for v in ("1", "0")]
            bal = "n/a" if r["balanced_accuracy"] is None else f"{r['balanced_accuracy']:.3f}"
            print(f"{mode:<6} {kind:<9} {cells[0]:>12} {cells[1]:>13} {bal:>9} {r['not_written']:>10}")
        print(f"{mode:<6} quality word right {s['quality_right']}/{s['candidates']}")
        if d := s.get("description"):
            print(
                f"{mode:<6} description exact {d['exact']}/{d['written']}, "
                f"objects named {d['objects_named']}/{d['objects_true']}"
            )
            print(f"{mode:<6} {objects_line(d)}")
        if lk := s.get("lookups"):
            follows = ", ".join(f"{k} {v['followed']}/{v['n']}" for k, v in lk["check_follows"].items())
            print(f"{mode:<6} lookups exact {lk['exact']}/{lk['true']} ({lk['written']} written)")
            print(f"{mode:<6} the check follows its own lookup when that: {follows}")
            fd = lk["follows_description"]
            print(f"{mode:<6} the lookup follows its own description {fd['followed']}/{fd['n']}")
    write_result(args.out, result)
    return result


if __name__ == "__main__":
    main()
