"""GRPO on a vision-language policy with a unireward reward (TRL GRPOTrainer).

Start the reward server first (another GPU, or the same one), then train:

    unireward serve -m CodeGoat24/UnifiedReward-qwen-7b --protocol v1-qwen --port 8000 --max-batch-size 64
    python examples/grpo_with_unireward.py --policy Qwen/Qwen2.5-VL-3B-Instruct --reward-url http://127.0.0.1:8000

Without --reward-url the reward model is loaded in this process instead (--reward-model, default: the shipped
one). The prompts here are shapes-world questions drawn offline; swap in any dataset with a conversational
"prompt" column and an "images" column. `--mode pair` rewards each answer by its win share against the
other answers to the same prompt (Pref-GRPO style) instead of its absolute score.
"""

from __future__ import annotations

import argparse
import os

from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from unireward.data.shapes import ShapesWorld
from unireward.serve.rl import make_grpo_reward


def shapes_questions(n: int, seed: int = 0) -> Dataset:
    """Image-understanding prompts: {"prompt": [user turn], "images": [PIL image]}."""
    world = ShapesWorld(seed=seed)
    rows = []
    for _ in range(n):
        item = world.point_example("image_und").item
        rows.append({"prompt": [{"role": "user", "content": item.prompt}], "images": [item.media]})
    return Dataset.from_list(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="Qwen/Qwen2.5-VL-3B-Instruct")
    parser.add_argument("--reward-url", default=None, help="A running `unireward serve`.")
    parser.add_argument("--reward-model", default=None, help="Local reward model when no --reward-url.")
    parser.add_argument("--mode", default="point", choices=["point", "pair"])
    parser.add_argument("--output-dir", default="grpo-unireward")
    parser.add_argument("--n", type=int, default=512, help="Training prompts.")
    parser.add_argument("--max-steps", type=int, default=200)
    args = parser.parse_args()

    if args.reward_url:
        reward = make_grpo_reward(
            url=args.reward_url, task="image_und", mode=args.mode, token=os.environ.get("UNIREWARD_TOKEN")
        )
    else:
        from unireward.judge import load_judge

        reward = make_grpo_reward(judge=load_judge(args.reward_model), task="image_und", mode=args.mode)

    config = GRPOConfig(
        output_dir=args.output_dir,
        per_device_train_batch_size=8,
        num_generations=8,  # pair mode compares the 8 answers to each prompt
        max_completion_length=128,
        learning_rate=1e-6,
        max_steps=args.max_steps,
        logging_steps=10,
        bf16=True,
    )
    trainer = GRPOTrainer(
        model=args.policy, reward_funcs=[reward], args=config, train_dataset=shapes_questions(args.n)
    )
    trainer.train()
    trainer.save_model(args.output_dir)


if __name__ == "__main__":
    main()
