"""Training: supervised fine-tuning of a VLM into a generative reward model that speaks a protocol.

    from unireward.train import RewardSFTConfig, train_reward_model
    out = train_reward_model(RewardSFTConfig(model=..., output_dir="rm", lora=True), [(item, target), ...])

`sft_examples` turns (item, target) pairs into a dataset; `RewardSFTCollator` loads media and masks the
loss to the answer. See `unireward.train.sft`.
"""

from unireward.train.sft import RewardSFTCollator, RewardSFTConfig, sft_examples, train_reward_model

__all__ = ["RewardSFTCollator", "RewardSFTConfig", "sft_examples", "train_reward_model"]
