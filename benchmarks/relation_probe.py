"""Where is a relation's direction lost: in the vision tower, or in the language model's reading of it?

Image-understanding relation questions ("Where is the red cross relative to the green square?") are the
weakest image step of the shipped judge. Two measurements on the same kind of images:

1. The tower. Each relation image goes through the judge's image processor and frozen vision tower; the
   merged visual token under each object's centre is kept. A linear probe (softmax regression, fitted on
   the first half of the images, scored on the second) reads the relation (left of / right of / above /
   below) from the subject's token alone, from the subject's and the other object's tokens side by side,
   and from their mean. High accuracy on the subject's token means the direction reaches the language
   model; the mean is what a reader that attends to both objects alike gets: the two objects' relations
   are opposite (one is above the other), so their mean keeps the axis and loses the direction.
2. The judge. Each relation point is scored by the judge (`generate`), and the relation its
   `Correct answer:` line writes is compared with the oracle's: right, right axis (above/below against
   left of/right of), split by whether the judged answer's own claim was right. A judge that copies the
   judged answer's claim is right on right answers and wrong on wrong ones.

    python benchmarks/relation_probe.py --model rm/ --n 300   # -> results/relation_probe.json
"""

from __future__ import annotations

import re
import time

import numpy as np
from _results import result_header, shapes_probe_parser, write_result

RELATION_WORDS = re.compile(r"Correct answer: The .+? is (left of|right of|above|below) the ")


def axis(relation: str) -> str:
    return "horizontal" if relation in ("left of", "right of") else "vertical"


def linear_probe(features: np.ndarray, labels: np.ndarray, classes: int, steps: int = 500) -> dict:
    """Softmax regression fitted on the first half of the rows (standardised by that half), scored on the
    second half: accuracy, and the share whose predicted class has the true class's axis (classes in
    `RELATIONS` order, two per axis)."""
    import torch

    half = len(labels) // 2
    x = torch.tensor(features, dtype=torch.float32)
    x = (x - x[:half].mean(0)) / (x[:half].std(0) + 1e-6)
    y = torch.tensor(labels)
    torch.manual_seed(0)
    head = torch.nn.Linear(x.shape[1], classes)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(head(x[:half]), y[:half]).backward()
        opt.step()
    with torch.no_grad():
        pred = head(x[half:]).argmax(1)
    return {
        "n_fit": half,
        "n_scored": len(labels) - half,
        "accuracy": round(float((pred == y[half:]).float().mean()), 4),
        "axis_right": round(float((pred // 2 == y[half:] // 2).float().mean()), 4),
    }


def tally_written(rows: list[tuple[str, str | None, bool]]) -> dict:
    """Counts of (oracle relation, relation the judge wrote or None, judged answer right?): per judged
    answer (right / wrong), how many the judge wrote right, on the right axis, or not at all."""
    out = {}
    for key, answer_right in (("answer_right", True), ("answer_wrong", False)):
        sub = [(t, w) for t, w, a in rows if a == answer_right]
        out[key] = {
            "n": len(sub),
            "right": sum(w == t for t, w in sub),
            "axis_right": sum(w is not None and axis(w) == axis(t) for t, w in sub),
            "unwritten": sum(w is None for _, w in sub),
        }
    return out


def written_relation(text: str | None) -> str | None:
    m = RELATION_WORDS.search(text or "")
    return m.group(1) if m else None


def main(argv: list[str] | None = None) -> dict:
    import torch
    from tqdm.auto import tqdm

    from unireward.bench.loaders import BENCH_FRAME_POLICY
    from unireward.data.shapes import RELATIONS, ShapesWorld, _find, relation_of, und_truth
    from unireward.judge import load_judge

    parser = shapes_probe_parser(__doc__, "relation_probe", n=300, n_help="relation points (images)", seed=21)
    args = parser.parse_args(argv)
    if args.n < 20:
        parser.error(f"--n needs at least 20 images for the probe's two halves, got {args.n}")

    judge = load_judge(args.model, decision="generate", frame_policy=BENCH_FRAME_POLICY)
    # the judge's own weights and processor (a Hugging Face backend), so the tower probed is the one judging
    model, processor = judge.backend.model, judge.backend.processor
    tower = getattr(model, "visual", None) or model.model.visual
    world = ShapesWorld(args.seed)
    start = time.perf_counter()

    examples = []
    while len(examples) < args.n:
        ex = world.point_example("image_und", args.split)
        if ex.spec["prompt"].question.kind == "relation":
            examples.append(ex)
    subject_feats, both_feats, mean_feats, labels = [], [], [], []
    with torch.no_grad():
        for ex in tqdm(examples, desc="tower"):
            prompt = ex.spec["prompt"]
            q = prompt.question
            subject, other = (_find(prompt.media, *combo)[0] for combo in ((q.colour, q.shape), q.other))
            pixels = processor.image_processor(images=[ex.item.media], return_tensors="pt")
            merged = tower(pixels["pixel_values"], grid_thw=pixels["image_grid_thw"]).pooler_output
            _, h, w = pixels["image_grid_thw"][0].tolist()
            rows, cols = h // 2, w // 2  # the merger joins 2x2 patches into one token, row by row

            def token(o, rows=rows, cols=cols, merged=merged):
                return merged[min(rows - 1, int(o.y * rows)) * cols + min(cols - 1, int(o.x * cols))]

            subject_feats.append(token(subject).numpy())
            both_feats.append(torch.cat([token(subject), token(other)]).numpy())
            mean_feats.append(((token(subject) + token(other)) / 2).numpy())
            labels.append(RELATIONS.index(relation_of(subject, other)))
    y = np.array(labels)
    tower_result = {
        "subject_token": linear_probe(np.stack(subject_feats), y, len(RELATIONS)),
        "subject_and_other_tokens": linear_probe(np.stack(both_feats), y, len(RELATIONS)),
        "mean_of_subject_and_other": linear_probe(np.stack(mean_feats), y, len(RELATIONS)),
    }

    scores = judge.score([ex.item for ex in examples], decision="generate", progress=True)
    written = []
    for ex, score in zip(examples, scores, strict=True):
        prompt = ex.spec["prompt"]
        truth, _ = und_truth(prompt)
        (relation,) = truth
        written.append((relation, written_relation(score.raw_text), ex.spec["candidate"].main in truth))
    judge_result = tally_written(written)

    result = result_header(__file__, argv, judge, start, n=args.n, seed=args.seed, split=args.split)
    result |= {"relations": list(RELATIONS), "tower_linear_probe": tower_result, "judge_points": judge_result}
    print(f"model {judge.describe().get('model')}  split {args.split}  n {args.n} relation images")
    print("tower linear probe (fit on half, scored on the other half):")
    for name, r in tower_result.items():
        print(f"  {name:<26} relation {r['accuracy']:.3f}   axis {r['axis_right']:.3f}")
    print("judge's correct answer on relation points (generate):")
    for name, r in judge_result.items():
        print(
            f"  {name:<13} n {r['n']:>4}   relation right {r['right']:>4}   axis right {r['axis_right']:>4}"
            f"   unwritten {r['unwritten']}"
        )
    write_result(args.out, result)
    return result


if __name__ == "__main__":
    main()
