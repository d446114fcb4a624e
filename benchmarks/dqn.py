#!/usr/bin/env python
"""The DQN's figures (the book's 8.5.4): MinAtar Breakout over several seeds, the same without experience replay
(the MinAtar paper's ablation), and CartPole-v1, each a `deepnet dqn` run in a fresh process, resumed where a
killed benchmark left it.

    python benchmarks/dqn.py [--frames 1000000] [--seeds 0 1 2] [--small-epsilon-seeds 0 1 2]
                             [--no-replay-seed 0] [--cartpole-steps 100000] [--runs runs/dqn-bench] [--out DIR]

--seeds run the MinAtar paper's settings (epsilon falls to 0.1); --small-epsilon-seeds the same with epsilon
falling to 0.01 (Dopamine's training epsilon, and the one the evaluations use), named breakout_eps0.01_seedS.

Writes dqn.json (per run: the mean return of the last 100 training episodes, the evaluations, frames per
second of the whole loop) and dqn.png (each run's running mean return against frames).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def dqn(out: Path, options) -> dict:
    cmd = [sys.executable, "-m", "deepnet", "dqn", "--no-progress", "--out", str(out)]
    cmd += ["--resume", *map(str, options[:2])] if (out / "config.json").is_file() else list(map(str, options))
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return json.loads((out / "history.json").read_text())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=1_000_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--small-epsilon-seeds", type=int, nargs="*", default=[0, 1, 2])
    p.add_argument("--no-replay-seed", type=int, default=0)
    p.add_argument("--cartpole-steps", type=int, default=100_000, help="0: no CartPole run")
    p.add_argument("--runs", default="runs/dqn-bench")
    p.add_argument("--out", default=str(C.RESULTS / "applications" / "dqn"))
    args = p.parse_args(argv)
    import numpy as np

    runs = Path(args.runs)
    plan = {f"breakout_seed{s}": ["--frames", args.frames, "--game", "breakout", "--seed", s] for s in args.seeds}
    for s in args.small_epsilon_seeds:
        plan[f"breakout_eps0.01_seed{s}"] = ["--frames", args.frames, "--game", "breakout", "--seed", s,
                                             "--epsilon-end", 0.01]
    plan[f"breakout_no_replay_seed{args.no_replay_seed}"] = ["--frames", args.frames, "--game", "breakout", "--seed",
                                                             args.no_replay_seed, "--replay-size", 0]
    if args.cartpole_steps:  # 0 leaves CartPole out
        plan["cartpole_seed0"] = ["--frames", args.cartpole_steps, "--game", "cartpole", "--seed", 0, "--replay-start",
                                  1000, "--epsilon-frames", 10000, "--eval-every", 10000]
    result = {}
    for name, options in plan.items():
        history = dqn(runs / name, options)
        episodes = history["episodes"]
        last = [r for _, r in episodes[-100:]]
        evals = history["evaluations"]
        result[name] = {"options": list(map(str, options)), "frames": episodes[-1][0] if episodes else 0,
                        "episodes": len(episodes), "last100_mean_return": float(np.mean(last)) if last else 0.0,
                        "evaluations": evals, "frames_per_second": evals[-1]["frames_per_second"] if evals else None}
        print(f"{name}: last-100 return {result[name]['last100_mean_return']:.2f} after {result[name]['frames']:,} "
              f"frames, {result[name]['frames_per_second'] or 0:.0f} frames/s", flush=True)
    C.write_results(args.out, "dqn", {"results": result, "machine": C.machine(),
                                      "command": " ".join(["python", "benchmarks/dqn.py", *(argv or sys.argv[1:])])},
                    draw=lambda png: draw(png, runs, plan))


def draw(png, runs, plan):
    import numpy as np

    plt = C.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name in plan:
        if name.startswith("cartpole"):
            continue
        episodes = json.loads((runs / name / "history.json").read_text())["episodes"]
        f = np.array([e[0] for e in episodes], float)
        r = np.array([e[1] for e in episodes], float)
        k = np.minimum(np.arange(1, len(r) + 1), 100)
        c = np.concatenate([[0.0], np.cumsum(r)])
        ax.plot(f, (c[1:] - c[np.arange(len(r)) + 1 - k]) / k, label=name)
    ax.set_xlabel("frames")
    ax.set_ylabel("mean return of the last 100 episodes")
    ax.set_title("DQN on MinAtar Breakout")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    C.save_png(fig, png)


if __name__ == "__main__":
    main()
