"""The pairs runner: a SIGKILLed run resumes to the uninterrupted run's output byte for byte, shards merge
to the same datasets, exports load with `datasets` and pass TRL's collator, media are decoded once, and
candidates can come from folders or from a VLM sampled in the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unireward.pairs import (
    PairsConfig,
    export_run,
    generate_candidates,
    read_candidates,
    read_prompts,
    run_pairs,
    write_shapes_candidates,
)
from unireward.pairs.runner import read_log

ROOT = Path(__file__).resolve().parent.parent

KILLABLE = """
import sys
from unireward.pairs import PairsConfig, SimulatedJudge, read_candidates, run_pairs
manifest, out = sys.argv[1], sys.argv[2]
judge = SimulatedJudge.from_prompts(read_candidates(manifest), delay_s=0.15)
run_pairs(PairsConfig(out, candidates=manifest, judge="oracle", prompts_per_batch=2, progress=False), judge)
"""


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """Shapes-world manifests (with oracle scores) for every task, written once."""
    root = tmp_path_factory.mktemp("shapes")
    sizes = {"image_gen": 12, "image_und": 4, "video_gen": 4, "video_und": 4}
    return {
        t: write_shapes_candidates(root / t, t, k, n=6 if t != "image_gen" else 10) for t, k in sizes.items()
    }


def oracle_config(out, manifest, **kw):
    return PairsConfig(str(out), candidates=str(manifest), judge="oracle", progress=False, **kw)


def outputs(out: Path) -> dict[str, bytes]:
    """Every file a run leaves that must not depend on interruptions (datasets compared separately)."""
    files = ["run.json", *(p.name for p in out.glob("records-*.jsonl"))]
    files += [f"export/{p.name}" for p in (out / "export").glob("*.jsonl")]
    return {f: (out / f).read_bytes() for f in sorted(files)}


def test_sigkilled_run_resumes_to_identical_output(tmp_path, shapes):
    manifest = shapes["image_gen"]
    ref = tmp_path / "ref"
    run_pairs(oracle_config(ref, manifest, prompts_per_batch=2))

    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, str(manifest), str(out)], env=env, cwd=ROOT)
    records = out / "records-00000-of-00001.jsonl"
    deadline = time.time() + 30
    while time.time() < deadline and proc.poll() is None:
        if records.exists() and records.read_bytes().count(b"\n") >= 4:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = records.read_bytes().count(b"\n")
    assert 4 <= written < 12, "the run must be killed mid-way"
    assert not (out / "export").exists()
    with records.open("ab") as fh:  # a kill during a write leaves a torn line: it must be cut, not kept
        fh.write(b'{"index": 5, "id": "shapes-0-train-image_gen-5", "cand')

    summary = run_pairs(oracle_config(out, manifest, prompts_per_batch=2))
    assert summary.new_prompts == 12 - written and summary.prompts == 12
    assert outputs(out) == outputs(ref)
    ids = [r["id"] for r in read_log(records)]
    assert len(ids) == len(set(ids)) == 12

    from datasets import load_from_disk

    a = load_from_disk(str(out / "export/pickapic_image_gen")).to_dict()
    b = load_from_disk(str(ref / "export/pickapic_image_gen")).to_dict()
    assert a == b and len(a["caption"]) == summary.pairs > 0

    again = run_pairs(oracle_config(out, manifest, prompts_per_batch=2))  # a finished run stays as it is
    assert again.new_prompts == 0 and outputs(out) == outputs(ref)


def test_records_keep_what_a_report_needs(tmp_path, shapes):
    run_pairs(oracle_config(tmp_path, shapes["image_gen"], strategy="paper"))
    rec = read_log(tmp_path / "records-00000-of-00001.jsonl")[0]
    assert rec["calls"] == 15 and len(rec["verdicts"]) == 5 and len(rec["scores"]) == 10
    assert len(rec["candidates"]) == 10 and all(Path(c).exists() for c in rec["candidates"])
    assert {"ties", "failures", "dropped", "pairs", "strategy", "meta"} <= set(rec)
    assert len(rec["meta"]["oracle"]) == 10
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["strategy"] == "paper" and run["strategy_options"]["tie_policy"] == "drop_pair"
    assert run["reward_model"]["backend"] == "simulated"


def test_shards_merge_to_the_unsharded_output(tmp_path, shapes):
    manifest = shapes["image_gen"]
    run_pairs(oracle_config(tmp_path / "one", manifest, strategy="swiss", strategy_options={"max_pairs": 2}))
    sharded = tmp_path / "sharded"
    for i in (1, 0):
        cfg = oracle_config(
            sharded, manifest, strategy="swiss", strategy_options={"max_pairs": 2}, shard=f"{i}/2"
        )
        run_pairs(cfg)
        if i == 1:
            with pytest.raises(RuntimeError, match="shard 0/2"):
                export_run(sharded, progress=False)
    export_run(sharded, progress=False)
    a = (tmp_path / "one/export/pickapic_image_gen.jsonl").read_bytes()
    assert a == (sharded / "export/pickapic_image_gen.jsonl").read_bytes() and a


def test_resume_with_other_settings_is_refused(tmp_path, shapes):
    run_pairs(oracle_config(tmp_path, shapes["image_gen"], strategy="paper", export=False))
    with pytest.raises(ValueError, match="strategy"):
        run_pairs(oracle_config(tmp_path, shapes["image_gen"], strategy="best_worst"))


def test_exports_load_and_feed_trl(tmp_path, shapes, tiny_model_dir):
    from datasets import load_from_disk
    from PIL import Image
    from transformers import AutoProcessor
    from trl.data_utils import is_conversational
    from trl.trainer.dpo_trainer import DataCollatorForVisionPreference

    processor = AutoProcessor.from_pretrained(tiny_model_dir("qwen2_vl"))
    for task in ("image_und", "video_und", "image_gen", "video_gen"):
        out = tmp_path / task
        run_pairs(oracle_config(out, shapes[task], strategy="swiss", strategy_options={"max_pairs": 2}))
        name = {"image_und": "dpo_image_und", "video_und": "dpo_video_und"}.get(task, f"pickapic_{task}")
        ds = load_from_disk(str(out / "export" / name))
        rows = [json.loads(line) for line in (out / "export" / f"{name}.jsonl").read_text().splitlines()]
        assert len(ds) == len(rows) > 0
        for col in ("strategy", "reward_model", "verdicts", "scores", "chosen_score", "meta"):
            assert col in ds.column_names
        assert json.loads(ds[0]["reward_model"])["backend"] == "simulated"
        if task.endswith("_und"):
            assert is_conversational(ds[0])
            frames = 8 if task == "video_und" else 1
            assert len(ds[0]["images"]) == frames and isinstance(ds[0]["images"][0], Image.Image)
            assert (ds[0]["frame_policy"] is not None) == (task == "video_und")
            batch = DataCollatorForVisionPreference(processor)([dict(ds[i]) for i in range(min(2, len(ds)))])
            assert {"input_ids", "pixel_values", "completion_mask"} <= set(batch)
            assert batch["input_ids"].shape[0] == 2 * min(2, len(ds))  # chosen and rejected rows
        else:
            word = "image" if task == "image_gen" else "video"
            prompts = {p.id: p for p in read_candidates(shapes[task])}
            for row in rows:
                assert row["label_0"] in (0.0, 1.0) and row["caption"] == prompts[row["prompt_id"]].prompt
                chosen = row[f"{word}_0"] if row["label_0"] == 1.0 else row[f"{word}_1"]
                assert chosen == prompts[row["prompt_id"]].candidates[row["chosen_index"]]
            if task == "image_gen":
                assert isinstance(ds[0]["image_0"], Image.Image)


def test_real_judge_decodes_each_candidate_once(tmp_path, tiny_model_dir, monkeypatch):
    from unireward import media

    manifest = write_shapes_candidates(tmp_path / "c", "image_gen", 2, n=4)
    decoded: list[str] = []
    original = media._decode_image
    monkeypatch.setattr(
        media, "_decode_image", lambda fp, src, name: decoded.append(str(src)) or original(fp, src, name)
    )
    cfg = PairsConfig(
        str(tmp_path / "out"),
        candidates=str(manifest),
        model=tiny_model_dir("qwen2_vl"),
        strategy="paper",
        device="cpu",
        progress=False,
    )
    summary = run_pairs(cfg)
    assert summary.calls == 2 * (2 + 4)  # 2 pairs ranked + 4 candidates scored per prompt
    assert sorted(decoded) == sorted(set(decoded)) and len(decoded) == 8  # 8 files, each decoded once
    run = json.loads((tmp_path / "out/run.json").read_text())
    assert run["reward_model"]["architecture"] == "Qwen2VLForConditionalGeneration"
    rec = read_log(tmp_path / "out/records-00000-of-00001.jsonl")[0]
    assert all(v["protocol"] == "v1" and v["decision"] == "logits" for v in rec["verdicts"])


def test_vlm_sampler_candidates_in_the_run(tmp_path, tiny_model_dir):
    from tests.conftest import random_image

    random_image(1).save(tmp_path / "a.png")
    random_image(2).save(tmp_path / "b.png")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        json.dumps({"id": "q1", "task": "image_und", "prompt": "What colour is it?", "media": "a.png"})
        + "\n"
        + json.dumps({"id": "q2", "task": "image_und", "prompt": "How many circles?", "media": "b.png"})
        + "\n"
    )
    model = tiny_model_dir("qwen2_vl")
    kw = dict(
        prompts=str(prompts),
        generator="vlm",
        generator_model=model,
        model=model,
        num_candidates=4,
        max_new_tokens=4,
        strategy="best_worst",
        strategy_options={"min_margin": 0.0},
        device="cpu",
        progress=False,
    )
    run_pairs(PairsConfig(str(tmp_path / "run1"), **kw))
    run_pairs(PairsConfig(str(tmp_path / "run2"), **kw))
    a = read_log(tmp_path / "run1/records-00000-of-00001.jsonl")
    b = read_log(tmp_path / "run2/records-00000-of-00001.jsonl")
    assert [r["candidates"] for r in a] == [r["candidates"] for r in b]  # seeded per prompt id
    assert all(len(r["candidates"]) == 4 and all(isinstance(c, str) for c in r["candidates"]) for r in a)
    assert json.loads((tmp_path / "run1/run.json").read_text())["sampler"]["temperature"] == 0.7

    from unireward.pairs import VLMSampler

    sampler = VLMSampler(model, max_new_tokens=4, device="cpu")
    path = generate_candidates(sampler, read_prompts(prompts), tmp_path / "gen", n=3, progress=False)
    got = read_candidates(path)
    assert [p.id for p in got] == ["q1", "q2"] and all(len(p.candidates) == 3 for p in got)
    assert got[0].media == str((tmp_path / "a.png").resolve()) and got[0].meta["sampler"]["sampler"] == "vlm"


def test_folder_per_prompt_source(tmp_path):
    from tests.conftest import random_image

    for k in range(2):
        d = tmp_path / "gen" / f"prompt{k}"
        d.mkdir(parents=True)
        (d / "prompt.txt").write_text(f"a red circle {k}\n")
        for j in (10, 2, 1):
            random_image(j).save(d / f"img{j}.png")
        u = tmp_path / "und" / f"q{k}"
        u.mkdir(parents=True)
        (u / "prompt.txt").write_text("What colour?")
        random_image(k).save(u / "media.jpg")
        (u / "answers.json").write_text(json.dumps(["Red.", "Blue."]))
    gen = read_candidates(tmp_path / "gen", "image_gen")
    assert [p.id for p in gen] == ["prompt0", "prompt1"] and gen[0].prompt == "a red circle 0"
    assert [Path(c).name for c in gen[0].candidates] == ["img1.png", "img2.png", "img10.png"]
    und = read_candidates(tmp_path / "und", "image_und")
    assert und[1].candidates == ["Red.", "Blue."] and und[1].media.endswith("media.jpg")
    with pytest.raises(ValueError, match="needs the task"):
        read_candidates(tmp_path / "gen")


def test_ray_run_matches_local_run(tmp_path, shapes):
    pytest.importorskip("ray")
    manifest = shapes["image_gen"]
    run_pairs(oracle_config(tmp_path / "local", manifest, prompts_per_batch=3))
    run_pairs(oracle_config(tmp_path / "ray", manifest, prompts_per_batch=3, ray=True, ray_workers=2))
    assert outputs(tmp_path / "ray") == outputs(tmp_path / "local")


def _tiny_diffusion_parts(tmp: Path) -> dict:
    """A tiny random Stable Diffusion (VAE, UNet, CLIP text encoder, a character-level CLIP tokenizer),
    built offline in about a second."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    (tmp / "vocab.json").write_text(json.dumps(vocab))
    (tmp / "merges.txt").write_text("#version: 0.2\n")
    torch.manual_seed(0)
    text = CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=1,
        num_attention_heads=4,
        max_position_embeddings=16,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    return {
        "tokenizer": CLIPTokenizer(str(tmp / "vocab.json"), str(tmp / "merges.txt"), model_max_length=16),
        "text_encoder": CLIPTextModel(text),
        "vae": AutoencoderKL(
            block_out_channels=[8, 16],
            down_block_types=["DownEncoderBlock2D"] * 2,
            up_block_types=["UpDecoderBlock2D"] * 2,
            latent_channels=4,
            norm_num_groups=8,
        ),
        "unet": UNet2DConditionModel(
            block_out_channels=(8, 16),
            layers_per_block=1,
            sample_size=16,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            norm_num_groups=8,
            attention_head_dim=4,
        ),
        "scheduler": DDIMScheduler(clip_sample=False, steps_offset=1),
    }


def test_diffusers_samplers(tmp_path):
    import warnings

    from diffusers import StableDiffusionPipeline, TextToVideoSDPipeline, UNet3DConditionModel
    from PIL import Image

    from unireward.pairs import PromptSpec, TextToImageSampler, TextToVideoSampler

    parts = _tiny_diffusion_parts(tmp_path)
    pipe = StableDiffusionPipeline(
        **parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    pipe.save_pretrained(tmp_path / "sd")
    sampler = TextToImageSampler(str(tmp_path / "sd"), device="cpu", call_kwargs={"height": 32, "width": 32})
    spec = PromptSpec("p1", "image_gen", "a red circle")
    images = sampler.sample(spec, 2)
    assert len(images) == 2 and all(isinstance(i, Image.Image) and i.size == (32, 32) for i in images)
    again = sampler.sample(spec, 3)
    assert [i.tobytes() for i in again[:2]] == [i.tobytes() for i in images]  # candidate k is seeded alone
    assert sampler.describe()["num_inference_steps"] == 1 and sampler.describe()["guidance_scale"] == 0.0

    unet = UNet3DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=16,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=8,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        video_pipe = TextToVideoSDPipeline(**{**parts, "unet": unet})
    video = TextToVideoSampler(
        video_pipe, num_frames=2, num_inference_steps=1, call_kwargs={"height": 32, "width": 32}
    )
    clips = video.sample(PromptSpec("v1", "video_gen", "a red circle moving left"), 1)
    assert len(clips) == 1 and len(clips[0]) == 2 and clips[0][0].size == (32, 32)
    with pytest.raises(ValueError, match="video_gen"):
        video.sample(spec, 1)


def test_cli_pairs(tmp_path):
    from typer.testing import CliRunner

    from unireward.cli import app

    runner = CliRunner()
    help_text = runner.invoke(app, ["pairs", "--help"], terminal_width=200).output
    assert "--strategy" in help_text and "--shard" in help_text and "manifest" in help_text
    out = tmp_path / "run"
    args = ["pairs", "--shapes", "image_und:3", "--judge", "oracle", "--strategy", "swiss", "-o", str(out)]
    result = runner.invoke(app, [*args, "--option", "max_pairs=2", "--oracle-noise", "failure_rate=0"])
    assert result.exit_code == 0, result.output
    assert (out / "export/dpo_image_und.jsonl").exists()
    assert json.loads((out / "run.json").read_text())["strategy_options"]["max_pairs"] == 2
    bad = runner.invoke(app, [*args, "--option", "max_pairs"])
    assert bad.exit_code != 0 and "key=value" in bad.output


def test_export_names_a_missing_candidate_file():
    import pytest

    from unireward.pairs.export import _embedded

    with pytest.raises(FileNotFoundError, match="gone.png.*export-only"):
        _embedded("/nonexistent/gone.png")
    with pytest.raises(FileNotFoundError, match="not a local file"):
        _embedded("https://example.invalid/x.png")


def test_pairs_follow_a_model_that_records_swap(tmp_path, tiny_model_dir):
    """PairsConfig.swap None takes the judge's own setting: a model recording swap is judged both ways."""
    import shutil

    model = tmp_path / "m"
    shutil.copytree(tiny_model_dir("qwen2_vl"), model)
    (model / "unireward.json").write_text(json.dumps({"decision": "logits", "swap": True}))
    manifest = write_shapes_candidates(tmp_path / "c", "image_gen", 1, n=3)
    for name, swap, expected in (("own", None, True), ("off", False, False)):
        kw = dict(candidates=str(manifest), model=str(model), strategy="paper", device="cpu", progress=False)
        run_pairs(PairsConfig(str(tmp_path / name), swap=swap, **kw))
        assert json.loads((tmp_path / name / "run.json").read_text())["swap"] is expected
        rec = read_log(tmp_path / name / "records-00000-of-00001.jsonl")[0]
        assert all((v["swap_consistent"] is not None) is expected for v in rec["verdicts"])
