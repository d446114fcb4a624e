"""`deepnet dqn`: a Deep Q-Network learns a game from its screen (MinAtar) or state (CartPole)."""
from __future__ import annotations

from ..rl import DQNConfig, DQNRun


def run(out, settings: dict, resume: bool = False, overwrite: bool = False, progress=None, log=print) -> dict:
    """Start (or with `resume`, continue) a DQN run in `out`; `settings` are the options given (DQNConfig's
    fields), the rest default."""
    if resume:
        dqn = DQNRun.resume(out, changes=settings, log=log, progress=progress)
        log(f"Resuming {out} at frame {dqn.frame:,}")
    else:
        dqn = DQNRun.start(DQNConfig(**settings), out, overwrite=overwrite, log=log, progress=progress)
    summary = dqn.train()
    log(f"{summary['frames']:,} frames, {summary['episodes']:,} episodes: mean return of the last 100 training "
        f"episodes {summary['last100']:.2f}, {summary['frames_per_second']:.0f} frames/s; run in {out} "
        f"(curve.png, history.json)")
    return summary
