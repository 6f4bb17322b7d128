"""Does the word a judge writes first decide the word it writes second? A teacher-forced naming probe.

A `describe`-trained judge names each object with two words, colour then shape (`red cross`), shape then
colour with `--names shape-first`, or in two lists, shapes then colours (`shapes cross, circle; colours red,
blue`) with `--names two-lists`. Held-out colour×shape pairs are never written in training, and judges
name them wrong far more often than seen pairs, mostly in the second word (research log, sessions 10 and
23). This script draws image-understanding points (one image each), and for every object of the image
feeds the judge its true description up to that object, then one first word, and reads the probability
of the true second word among all of them (4 shapes, or 7 colours for a shape-first judge). The first word
is the true one, or another one that makes a seen pair with the true second word (so no prior forbids
it). Reading from the image alone would give the true second word whatever the first word is. For a
two-lists judge the first word is the object's entry in the shapes list (the whole list is given) and the
second its entry in the colours list.

    python benchmarks/naming_prior.py --model rm/ --n 150   # -> results/naming_prior.json
"""

from __future__ import annotations

import collections
import time

import numpy as np
from _results import result_header, shapes_probe_parser, write_result

FIRST_WORDS = ("true", "other")


def main(argv: list[str] | None = None) -> dict:
    from tqdm.auto import tqdm

    from unireward.bench.loaders import BENCH_FRAME_POLICY
    from unireward.data.shapes import (
        COLOURS,
        HELD_OUT,
        SHAPES,
        ShapesWorld,
        left_to_right,
        names_style,
        object_name,
    )
    from unireward.judge import default_model_path, load_judge, model_meta
    from unireward.judge.backend import Prepared
    from unireward.media import load_media

    parser = shapes_probe_parser(
        __doc__, "naming_prior", n=150, n_help="image-understanding points (images)", seed=11
    )
    args = parser.parse_args(argv)

    meta = model_meta(args.model or default_model_path())
    if not meta.get("describe"):
        parser.error("the judge does not describe images (it was not trained with --describe)")
    names = names_style(meta["describe"])
    shape_first = names != "colour-first"  # the shape is the first word of both other styles
    firsts, seconds = (tuple(SHAPES), tuple(COLOURS)) if shape_first else (tuple(COLOURS), tuple(SHAPES))

    def head(objects: list, i: int, first: str) -> str:
        """The teacher-forced description up to object `i`'s second word, with `first` as its first."""
        if names == "two-lists":
            shapes = [first if j == i else p.shape for j, p in enumerate(objects)]
            return f"Image shows: shapes {', '.join(shapes)}; colours " + "".join(
                f"{p.colour}, " for p in objects[:i]
            )
        named = "".join(f"{object_name(p.colour, p.shape, names)}, " for p in objects[:i])
        return f"Image shows: {named}{first} "

    judge = load_judge(args.model, decision="generate", frame_policy=BENCH_FRAME_POLICY)
    world = ShapesWorld(args.seed)
    rng = np.random.default_rng(args.seed)
    probs: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    start = time.perf_counter()
    for _ in tqdm(range(args.n), desc="images"):
        ex = world.point_example("image_und", args.split)
        conv = judge.protocol.point_conversation(ex.item)
        images = [load_media(kind, src, BENCH_FRAME_POLICY) for kind, src in conv.media]
        prepared = Prepared(conv.messages, images, [])
        objects = left_to_right(ex.spec["prompt"].media.objects)
        for i, o in enumerate(objects):
            first, second = (o.shape, o.colour) if shape_first else (o.colour, o.shape)
            seen_with = [f for f in firsts if ((second, f) if shape_first else (f, second)) not in HELD_OUT]
            others = [f for f in seen_with if f != first]
            kind = "held_out" if (o.colour, o.shape) in HELD_OUT else "seen"
            for which, word in zip(FIRST_WORDS, (first, others[rng.integers(len(others))]), strict=True):
                conts = [f"{head(objects, i, word)}{s}" for s in seconds]
                logp = np.array(judge.backend.continuation_logprobs([prepared], [conts])[0])
                p = np.exp(logp - logp.max())
                probs[kind, which].append(float(p[seconds.index(second)] / p.sum()))

    result = result_header(
        __file__, argv, judge, start, n=args.n, seed=args.seed, split=args.split, names=names
    )
    for kind in ("held_out", "seen"):
        result[kind] = {
            f"{which}_first_word": {
                "objects": len(probs[kind, which]),
                "mean_p_true_second_word": round(float(np.mean(probs[kind, which])), 4),
            }
            for which in FIRST_WORDS
            if probs[kind, which]
        }
    order = {"colour-first": "colour, then shape", "shape-first": "shape, then colour"}.get(names, names)
    print(f"model {judge.describe().get('model')}  split {args.split}  n {args.n}  ({order})")
    print(
        "{:<9} {:>8} {:>22} {:>23}".format(
            "objects", "n", "P(true 2nd | true 1st)", "P(true 2nd | other 1st)"
        )
    )
    for kind in ("held_out", "seen"):
        r = result[kind]
        if r:
            p = [
                r.get(f"{w}_first_word", {}).get("mean_p_true_second_word", float("nan")) for w in FIRST_WORDS
            ]
            print(f"{kind:<9} {r['true_first_word']['objects']:>8} {p[0]:>22.3f} {p[1]:>23.3f}")
    write_result(args.out, result)
    return result


if __name__ == "__main__":
    main()
