"""The Deep Q-Network (Mnih et al., 2015; the book's 8.5.4), with the MinAtar paper's settings (Young & Tian, 2019):

    network:   conv3x3 16 (no padding), ReLU, affine 128, ReLU, affine to one Q-value per action (MinAtar); for
               a vector observation (CartPole), affine 64, ReLU, affine 64, ReLU, affine per action (the hidden
               widths are `hidden`)
    acting:    uniformly random for the first `replay_start` frames, then epsilon-greedy with epsilon falling
               linearly from 1.0 to 0.1 over `epsilon_frames` frames
    learning:  every frame, a batch of 32 transitions from the replay buffer (100,000 of them); the Huber loss
               between Q(s, a) and r + gamma (1 - done) max_a' Q_target(s', a') (Double DQN: Q_target(s',
               argmax_a' Q(s', a'))); centered RMSprop (lr 0.00025, rho 0.95, momentum 0.95, eps 0.01)
    target:    the online network's weights copied every 1,000 updates
    episodes:  an end the game's rules reach (a lost game) stops the bootstrap; a time-limit cut (CartPole's 500
               steps) ends the episode but not the return, so its target bootstraps from the next state
Other recipes are options: `train_every` frames between learning rounds of `gradient_steps` updates each,
Adam in place of RMSprop, the gradients' global norm clipped (RL Zoo's CartPole recipe uses all three).
Without replay (`replay = 0`, the paper's ablation) each transition is learnt once, as it happens.

A run directory holds config.json, last.npz (both networks, the optimizer, the replay buffer's transitions and
position, every random state, the returns so far), best.npz (the online network at its best evaluation so far:
DQN's returns can rise and collapse, on CartPole above all), history.json (each episode's return and frame; the
evaluations), curve.png and frames.png. Checkpoints are taken at the end of an episode, so `--resume` continues
the same run from there.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from .. import io, optimizers, plots
from ..backends import current
from ..errors import BadFile, InvalidValue
from ..initializers import shapes_only
from ..layers import Affine, Convolution, HuberQLoss, Relu
from ..models.sequential import Sequential
from ..training import state
from ..training.engine import Engine, Extension, Updater
from ..training.rundir import RunDirectory
from ..validation import (Field, check, choice, flag, generator_state, is_real, is_whole, real, records,
                          whole, widths)
from . import envs
from .replay import Replay

OPTIMIZERS = ("rmsprop", "adam")
MAX_SEED = 2**32 - 1 - 10_000  # the evaluation game is seeded with seed + 10,000; NumPy's legacy seeds are 32-bit
MAX_HIDDEN = 65_536            # units in one hidden layer
MAX_PARAMETERS = 1 << 26       # in the Q-network: 256 MiB of float32, about 1 GiB with its target and optimizer
@dataclasses.dataclass
class DQNConfig:
    game: str = "breakout"
    frames: int = 1_000_000
    seed: int = 0
    replay: int = 100_000          # transitions held; 0 learns each transition once, as it happens
    batch_size: int = 32
    replay_start: int = 5_000
    target_update: int = 1_000     # updates between copies to the target network
    epsilon_frames: int = 100_000
    epsilon_end: float = 0.1
    gamma: float = 0.99
    lr: float = 0.00025
    double: bool = False
    train_every: int = 1           # frames between learning rounds
    gradient_steps: int = 1        # updates a learning round, each on its own batch
    hidden: list | None = None     # widths of the hidden affine layers; None: MinAtar's [128], vectors' [64, 64]
    optimizer: str = "rmsprop"     # centered RMSprop with the paper's settings, or "adam"
    max_grad_norm: float = 0.0     # the gradients' global L2 norm clipped to this; 0: no clipping
    eval_every: int = 50_000       # frames between evaluations (and checkpoints)
    eval_episodes: int = 10
    eval_epsilon: float = 0.01

    #: may change on resume
    RESUMABLE = ("frames",)

    @classmethod
    def from_saved(cls, saved: dict) -> DQNConfig:
        """The settings a run saved (config.json, a checkpoint's meta), other keys ignored."""
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in fields})

    def validate(self) -> None:
        """Every setting's type and bounds (FIELDS), from the command line or a run's files, then how they
        combine, before anything is built."""
        if isinstance(self.game, str):
            self.game = self.game.lower().replace("-", "_")
        check(dataclasses.asdict(self), FIELDS)
        if self.replay and self.replay < self.batch_size:
            raise InvalidValue(f"`replay` {self.replay} holds fewer transitions than a batch ({self.batch_size})",
                               parameters=("replay",))
        if self.hidden is not None:
            self.hidden = list(self.hidden)
        if not self.replay and (self.train_every, self.gradient_steps) != (1, 1):
            raise InvalidValue("without replay each transition is learnt once, as it happens: `train_every` and "
                               "`gradient_steps` must stay 1", parameters=("train_every", "gradient_steps"))

    def make_optimizer(self) -> optimizers.Optimizer:
        if self.optimizer == "adam":
            return optimizers.Adam(lr=self.lr)
        return optimizers.RMSprop(lr=self.lr, decay_rate=0.95, eps=0.01, centered=True, momentum=0.95)


#: What each setting must be (deepnet.validation).
FIELDS = {
    "game": choice(*envs.GAMES), "frames": whole(1), "seed": whole(0, MAX_SEED), "replay": whole(0),
    "batch_size": whole(1), "replay_start": whole(0), "target_update": whole(1), "epsilon_frames": whole(0),
    "epsilon_end": real(0, 1), "gamma": real(0, 1), "lr": real(0, above=True), "double": flag(),
    "train_every": whole(1), "gradient_steps": whole(1), "hidden": widths(64, MAX_HIDDEN) | None,
    "optimizer": choice(*OPTIMIZERS), "max_grad_norm": real(0), "eval_every": whole(1), "eval_episodes": whole(1),
    "eval_epsilon": real(0, 1),
}


def q_network(observation_shape, num_actions: int, dtype=None, hidden=None) -> list:
    """The MinAtar paper's network for (C, H, W) observations (a 3x3 convolution of 16 channels, then `hidden`
    affine layers, [128] by default), a perceptron for vectors ([64, 64] by default); ReLU between."""
    layers = []
    if len(observation_shape) == 3:
        c, h, w = observation_shape
        layers += [Convolution(c, 16, 3, dtype=dtype), Relu()]
        width, hidden = 16 * (h - 2) * (w - 2), [128] if hidden is None else hidden
    else:
        (width,) = observation_shape
        hidden = [64, 64] if hidden is None else hidden
    for units in hidden:
        layers += [Affine(width, units, dtype=dtype), Relu()]
        width = units
    return layers + [Affine(width, num_actions, dtype=dtype)]


def check_size(observation_shape, num_actions: int, hidden) -> None:
    """Refuse a Q-network of more than MAX_PARAMETERS parameters before any weight is allocated."""
    with shapes_only():
        layers = q_network(observation_shape, num_actions, hidden=hidden)
    total = sum(int(np.prod(a.shape)) for layer in layers for a in layer.params().values())
    if total > MAX_PARAMETERS:
        raise InvalidValue(f"`hidden` {','.join(map(str, hidden or []))} makes a Q-network of {total:,} parameters "
                           f"on this game; at most {MAX_PARAMETERS:,} are built", parameters=("hidden",))


def play_saved(path, episodes: int = 100, seed: int = 10_000, epsilon: float = 0.0) -> list[float]:
    """The returns of `episodes` new episodes (the game seeded with `seed`) played by the network saved in a DQN
    run's best.npz (or last.npz), epsilon-greedy with `epsilon` (0: greedy): a check of a saved agent apart
    from the run that made it."""
    arrays, meta = io.load_arrays(path)
    if not isinstance(meta, dict) or meta.get("model") != "dqn" or not isinstance(meta.get("config"), dict):
        raise InvalidValue(f"{path} is not a DQN run's checkpoint (best.npz or last.npz of deepnet dqn)")
    cfg = DQNConfig.from_saved(meta["config"])
    weights = {k[7:]: a for k, a in arrays.items() if k.startswith("online/")} or arrays  # last.npz or best.npz
    game = envs.make(cfg.game, seed)
    shape = game.observation_shape
    net = Sequential(q_network(shape, game.num_actions, hidden=cfg.hidden), input_shape=shape)
    net.load_state(weights, str(path))
    rng = np.random.default_rng(seed)
    return [play_episode(game, net, epsilon, rng) for _ in range(episodes)]


def epsilon_greedy(net, obs, epsilon: float, rng, num_actions: int) -> int:
    """A random action with probability epsilon, else the one of the highest Q-value."""
    if rng.random() < epsilon:
        return int(rng.integers(num_actions))
    bk = current()
    return int(bk.to_numpy(net.forward(bk.to_device(obs[None].astype(np.float32))))[0].argmax())


def play_episode(game, net, epsilon: float, rng, max_steps: int = 100_000) -> float:
    """The return of one episode of `game` played epsilon-greedy by `net` (cut after max_steps)."""
    obs, done, total, steps = game.reset(), False, 0.0, 0
    while not done and steps < max_steps:
        obs, r, terminal, cut = game.step(epsilon_greedy(net, obs, epsilon, rng, game.num_actions))
        total, done, steps = total + r, terminal or cut, steps + 1
    return total


def epsilon_at(frame: int, cfg: DQNConfig) -> float:
    """MinAtar's schedule: 1 during the random start, then linear to epsilon_end over epsilon_frames."""
    if frame < cfg.replay_start:
        return 1.0
    if cfg.epsilon_frames == 0:
        return cfg.epsilon_end
    done = min(1.0, (frame - cfg.replay_start) / cfg.epsilon_frames)
    return 1.0 + (cfg.epsilon_end - 1.0) * done


#: A DQN checkpoint: its kind and the metadata every run's holds (training/state.py); the optimizer's type and the
#: replay buffer's size depend on the run's settings (checked_checkpoint).
KIND = state.Declared("deepnet-dqn", "DQN", legacy_model="dqn", fields={
    "frame": whole(0), "updates": whole(0), "seconds": real(0),
    "episodes": Field("a list of [frame, return] pairs", lambda v: isinstance(v, list) and all(
        isinstance(e, list) and len(e) == 2 and all(is_real(x) for x in e) for e in v)),
    "evaluations": records(), "rng": generator_state(dict), "backend_rng": generator_state(dict, list),
    "game_rng": generator_state(dict, list), "eval_game_rng": generator_state(dict, list)})


def checked_checkpoint(path, index: dict, meta: dict, run: DQNRun) -> dict:
    """{array name: shape} a DQN checkpoint must hold for `run`, after its metadata is checked (training/state.py):
    counters and records of their types, an optimizer of the run's kind, a replay buffer that fits the run's, and
    every array one the run holds, of its shape (from the file's headers, before any array is read). Raises
    BadFile."""
    kind = type(run.optimizer).__name__.lower()
    fields = {**KIND.fields, "optimizer": Field(f"the settings of the run's {run.cfg.optimizer}",
                                                lambda v: isinstance(v, dict) and v.get("type") == kind)}
    if run.replay is None:
        fields["replay"] = Field("none: the run's settings have no replay buffer (replay 0)", lambda v: v is None)
    else:
        capacity = run.replay.capacity
        fields["replay"] = Field(
            f"the size and position of a buffer of {capacity:,} transitions",
            lambda v: isinstance(v, dict) and is_whole(v.get("size")) and is_whole(v.get("position"))
            and 0 <= v["size"] <= capacity and 0 <= v["position"] < capacity)
    state.check_meta(path, meta, state.Declared(KIND.format, KIND.what, KIND.legacy_model, fields))
    arrays = {f"{tag}/{k}": tuple(a.shape) for tag, net in (("online", run.online), ("target", run.target))
              for k, a in net.state().items()}
    if run.replay is not None:
        arrays.update({f"replay/{k}": (meta["replay"]["size"], *getattr(run.replay, k).shape[1:])
                       for k in run.replay.FIELDS})
    # the optimizer's slots are there once it has stepped; their names are the online network's parameters
    params = {k: tuple(a.shape) for k, a in run.online.params().items()}
    optional = {key: params[key.split("/", 2)[2]] for key in index
                if key.startswith("optim/") and key.count("/") == 2 and key.split("/", 2)[2] in params}
    return state.check_arrays(path, index, state.Declared(KIND.format, KIND.what, arrays=arrays, optional=optional))


class DQNRun(Updater):
    """A DQN run in a directory: `DQNRun.start(cfg, out)` or `DQNRun.resume(out, frames)`, then `train()`. It is
    the DQN's updater on the run engine (training/engine.py): a step plays one episode, learning as it goes; a
    round ends at the first episode's end after every eval_every frames (and at the end), with an evaluation and
    a checkpoint; the pictures come at the end."""

    command, format, compress = "dqn", "deepnet-dqn", True
    unit, bar_per_round = "frame", False

    def __init__(self, cfg: DQNConfig, out, directory: RunDirectory, log=print, progress=None):
        cfg.validate()
        self.cfg, self.out, self.directory, self.log, self.progress = cfg, Path(out), directory, log, progress
        bk = current()
        bk.rng.seed(cfg.seed)
        self.rng = np.random.default_rng([cfg.seed, 1])  # exploration and batch draws
        self.game = envs.make(cfg.game, cfg.seed)
        self.eval_game = envs.make(cfg.game, cfg.seed + 10_000)
        shape, actions = self.game.observation_shape, self.game.num_actions
        check_size(shape, actions, cfg.hidden)
        self.online = Sequential(q_network(shape, actions, hidden=cfg.hidden), loss=HuberQLoss(), input_shape=shape)
        self.target = Sequential(q_network(shape, actions, hidden=cfg.hidden), input_shape=shape)
        self.target.load_state(self.online.state_numpy())
        self.optimizer = cfg.make_optimizer()
        self.replay = Replay(cfg.replay, shape, self.game.observation_dtype) if cfg.replay else None
        self.frame = self.updates = 0
        self.episodes: list[list] = []  # [frame at its end, return]
        self.evaluations: list[dict] = []
        self.seconds = 0.0

    # --- construction ---------------------------------------------------------------------------------
    @classmethod
    def start(cls, cfg: DQNConfig, out, overwrite: bool = False, **kwargs) -> DQNRun:
        cfg.validate()
        game = envs.make(cfg.game, cfg.seed)  # the network's size is refused before --overwrite deletes anything
        check_size(game.observation_shape, game.num_actions, cfg.hidden)
        directory = RunDirectory(out, "dqn").open(overwrite=overwrite)
        try:
            return cls(cfg, out, directory, **kwargs)
        except BaseException:
            directory.close()
            raise

    @classmethod
    def resume(cls, out, changes: dict | None = None, **kwargs) -> DQNRun:
        directory = RunDirectory(out, "dqn")
        directory.require_run()
        saved, source = directory.read_config()
        directory.check_changes(saved, dict(changes or {}), DQNConfig.RESUMABLE)
        cfg = DQNConfig.from_saved(saved)
        try:
            cfg.validate()
        except InvalidValue as exc:
            raise BadFile(f"{source}: its settings are not a DQN run's: {exc.render(repr)}") from None
        for k, v in (changes or {}).items():
            if k in DQNConfig.RESUMABLE:
                setattr(cfg, k, v)
        directory.open(resume=True)
        try:
            run = cls(cfg, out, directory, **kwargs)
            run._load(directory.path / "last.npz")
        except BaseException:
            directory.close()
            raise
        if run.frame > cfg.frames and cfg.frames < int(saved.get("frames", 0)):  # fewer than it was asked for
            directory.close()
            raise InvalidValue(f"{out} has played {run.frame:,} frames already; `frames` {cfg.frames:,} would end "
                               f"before that", parameters=("frames",))
        return run

    # --- the loop ---------------------------------------------------------------------------------------
    def act(self, obs, epsilon: float, rng) -> int:
        return epsilon_greedy(self.online, obs, epsilon, rng, self.game.num_actions)

    def learn(self, obs, action, reward, next_obs, done) -> float:
        """One update on a batch of transitions; `done` marks those whose next state ends the return (no
        bootstrap). Returns the loss."""
        bk = current()
        xp = bk.xp
        x2 = bk.to_device(next_obs.astype(np.float32))
        q_next = self.target.forward(x2)
        if self.cfg.double:  # the online network chooses, the target network values
            best = self.online.forward(x2).argmax(axis=1)
            value = q_next[xp.arange(len(best)), best]
        else:
            value = q_next.max(axis=1)
        target = bk.to_device(reward) + self.cfg.gamma * (1.0 - bk.to_device(done.astype(np.float32))) * value
        t = xp.stack([bk.to_device(action.astype(np.float32)), target.astype(xp.float32)], axis=1)
        clip = self.cfg.max_grad_norm
        loss = self.online.train_step(bk.to_device(obs.astype(np.float32)), t, self.optimizer,
                                      before_update=(lambda g: optimizers.clip_grads(g, clip)) if clip else None)
        self.updates += 1
        if self.updates % self.cfg.target_update == 0:
            self.target.load_state(self.online.state_numpy())
        return bk.item(loss)

    def train(self) -> dict:
        """Play and learn until cfg.frames frames (the last episode played to its end), evaluating and
        checkpointing at the end of the episode after every eval_every frames and at the end; then the pictures."""
        try:
            Engine(self, self.out, [Pictures()], progress=self.progress, log=self.log).run()
            return self.summary()
        finally:
            self.directory.close()

    # --- the updater's steps (training/engine.py) -------------------------------------------------------------
    @property
    def history(self) -> list:
        return self.evaluations

    def done(self) -> bool:
        return self.frame >= self.cfg.frames

    def nothing_to_do(self) -> str:
        return f"{self.out}: already played {self.frame:,} of {self.cfg.frames:,} frames; nothing to do"

    def start_line(self) -> str:
        cfg = self.cfg
        return (f"DQN on {cfg.game}: {cfg.frames:,} frames, replay {cfg.replay:,}, "
                f"{'Double DQN, ' if cfg.double else ''}seed {cfg.seed}, backend {current().name}")

    def begin_round(self) -> None:
        self._start = time.perf_counter()
        self._next_eval = (self.frame // self.cfg.eval_every + 1) * self.cfg.eval_every

    def bar(self) -> tuple[str, int, int]:
        return f"DQN {self.cfg.game}", self.cfg.frames, self.frame

    def update(self) -> int:
        """One episode, played to its end."""
        ret, frames = self._episode()
        self.episodes.append([self.frame, ret])
        return frames

    def status(self, shown: bool) -> str | None:
        if not shown:
            return None
        recent = [r for _, r in self.episodes[-100:]]
        return f"episodes {len(self.episodes)}, last-100 return {np.mean(recent):.2f}"

    def round_over(self) -> bool:
        return self.frame >= self._next_eval or self.frame >= self.cfg.frames

    def end_round(self) -> dict:
        self.seconds += time.perf_counter() - self._start
        return self._evaluate()

    def round_line(self, record: dict) -> str:
        return (f"frame {record['frame']:,}: last-100 training return {record['train_last100']:.2f}, evaluation "
                f"(epsilon {self.cfg.eval_epsilon}) {record['eval_mean']:.2f} over {self.cfg.eval_episodes} "
                f"episodes, {record['frames_per_second']:.0f} frames/s")

    def _episode(self) -> tuple[float, int]:
        cfg = self.cfg
        obs = self.game.reset()
        total, frames, done = 0.0, 0, False
        while not done:  # an episode is played to its end, so a run stops (and checkpoints) between episodes
            a = self.act(obs, epsilon_at(self.frame, cfg), self.rng)
            nxt, r, terminal, cut = self.game.step(a)
            done = terminal or cut
            total += r
            frames += 1
            self.frame += 1
            if self.replay is None:
                if self.frame >= cfg.replay_start:
                    self.learn(obs[None], np.array([a]), np.array([r], np.float32), nxt[None], np.array([terminal]))
            else:
                self.replay.add(obs, a, r, nxt, terminal)
                if (self.frame >= cfg.replay_start and self.frame % cfg.train_every == 0
                        and self.replay.size >= cfg.batch_size):
                    for _ in range(cfg.gradient_steps):
                        self.learn(*self.replay.sample(cfg.batch_size, self.rng))
            obs = nxt
        return total, frames

    def _evaluate(self) -> dict:
        """An evaluation's record, kept in `evaluations`; best.npz when it is the best so far."""
        cfg = self.cfg
        returns = [play_episode(self.eval_game, self.online, cfg.eval_epsilon, self.rng)
                   for _ in range(cfg.eval_episodes)]
        recent = [r for _, r in self.episodes[-100:]]
        record = {"frame": self.frame, "eval_mean": float(np.mean(returns)), "eval_returns": returns,
                  "train_last100": float(np.mean(recent)) if recent else 0.0, "episodes": len(self.episodes),
                  "seconds": self.seconds, "frames_per_second": self.frame / max(self.seconds, 1e-9)}
        best = max((e["eval_mean"] for e in self.evaluations), default=-np.inf)
        self.evaluations.append(record)
        if record["eval_mean"] > best:
            io.save_arrays(self.out / "best.npz", self.online.state_numpy(),
                           {"model": "dqn", "frame": self.frame, "eval_mean": record["eval_mean"],
                            "config": dataclasses.asdict(self.cfg), **io.stamp("deepnet-dqn-weights")})
        return record

    # --- files ------------------------------------------------------------------------------------------
    def state(self) -> tuple[dict, dict]:
        bk = current()
        arrays = {f"online/{k}": a for k, a in self.online.state_numpy().items()}
        arrays.update({f"target/{k}": a for k, a in self.target.state_numpy().items()})
        opt = self.optimizer.state_dict()
        arrays.update({f"optim/{k}": bk.to_numpy(a) for k, a in opt["arrays"].items()})
        replay_meta = None
        if self.replay is not None:
            replay_arrays, replay_meta = self.replay.state()
            arrays.update(replay_arrays)
        meta = {"model": "dqn", "config": self.run_config(), "frame": self.frame, "updates": self.updates,
                "episodes": self.episodes, "evaluations": self.evaluations, "seconds": self.seconds,
                "optimizer": opt["hyper"], "replay": replay_meta, "rng": self.rng.bit_generator.state,
                "backend_rng": bk.rng.get_state(), "game_rng": self.game.random_state(),
                "eval_game_rng": self.eval_game.random_state()}
        return arrays, meta

    def run_config(self) -> dict:
        return dataclasses.asdict(self.cfg)

    def history_file(self) -> dict:
        return {"config": self.run_config(), "episodes": self.episodes, "evaluations": self.evaluations}

    def save(self) -> None:
        """The checkpoint, history.json and config.json, as after each evaluation."""
        Engine(self, self.out).save()

    def _load(self, path) -> None:
        index, meta = io.read_index(path)
        expect = checked_checkpoint(path, index, meta, self)
        arrays, meta = io.load_arrays(path, expect=expect)
        self.online.load_state({k[7:]: a for k, a in arrays.items() if k.startswith("online/")}, str(path))
        self.target.load_state({k[7:]: a for k, a in arrays.items() if k.startswith("target/")}, str(path))
        self.optimizer.load_state_dict({"hyper": meta["optimizer"],
                                        "arrays": {k[6:]: a for k, a in arrays.items() if k.startswith("optim/")}})
        if self.replay is not None:
            self.replay.load_state(arrays, meta["replay"])
        self.frame, self.updates = int(meta["frame"]), int(meta["updates"])
        self.episodes, self.evaluations = list(meta["episodes"]), list(meta["evaluations"])
        self.seconds = float(meta["seconds"])
        try:
            self.rng.bit_generator.state = meta["rng"]
            current().rng.set_state(meta["backend_rng"])
            self.game.set_random_state(meta["game_rng"])
            self.eval_game.set_random_state(meta["eval_game_rng"])
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise BadFile(f"{path}: its random generators' states are not ones ({type(exc).__name__}: {exc})") \
                from None

    def summary(self) -> dict:
        recent = [r for _, r in self.episodes[-100:]]
        return {"frames": self.frame, "episodes": len(self.episodes),
                "last100": float(np.mean(recent)) if recent else 0.0,
                "evaluations": self.evaluations, "frames_per_second": self.frame / max(self.seconds, 1e-9)}

    def pictures(self) -> None:
        try:
            plots.returns_curve(self.episodes, self.evaluations, self.out / "curve.png",
                                title=f"DQN on {self.cfg.game}")
            if len(self.game.observation_shape) == 3:
                plots.frame_strip(self.play_frames(), self.out / "frames.png")
        except ImportError as exc:
            self.log(f"(no pictures: {exc})")

    def play_frames(self, count: int = 16, skip: int = 4) -> list:
        """Every `skip`-th observation of one evaluation episode (epsilon eval_epsilon), `count` of them."""
        obs, done, frames, steps = self.eval_game.reset(), False, [], 0
        while not done and len(frames) < count:
            if steps % skip == 0:
                frames.append(obs)
            obs, _, terminal, cut = self.eval_game.step(self.act(obs, self.cfg.eval_epsilon, self.rng))
            done = terminal or cut
            steps += 1
        return frames


class Pictures(Extension):
    """At the end of the run: curve.png (the returns) and frames.png (an evaluation episode's frames)."""

    def finish(self, engine) -> None:
        engine.updater.pictures()
