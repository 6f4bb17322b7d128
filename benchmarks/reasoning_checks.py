"""Where does the judge go wrong? Its written reasoning for the other three tasks, line by line.

`image_gen_checks.py` does this for image generation. The explained targets of the other tasks also write
their reasoning before the verdict or score, so each step can be checked against the oracle on its own:

- video generation: the five dimension ratings per video (`visual quality 4, ... , score 10`). Per
  dimension: exact rate and balanced accuracy (mean recall over the oracle's values; a judge that writes
  one value whatever the video shows gets 1/k), and whether the written score follows from the judge's own
  ratings (`shapes.video_final`; arithmetic, not vision).
  Judges trained with `--describe-videos` also write what each video shows (exact?) and check the
  caption beside it (`colour red, asked green: 0`): per element (colour, shape, direction, speed) whether
  the written value is the video's, and whether the 0/1 follows from the two words written.
  Judges whose descriptions give each object's last look (`ends`) or that write a change line
  (`ends-checked-changes`): whether their change words are right, and whether the factual consistency
  rating follows them (2 or less exactly when they say the object changes).
- image and video understanding: the `Correct answer:` line (the vision step), then per candidate answer
  the check text (`claim left, truth down: wrong`): exact, whether its truth word is right, and whether the
  right/wrong word follows from the judge's own claim and truth (the comparison step; apart for claims
  that match their truth and claims that differ, so a judge that always writes `right` shows); with `describe`
  judges, the `Image shows:` / `Video shows:` line too. Pair answers are also compared line by line with
  the oracle's own reasoning (the training target): for right and for wrong verdicts apart, the first line
  after the description that departs from it (correct answer, an answer's check, its score, the verdict),
  so a wrong verdict is traced to the step where it went wrong. For video change questions ("Does the
  square change colour?"): how often the judge's own description says a change, for objects that change
  and for those that do not, and whether its yes/no follows that description.

    python benchmarks/reasoning_checks.py --model rm/ --n 100   # -> results/reasoning_checks.json
"""

from __future__ import annotations

import collections
import re
import time

from _descriptions import names_reader, objects_line, objects_summary, tally_objects
from _results import result_header, shapes_probe_parser, write_result

from unireward.protocols.v1 import VIDEO_DIMENSIONS

TASKS = ("video_gen", "image_und", "video_und")
_DIMENSION = re.compile(rf"({'|'.join(VIDEO_DIMENSIONS)}):? (\d+)")
_SCORE = re.compile(r"(?:[Ss]core:?|Final Score:) (\d+)")
# One understanding check: `claim left, truth down: wrong` or `hedged red or blue, truth red: right`.
_ASKED = re.compile(r"(colour|shape|direction|speed) ([a-z]+), asked ([a-z]+): ([01])")
# A video's first object with its last look (`ends` descriptions), and the change line of
# `ends-checked-changes` judges (`change colour red, ends blue: yes, shape square, ends square: no`).
_ENDS = re.compile(r"shows:? ([a-z]+) ([a-z]+) (?:static|moving [a-z]+ [a-z]+), ends ([a-z]+) ([a-z]+)")
_GEN_CHANGE = re.compile(
    r"[Cc]hange:? colour [a-z]+, ends [a-z]+: (yes|no), shape [a-z]+, ends [a-z]+: (yes|no)"
)
_CHANGE_PART = re.compile(r"(?:colour|shape) ([a-z]+), ends ([a-z]+): (yes|no)")
_CLAIM = re.compile(r"(claim|hedged) ([a-z ]+?), truth ([a-z ]+?): (right|wrong)")


def written_dimensions(text: str) -> dict[str, int]:
    """`{dimension: rating}` as written in one video's line or point answer (the first of each)."""
    found: dict[str, int] = {}
    for name, value in _DIMENSION.findall(text):
        found.setdefault(name, int(value))
    return found


def said_video_change(text: str) -> bool | None:
    """Whether a judge's own words say the generated video's object changes: its change line where it
    writes one, else its `ends` description's first object (start and last look differ); None when
    neither is written."""
    if found := _GEN_CHANGE.search(text):
        return "yes" in found.groups()
    if found := _ENDS.search(text):
        start_colour, start_shape, end_colour, end_shape = found.groups()
        return (start_colour, start_shape) != (end_colour, end_shape)
    return None


def tally_said_change(counts: collections.Counter, changed: bool, written: dict, text: str) -> None:
    """Whether the judge's own change words are right, and whether its factual consistency rating follows
    them (2 or less exactly when it says the object changes: a change costs 2, a dropped frame 1); on a
    change line, also whether each yes/no follows the start and end word written before it."""
    if line := _GEN_CHANGE.search(text):  # does each yes/no follow the two words written before it?
        for start, end, answer in _CHANGE_PART.findall(line.group(0)):
            case = "words_same" if start == end else "words_differ"
            counts[f"change/{case}/n"] += 1
            counts[f"change/{case}/follows"] += (answer == "yes") == (start != end)
    said = said_video_change(text)
    if said is None:
        return
    truth = "changed" if changed else "steady"
    counts[f"change/{truth}/n"] += 1
    counts[f"change/{truth}/said_right"] += said == changed
    if "factual consistency" in written:
        case = "said_changed" if said else "said_steady"
        counts[f"change/{case}/n"] += 1
        counts[f"change/{case}/factual_follows"] += (written["factual consistency"] <= 2) == said


def tally_video(
    counts: collections.Counter,
    truth: dict[str, int],
    text: str,
    true_checks: str | None = None,
    changed: bool = False,
) -> None:
    """Add one video's written ratings (`text`) against the oracle's dimensions and, when given, its
    written caption checks against the true ones (`shapes.video_alignment_checks`); `changed`: whether the
    video's object truly changes (for `tally_said_change`)."""
    from unireward.data.shapes import video_final

    written = written_dimensions(text)
    counts["candidates"] += 1
    tally_said_change(counts, changed, written, text)
    if true_checks is not None and (said := {m[0]: m[1:] for m in _ASKED.findall(text)}):
        for name, value, _, _ in _ASKED.findall(true_checks):
            if name not in said:
                counts[f"asked/{name}/not_written"] += 1
                continue
            seen, asked, check = said[name]
            counts[f"asked/{name}/n"] += 1
            counts[f"asked/{name}/seen_right"] += seen == value
            counts[f"asked/{name}/follows"] += int(check) == (seen == asked)
    for name, value in truth.items():
        if name not in written:
            counts[f"{name}/not_written"] += 1
            continue
        counts[f"{name}/{value}/n"] += 1
        counts[f"{name}/{value}/right"] += written[name] == value
    scores = _SCORE.findall(text)
    if len(written) == len(VIDEO_DIMENSIONS) and scores:
        counts["score_written"] += 1
        counts["score_follows"] += int(scores[-1]) == video_final(written)


def tally_answer(counts: collections.Counter, true_check: str, text: str) -> None:
    """Add one understanding answer's written check (`text`) against the oracle's (`true_check`)."""
    counts["answers"] += 1
    written = text.strip().rstrip(".")
    counts["check_exact"] += written == true_check
    said, truth = _CLAIM.search(written), _CLAIM.search(true_check)
    if said is None:
        counts["check_unparsed"] += 1
        return
    head, claim, truth_word, verdict = said.groups()
    counts["truth_right"] += truth is not None and truth_word == truth.group(3)
    right = truth_word in claim.split(" or ") if head == "hedged" else claim == truth_word
    follows = verdict == ("right" if right else "wrong")
    counts["verdict_follows"] += follows
    # apart by case: a judge that writes `right` whatever the words gets all matches and no differences
    case = "match" if right else "differ"
    counts[f"verdict_{case}_n"] += 1
    counts[f"verdict_{case}_follows"] += follows


def tally_description(counts: collections.Counter, true_description: str, text: str) -> None:
    """Count a `describe`-trained judge's `Image shows: ...` / `Video shows: ...` / `Video 1: shows ...;`
    against the true description; judges trained without descriptions write none and are not counted."""
    found = re.search(r"\bshows:? (.*?)(?:\.\n|\.$|; colour )", text)
    if found:
        counts["described"] += 1
        counts["description_exact"] += found.group(1).strip() == true_description
        tally_objects(counts, true_description, found.group(1))


KIND_KEY = "correct_answer_kind_"  # + question kind + "_n" / "_exact" in the counts


def tally_correct_answer(counts: collections.Counter, true_answer: str, text: str, kind: str = "") -> None:
    """Count the `Correct answer:` line; with the question's `kind` (direction, order, ...) also per kind."""
    found = re.search(r"Correct answer: (.*)", text)
    exact = found is not None and found.group(1).strip() == true_answer
    counts["correct_answer_n"] += 1
    counts["correct_answer_exact"] += exact
    if kind:
        counts[f"{KIND_KEY}{kind}_n"] += 1
        counts[f"{KIND_KEY}{kind}_exact"] += exact


def said_change(description: str, question, ends: bool) -> str:
    """Whether a judge's own video description says the object a change question asks about changes the
    asked attribute: "yes", "no", or "unfound" (no phrase for that object). `becomes` descriptions say
    a change in words (`, becomes blue`), which counts only when it names the asked attribute (a colour
    word for a colour question); `ends` descriptions by an end look that differs from the start
    (`red square moving left slowly, ends blue square`)."""
    from unireward.data.shapes import COLOURS, SHAPES

    for phrase in re.split(r"; (?:then )?", description):
        words = phrase.split()
        if len(words) < 2 or (question.colour or words[0], question.shape or words[1]) != tuple(words[:2]):
            continue
        if not ends:
            becomes = re.search(r", becomes (.*)$", phrase)
            vocab = COLOURS if question.attr == "colour" else SHAPES
            return "yes" if becomes and any(w in vocab for w in becomes.group(1).split()) else "no"
        end = re.search(r", ends ([a-z]+) ([a-z]+)", phrase)
        if end is None:
            return "unfound"
        k = 0 if question.attr == "colour" else 1
        return "yes" if end.group(k + 1) != words[k] else "no"
    return "unfound"


def tally_change_reading(counts: collections.Counter, question, truth: str, text: str, ends: bool) -> None:
    """For a change question ("Does the square change colour?"): does the judge's description say a change
    (`said_change`) when there is one, and does its yes/no answer follow its own description? Separates
    the reading of the video from the step from description to answer (research log, session 13)."""
    shown = re.search(r"Video shows: (.*?)\.(?:\n|$)", text)
    answer = re.search(r"Correct answer: (Yes|No)\b", text)
    said = said_change(shown.group(1), question, ends) if shown else "unfound"
    case = "changing" if truth == "yes" else "not_changing"
    counts[f"change_{case}_n"] += 1
    counts[f"change_{case}_said_change"] += said == "yes"
    counts[f"change_{case}_unfound"] += said == "unfound"
    if answer and said != "unfound":
        counts["change_answer_n"] += 1
        counts["change_answer_follows_description"] += answer.group(1).lower() == said


def tally_question(counts: collections.Counter, prompt, text: str, describe, ends: bool) -> None:
    """An understanding answer's reading of its media: the description (`describe` writes the true one),
    the correct answer per question kind and, for change questions, the change reading."""
    from unireward.data.shapes import true_answer, und_truth

    tally_description(counts, describe(prompt.media), text)
    tally_correct_answer(counts, true_answer(prompt), text, prompt.question.kind)
    if prompt.question.kind == "change":
        (truth,) = und_truth(prompt)[0]
        tally_change_reading(counts, prompt.question, truth, text, ends)


def change_summary(counts: collections.Counter) -> dict | None:
    if not (counts["change_changing_n"] or counts["change_not_changing_n"]):
        return None
    out = {
        case: {k: counts[f"change_{case}_{k}"] for k in ("n", "said_change", "unfound")}
        for case in ("changing", "not_changing")
    }
    out["answer_follows_description"] = {
        "n": counts["change_answer_n"],
        "followed": counts["change_answer_follows_description"],
    }
    return out


def video_summary(counts: collections.Counter) -> dict:
    out: dict = {"candidates": counts["candidates"]}
    for name in VIDEO_DIMENSIONS:
        values = sorted(
            {int(k.split("/")[1]) for k in counts if k.startswith(f"{name}/") and k.endswith("/n")}
        )
        per_value = {
            str(v): {"right": counts[f"{name}/{v}/right"], "n": counts[f"{name}/{v}/n"]} for v in values
        }
        n = sum(p["n"] for p in per_value.values())
        recalls = [p["right"] / p["n"] for p in per_value.values() if p["n"]]
        out[name] = {
            "exact": round(sum(p["right"] for p in per_value.values()) / n, 4) if n else None,
            "balanced_accuracy": round(sum(recalls) / len(recalls), 4) if recalls else None,
            "by_value": per_value,
            "not_written": counts[f"{name}/not_written"],
        }
    out["score_follows_own_ratings"] = {"n": counts["score_written"], "followed": counts["score_follows"]}
    out["description"] = _description(counts)
    out["change_words"] = {
        key: {k: counts[f"change/{key}/{k}"] for k in keys}
        for key, keys in (
            ("changed", ("n", "said_right")),
            ("steady", ("n", "said_right")),
            ("said_changed", ("n", "factual_follows")),
            ("said_steady", ("n", "factual_follows")),
            ("words_differ", ("n", "follows")),
            ("words_same", ("n", "follows")),
        )
    }
    out["caption_checks"] = {
        name: {k: counts[f"asked/{name}/{k}"] for k in ("n", "seen_right", "follows", "not_written")}
        for name in ("colour", "shape", "direction", "speed")
        if counts[f"asked/{name}/n"] or counts[f"asked/{name}/not_written"]
    }
    return out


def _description(counts: collections.Counter) -> dict:
    return {"written": counts["described"], "exact": counts["description_exact"], **objects_summary(counts)}


def _description_line(d: dict) -> str:
    return f"description exact {d['exact']}/{d['written']}; {objects_line(d)}"


def answer_summary(counts: collections.Counter) -> dict:
    return {
        "description": _description(counts),
        "correct_answer": {"n": counts["correct_answer_n"], "exact": counts["correct_answer_exact"]},
        "correct_answer_by_question": {
            kind: {"n": counts[f"{KIND_KEY}{kind}_n"], "exact": counts[f"{KIND_KEY}{kind}_exact"]}
            for kind in sorted(
                k[len(KIND_KEY) : -len("_n")] for k in counts if k.startswith(KIND_KEY) and k.endswith("_n")
            )
        },
        "change_questions": change_summary(counts),
        "answers": counts["answers"],
        "check_exact": counts["check_exact"],
        "check_unparsed": counts["check_unparsed"],
        "truth_right": counts["truth_right"],
        "verdict_follows_own_claim_and_truth": counts["verdict_follows"],
        "first_departure": {
            outcome: {stage: counts[f"departure_{outcome}_{stage}"] for stage in STAGES}
            for outcome in ("right_verdict", "wrong_verdict")
        }
        if counts["departures"]
        else None,
        "verdict_follows_by_case": {
            case: {"n": counts[f"verdict_{case}_n"], "followed": counts[f"verdict_{case}_follows"]}
            for case in ("match", "differ")
        },
    }


STAGES = ("change", "order", "sides", "correct_answer", "check", "score", "verdict", "none")


def first_departure(written: str, oracle: str) -> str:
    """The first step of an understanding pair answer, after its description, that departs from the
    oracle's reasoning: the change, order or sides line (`ends-checked` and `colours-sides` judges), the
    correct answer, one answer's check (`claim ..., truth ...: right`), that answer's score, then the
    verdict; "none" when all agree. Lines are matched by their label (`Answer 2`), so a missing line
    departs where it is missing. The description is left out because it is counted on its own above and is
    often off in an object the question does not ask about."""
    said = {}
    for line in written.strip().splitlines():
        said.setdefault(line.split(":")[0].strip(), line.strip())
    for line in oracle.strip().splitlines():
        line = line.strip()
        key = line.split(":")[0]
        got = said.get(key, "")
        if "shows" in key or got == line:
            continue
        if key in ("Change", "Order", "Sides"):
            return key.lower()
        if key == "Correct answer":
            return "correct_answer"
        if key.startswith("Answer"):
            return "check" if _check_part(got) != _check_part(line) else "score"
        return "verdict"
    return "none"


def _lines(text: str, word: str) -> dict[str, str]:
    """`{"1": line, "2": line}` from a pair answer's `Video 1: ...` / `Answer 1: ...` lines."""
    return {m.group(1): m.group(2) for m in re.finditer(rf"{word} (\d): (.*)", text)}


def _check_part(line: str) -> str:
    """An understanding answer line without its score: `claim left, truth down: wrong`."""
    return re.split(r", score:? ", line)[0]


def main(argv: list[str] | None = None) -> dict:
    from unireward.bench.loaders import BENCH_FRAME_POLICY
    from unireward.data.records import shapes_labels, target_text
    from unireward.data.shapes import (
        ShapesWorld,
        answer_checks,
        describe_image,
        describe_video,
        video_alignment_checks,
        video_changes,
        video_lines,
    )
    from unireward.judge import default_model_path, load_judge, model_meta

    parser = shapes_probe_parser(
        __doc__, "reasoning_checks", n=100, n_help="pairs and points per task", seed=11
    )
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated, from %(default)s")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if unknown := [t for t in tasks if t not in TASKS]:
        parser.error(f"--tasks: {unknown} not among {TASKS} (image_gen has benchmarks/image_gen_checks.py)")

    judge = load_judge(
        args.model, decision="generate", batch_size=args.batch_size, frame_policy=BENCH_FRAME_POLICY
    )
    world = ShapesWorld(args.seed)
    describe_style = model_meta(args.model or default_model_path()).get("describe", "")
    as_read = names_reader(describe_style)
    ends = video_lines(describe_style).ends
    start = time.perf_counter()
    result = {}
    for task in tasks:
        pairs = [world.pair_example(task, args.split) for _ in range(args.n)]
        points = [world.point_example(task, args.split) for _ in range(args.n)]
        verdicts = judge.rank([p.item for p in pairs], decision="generate", swap=False, progress=True)
        scores = judge.score([p.item for p in points], decision="generate", progress=True)
        counts = {"pair": collections.Counter(), "point": collections.Counter()}
        describe = (lambda spec: describe_video(spec, ends)) if task.startswith("video") else describe_image
        for ex, verdict in zip(pairs, verdicts, strict=True):
            text = as_read(verdict.raw_text or "")
            if task == "video_gen":
                lines = _lines(text, "Video")
                for k, side, details in (("1", "a", ex.details_a), ("2", "b", ex.details_b)):
                    checks = video_alignment_checks(ex.spec["prompt"], ex.spec[side])
                    changed = video_changes(ex.spec[side])
                    tally_video(counts["pair"], details["dimensions"], lines.get(k, ""), checks, changed)
                    tally_description(counts["pair"], describe_video(ex.spec[side], ends), lines.get(k, ""))
                continue
            prompt = ex.spec["prompt"]
            tally_question(counts["pair"], prompt, text, describe, ends)
            if ex.label != "tie":
                labels = shapes_labels(task, ex, True, describe_style)
                oracle = as_read(target_text(judge.protocol, task, "pair", *labels))
                outcome = "right_verdict" if verdict.winner == ex.label else "wrong_verdict"
                counts["pair"]["departures"] += 1
                counts["pair"][f"departure_{outcome}_{first_departure(text, oracle)}"] += 1
            lines = _lines(text, "Answer")
            for k, side in (("1", "a"), ("2", "b")):
                tally_answer(
                    counts["pair"], answer_checks(prompt, ex.spec[side]), _check_part(lines.get(k, ""))
                )
        for ex, score in zip(points, scores, strict=True):
            text = as_read(score.raw_text or "")
            if task == "video_gen":
                checks = video_alignment_checks(ex.spec["prompt"], ex.spec["candidate"])
                changed = video_changes(ex.spec["candidate"])
                tally_video(counts["point"], ex.details["dimensions"], text, checks, changed)
                tally_description(counts["point"], describe_video(ex.spec["candidate"], ends), text)
                continue
            prompt = ex.spec["prompt"]
            tally_question(counts["point"], prompt, text, describe, ends)
            found = re.search(r"^Answer: (.*)$", text, re.MULTILINE)
            tally_answer(
                counts["point"], answer_checks(prompt, ex.spec["candidate"]), found.group(1) if found else ""
            )
        summarise = video_summary if task == "video_gen" else answer_summary
        result[task] = {mode: summarise(c) for mode, c in counts.items()}

    out = result_header(__file__, argv, judge, start, n=args.n, seed=args.seed, split=args.split)
    out.update(result)
    print(f"model {judge.describe().get('model')}  split {args.split}  n {args.n}")
    for task, modes in result.items():
        for mode, s in modes.items():
            if task == "video_gen":
                cells = "  ".join(
                    f"{name.split()[0]} {s[name]['exact']:.2f}/{s[name]['balanced_accuracy']:.2f}"
                    for name in VIDEO_DIMENSIONS
                    if s[name]["exact"] is not None
                )
                f = s["score_follows_own_ratings"]
                print(f"{task} {mode:<5} exact/balanced  {cells}  score follows {f['followed']}/{f['n']}")
                if (d := s["description"])["written"]:
                    print(f"{task} {mode:<5} {_description_line(d)}")
                c = s["change_words"]
                if c["changed"]["n"] + c["steady"]["n"]:
                    print(
                        f"{task} {mode:<5} own change words right: changed {c['changed']['said_right']}/"
                        f"{c['changed']['n']}, steady {c['steady']['said_right']}/{c['steady']['n']}; "
                        f"factual follows them: said changed {c['said_changed']['factual_follows']}/"
                        f"{c['said_changed']['n']}, said steady {c['said_steady']['factual_follows']}/"
                        f"{c['said_steady']['n']}"
                    )
                if c["words_differ"]["n"] + c["words_same"]["n"]:
                    print(
                        f"{task} {mode:<5} change line's yes/no follows its own two words: when they differ "
                        f"{c['words_differ']['follows']}/{c['words_differ']['n']}, when equal "
                        f"{c['words_same']['follows']}/{c['words_same']['n']}"
                    )
                for name, c in s["caption_checks"].items():
                    print(
                        f"{task} {mode:<5} caption {name}: seen right {c['seen_right']}/{c['n']}, "
                        f"0/1 follows {c['follows']}/{c['n']}, unwritten {c['not_written']}"
                    )
            else:
                ca, d = s["correct_answer"], s["description"]
                if d["written"]:
                    print(f"{task} {mode:<5} {_description_line(d)}")
                print(
                    f"{task} {mode:<5} correct answer {ca['exact']}/{ca['n']}  "
                    f"checks exact {s['check_exact']}/{s['answers']}  truth right {s['truth_right']}  "
                    f"right/wrong follows "
                    f"{s['verdict_follows_own_claim_and_truth']}  unparsed {s['check_unparsed']}"
                )
                by = s["verdict_follows_by_case"]
                print(
                    f"{task} {mode:<5} right/wrong follows when claim = truth "
                    f"{by['match']['followed']}/{by['match']['n']}, when they differ "
                    f"{by['differ']['followed']}/{by['differ']['n']}"
                )
                kinds = "  ".join(
                    f"{k} {c['exact']}/{c['n']}" for k, c in s["correct_answer_by_question"].items()
                )
                print(f"{task} {mode:<5} correct answer by question: {kinds}")
                if change := s["change_questions"]:
                    yes, no, f = (
                        change["changing"],
                        change["not_changing"],
                        change["answer_follows_description"],
                    )
                    print(
                        f"{task} {mode:<5} change questions: description says a change for "
                        f"{yes['said_change']}/{yes['n']} changing and {no['said_change']}/{no['n']} "
                        f"unchanging objects; yes/no follows the description {f['followed']}/{f['n']}"
                    )
                for outcome, stages in (s["first_departure"] or {}).items():
                    cells = "  ".join(f"{stage} {n}" for stage, n in stages.items())
                    print(f"{task} {mode:<5} {outcome}s, first step off the oracle's: {cells}")
    write_result(args.out, out)
    return out


if __name__ == "__main__":
    main()
