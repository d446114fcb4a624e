#!/usr/bin/env python
"""Where a DQN run's time goes: the game's steps, acting (the network's forward for one screen when greedy),
the replay buffer (adding a transition, drawing a batch) and learning (the target network's forward, the
training step, the target copies, the rest of building a batch's targets), in a `deepnet dqn` run with the
MinAtar paper's settings.

    DEEPNET_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/dqn_profile.py [--game breakout] [--frames 30000]
                                                                              [--replay-start 5000] [--tag TAG]

Plays --frames frames of a fresh run in a temporary directory (whole episodes, no evaluation), each phase timed
with perf_counter around its call. Prints seconds and shares, and frames per second before and after learning
starts; writes results/applications/dqn/dqn_profile[_TAG].json.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

#: the phases the loop calls directly; learning's parts are timed inside "learn"
TOP = ("game", "act", "replay add", "replay sample", "learn")
INSIDE_LEARN = ("target forward", "train step", "target copy")


def profile(game: str, frames: int, replay_start: int, seed: int = 0) -> dict:
    from deepnet.rl import DQNConfig, DQNRun

    seconds = defaultdict(float)

    def timed(name, fn):
        def run(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                seconds[name] += time.perf_counter() - t0
        return run

    cfg = DQNConfig(game=game, frames=frames, seed=seed, replay_start=replay_start)
    with tempfile.TemporaryDirectory() as tmp:
        run = DQNRun.start(cfg, Path(tmp) / "run", log=lambda *a: None, progress=False)
        try:
            run.game.step = timed("game", run.game.step)
            run.act = timed("act", run.act)
            if run.replay is not None:
                run.replay.add = timed("replay add", run.replay.add)
                run.replay.sample = timed("replay sample", run.replay.sample)
            run.learn = timed("learn", run.learn)
            run.target.forward = timed("target forward", run.target.forward)
            run.online.train_step = timed("train step", run.online.train_step)
            run.target.load_state = timed("target copy", run.target.load_state)
            start = time.perf_counter()
            split = None  # (frame, seconds) when learning began
            while run.frame < frames:
                run._episode()
                if split is None and run.frame >= replay_start:
                    split = (run.frame, time.perf_counter() - start)
            total = time.perf_counter() - start
        finally:
            run.directory.close()
    learn_rest = seconds["learn"] - sum(seconds[k] for k in INSIDE_LEARN)
    phases = {k: seconds[k] for k in TOP}
    phases["loop (the rest)"] = total - sum(phases.values())
    learning = {k: seconds[k] for k in INSIDE_LEARN}
    learning["targets and transfers (the rest)"] = learn_rest
    f0, s0 = split or (run.frame, total)
    return {"game": game, "frames": run.frame, "replay_start": replay_start, "seconds": total,
            "frames_per_second": run.frame / total,
            "frames_per_second_before_learning": f0 / s0 if s0 else None,
            "frames_per_second_learning": (run.frame - f0) / (total - s0) if total > s0 else None,
            "updates": run.updates, "phases_s": phases, "learn_s": learning}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--game", default="breakout")
    p.add_argument("--frames", type=int, default=30_000)
    p.add_argument("--replay-start", type=int, default=5_000)
    p.add_argument("--seed", type=int, default=0)
    C.output_options(p)
    p.set_defaults(out=str(C.RESULTS / "applications" / "dqn"))
    args = p.parse_args(argv)
    r = profile(args.game, args.frames, args.replay_start, args.seed)
    total = r["seconds"]
    print(f"DQN on {r['game']}: {r['frames']:,} frames in {total:.1f} s ({r['frames_per_second']:.0f} frames/s; "
          f"{r['frames_per_second_before_learning'] or 0:.0f} before learning starts, "
          f"{r['frames_per_second_learning'] or 0:.0f} after), {r['updates']:,} updates")
    for name, s in r["phases_s"].items():
        print(f"  {name:<34}{s:8.2f} s {100 * s / total:6.1f}%")
    for name, s in r["learn_s"].items():
        print(f"    learn: {name:<25}{s:8.2f} s {100 * s / total:6.1f}%")
    name = "dqn_profile" + (f"_{args.tag}" if args.tag else "")
    payload = {"benchmark": "dqn_profile", "command": " ".join(["python", "benchmarks/dqn_profile.py",
                                                                *(argv if argv is not None else sys.argv[1:])]),
               "timestamp": C.stamp(), "machine": C.machine(), **r}
    C.write_results(Path(args.out), name, payload)
    return payload


if __name__ == "__main__":
    main()
