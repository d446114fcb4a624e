"""`deepnet dqn`: a Deep Q-Network learns a game from its screen (MinAtar) or state (CartPole)."""
from __future__ import annotations

from ..errors import InvalidValue
from ..rl import DQNConfig, DQNRun
from .arguments import given, run_settings, widths


def train(out, settings: dict, resume: bool = False, overwrite: bool = False, progress=None, log=print) -> dict:
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


NAME = "dqn"
HELP = "a Deep Q-Network learns a game by trial and error (MinAtar's games, CartPole; the rl extra)"
DESCRIPTION = ("DQN, by default with the MinAtar paper's settings: experience replay, a target network, "
                   "epsilon-greedy exploration, the Huber loss, centered RMSprop. The run directory follows deepnet "
                   "train's rules; --resume continues from the last checkpoint (only --frames may change). CartPole "
                   "learns fastest with RL Zoo's recipe: --game cartpole --optimizer adam --lr 0.0023 --hidden "
                   "256,256 --batch-size 64 --train-every 256 --gradient-steps 128 --target-update 128 "
                   "--replay-start 1000 --epsilon-frames 7000 --epsilon-end 0.04 --max-grad-norm 10.")
# options: (flag, DQNConfig field, argparse settings); left out, an option is absent (see --resume).
DQN_OPTIONS = (
    ("--game", "game", dict(help="breakout, asterix, freeway, seaquest, space_invaders (MinAtar) or cartpole")),
    ("--frames", "frames", dict(type=int, help="frames to play in all (the last episode is played to its end)")),
    ("--seed", "seed", dict(type=int, help="seed of the game, the network and the exploration")),
    ("--replay-size", "replay", dict(type=int, help="transitions the replay buffer holds; 0: no replay, each "
                                                    "transition learnt once as it happens")),
    ("--double", "double", dict(action="store_true", help="Double DQN targets")),
    ("--batch-size", "batch_size", dict(type=int, help="transitions a learning step")),
    ("--lr", "lr", dict(type=float, help="the optimizer's learning rate")),
    ("--optimizer", "optimizer", dict(choices=("rmsprop", "adam"), help="centered RMSprop with the MinAtar paper's "
                                                                         "settings, or Adam")),
    ("--hidden", "hidden", dict(type=widths, metavar="W[,W...]", help="widths of the hidden affine layers "
                                                                       "(default: 128 on MinAtar, 64,64 on CartPole)")),
    ("--train-every", "train_every", dict(type=int, help="frames between learning rounds")),
    ("--gradient-steps", "gradient_steps", dict(type=int, help="updates a learning round, each on its own batch")),
    ("--max-grad-norm", "max_grad_norm", dict(type=float, help="clip the gradients' global norm to this (0: no "
                                                               "clipping)")),
    ("--replay-start", "replay_start", dict(type=int, help="random frames before learning starts")),
    ("--epsilon-frames", "epsilon_frames", dict(type=int, help="frames over which epsilon falls to its end")),
    ("--epsilon-end", "epsilon_end", dict(type=float, help="epsilon at the end of its fall (MinAtar 0.1; "
                                                           "Nature DQN evaluates, and Dopamine trains, at 0.01)")),
    ("--target-update", "target_update", dict(type=int, help="updates between target-network copies")),
    ("--eval-every", "eval_every", dict(type=int, help="frames between evaluations and checkpoints")),
    ("--eval-episodes", "eval_episodes", dict(type=int, help="episodes an evaluation")),
)


def add_arguments(p) -> None:
    defaults = DQNConfig()
    run_settings(p, "runs/dqn", DQN_OPTIONS, lambda name: getattr(defaults, name), "continue the run in --out",
                 "replace the run in --out")
    p.add_argument("--no-progress", action="store_true")


def run(args) -> int:
    if args.resume and args.overwrite:
        raise InvalidValue("--resume continues a run and --overwrite replaces one: give only one of them")
    train(args.out, given(args, DQN_OPTIONS), resume=args.resume, overwrite=args.overwrite,
          progress=False if args.no_progress else None)
    return 0
