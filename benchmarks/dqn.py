#!/usr/bin/env python
"""The DQN's figures (the book's 8.5.4): MinAtar Breakout over several seeds, the same without experience replay
(the MinAtar paper's ablation), and CartPole-v1, each a `deepnet dqn` run in a fresh process, resumed where a
killed benchmark left it.

    python benchmarks/dqn.py [--frames 1000000] [--seeds 0 1 2] [--small-epsilon-seeds 0 1 2]
                             [--no-replay-seed 0] [--cartpole-steps 100000] [--cartpole-seeds 0 1 2]
                             [--runs runs/dqn-bench] [--out DIR]

--seeds run the MinAtar paper's settings (epsilon falls to 0.1); --small-epsilon-seeds the same with epsilon
falling to 0.01 (Dopamine's training epsilon, and the one the evaluations use), named breakout_eps0.01_seedS.
CartPole runs once with the MinAtar settings (cartpole_seed0) and with RL Zoo's DQN recipe for it
(cartpole_zoo_seedS: Adam, 256x256, 128 updates every 256 steps, ...; CARTPOLE_RECIPE), evaluating 100
episodes every 10,000 steps; the network of each recipe run's best evaluation (best.npz) then plays 100 new
episodes, greedy, apart from the run.

Writes dqn.json (per run: the mean return of the last 100 training episodes, the evaluations, frames per
second of the whole loop; for CartPole the first step at which an evaluation averaged 475 or more, and the
replayed best network's returns) and dqn.png (each run's running mean return against frames).
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


#: RL Zoo's DQN hyperparameters for CartPole-v1 (rl-baselines3-zoo, hyperparams/dqn.yml), in deepnet dqn's
#: options: exploration over its first 8,000 steps (1,000 random, 7,000 falling to 0.04), the target copied
#: after each round of 128 updates (its copy every 10 steps falls between rounds).
CARTPOLE_RECIPE = ["--optimizer", "adam", "--lr", 0.0023, "--hidden", "256,256", "--batch-size", 64,
                   "--train-every", 256, "--gradient-steps", 128, "--target-update", 128, "--replay-start", 1000,
                   "--epsilon-frames", 7000, "--epsilon-end", 0.04, "--max-grad-norm", 10, "--eval-every", 10000,
                   "--eval-episodes", 100]
SOLVED = 475  # CartPole-v1's threshold: a mean return of 475 over 100 episodes


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=1_000_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--small-epsilon-seeds", type=int, nargs="*", default=[0, 1, 2])
    p.add_argument("--no-replay-seed", type=int, default=0)
    p.add_argument("--cartpole-steps", type=int, default=100_000, help="0: no CartPole run")
    p.add_argument("--cartpole-seeds", type=int, nargs="*", default=[0, 1, 2], help="seeds of the RL Zoo recipe")
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
        for s in args.cartpole_seeds:
            plan[f"cartpole_zoo_seed{s}"] = ["--frames", args.cartpole_steps, "--game", "cartpole", "--seed", s,
                                             *CARTPOLE_RECIPE]
    result = {}
    for name, options in plan.items():
        history = dqn(runs / name, options)
        episodes = history["episodes"]
        last = [r for _, r in episodes[-100:]]
        evals = history["evaluations"]
        result[name] = {"options": list(map(str, options)), "frames": episodes[-1][0] if episodes else 0,
                        "episodes": len(episodes), "last100_mean_return": float(np.mean(last)) if last else 0.0,
                        "evaluations": evals, "frames_per_second": evals[-1]["frames_per_second"] if evals else None}
        if name.startswith("cartpole"):
            result[name].update(cartpole(runs / name, episodes, evals, int(options[options.index("--seed") + 1])))
        print(f"{name}: last-100 return {result[name]['last100_mean_return']:.2f} after {result[name]['frames']:,} "
              f"frames, {result[name]['frames_per_second'] or 0:.0f} frames/s", flush=True)
    C.write_results(args.out, "dqn", {"results": result, "machine": C.machine(),
                                      "command": " ".join(["python", "benchmarks/dqn.py", *(argv or sys.argv[1:])])},
                    draw=lambda png: draw(png, runs, plan))


def running_mean(episodes, k=100):
    import numpy as np

    f = np.array([e[0] for e in episodes], float)
    r = np.array([e[1] for e in episodes], float)
    n = np.minimum(np.arange(1, len(r) + 1), k)
    c = np.concatenate([[0.0], np.cumsum(r)])
    return f, (c[1:] - c[np.arange(len(r)) + 1 - n]) / n


def cartpole(run, episodes, evals, seed) -> dict:
    """When an evaluation of 100 episodes first averaged SOLVED or more, the best last-100 training mean, and the
    network of the best evaluation (best.npz) replayed: 100 new episodes, greedy, the game seeded apart from the
    run's."""
    import numpy as np

    from deepnet.rl import play_saved

    solved = [e["frame"] for e in evals if e["eval_mean"] >= SOLVED and len(e["eval_returns"]) >= 100]
    _, means = running_mean(episodes)
    full = means[99:] if len(means) >= 100 else means[-1:]
    out = {"first_solved_evaluation_frame": solved[0] if solved else None,
           "best_evaluation": max(e["eval_mean"] for e in evals) if evals else None,
           "best_last100_training": float(full.max()) if len(full) else None}
    if (run / "best.npz").is_file():
        returns = play_saved(run / "best.npz", episodes=100, seed=20_000 + seed, epsilon=0.0)
        out["best_replayed"] = {"episodes": 100, "epsilon": 0.0, "seed": 20_000 + seed,
                                "mean": float(np.mean(returns)), "min": float(np.min(returns))}
    return out


def draw(png, runs, plan):
    plt = C.pyplot()
    fig, (ax, cp) = plt.subplots(1, 2, figsize=(12, 4))
    for name in plan:
        history = json.loads((runs / name / "history.json").read_text())
        f, mean = running_mean(history["episodes"])
        if not name.startswith("cartpole"):
            ax.plot(f, mean, label=name)
            continue
        line, = cp.plot(f, mean, label=f"{name}: last 100 training episodes")
        e = history["evaluations"]
        cp.plot([x["frame"] for x in e], [x["eval_mean"] for x in e], "o", color=line.get_color(), ms=4)
    ax.set_xlabel("frames")
    ax.set_ylabel("mean return of the last 100 episodes")
    ax.set_title("DQN on MinAtar Breakout")
    cp.axhline(SOLVED, color="gray", ls=":", lw=1)
    cp.set_xlabel("steps")
    cp.set_ylabel("return (dots: evaluations)")
    cp.set_title("DQN on CartPole-v1")
    ax.legend(fontsize=7)
    cp.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    for a in (ax, cp):
        a.grid(alpha=0.3)
    C.save_png(fig, png)


if __name__ == "__main__":
    main()
