"""Preference pairs for DPO, chosen by a reward model: candidate sources, selection strategies, a resumable
runner and dataset exports. See `unireward.pairs.runner` for the run layout and guarantees."""

from unireward.pairs.export import FORMATS, write_exports
from unireward.pairs.report import write_report
from unireward.pairs.runner import PairsConfig, RunSummary, export_run, generate_candidates, run_pairs
from unireward.pairs.sources import (
    PromptSpec,
    SimulatedJudge,
    SimulatedNoise,
    TextToImageSampler,
    TextToVideoSampler,
    VLMSampler,
    read_candidates,
    read_prompts,
    shapes_prompts,
    write_shapes_candidates,
)
from unireward.pairs.strategies import (
    STRATEGIES,
    BestWorst,
    ChosenPair,
    Paper,
    PromptCandidates,
    RoundRobin,
    Selection,
    Strategy,
    Swiss,
    bradley_terry,
    get_strategy,
    select,
    select_many,
)

__all__ = [
    "write_report",
    "FORMATS",
    "STRATEGIES",
    "BestWorst",
    "ChosenPair",
    "PairsConfig",
    "Paper",
    "PromptCandidates",
    "PromptSpec",
    "RoundRobin",
    "RunSummary",
    "Selection",
    "SimulatedJudge",
    "SimulatedNoise",
    "Strategy",
    "Swiss",
    "TextToImageSampler",
    "TextToVideoSampler",
    "VLMSampler",
    "bradley_terry",
    "export_run",
    "generate_candidates",
    "get_strategy",
    "read_candidates",
    "read_prompts",
    "run_pairs",
    "select",
    "select_many",
    "shapes_prompts",
    "write_exports",
    "write_shapes_candidates",
]
