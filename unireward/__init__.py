"""unireward: unified multimodal reward modelling (UnifiedReward, arXiv 2503.05236) as software."""

from unireward.judge import Judge, JudgeConfig, load_judge
from unireward.media import FramePolicy, MediaError
from unireward.tasks import Failure, Mode, PairItem, PointItem, Score, Task, Verdict

__version__ = "0.1.0"

__all__ = [
    "FramePolicy",
    "Failure",
    "Judge",
    "JudgeConfig",
    "MediaError",
    "Mode",
    "PairItem",
    "PointItem",
    "Score",
    "Task",
    "Verdict",
    "load_judge",
]
