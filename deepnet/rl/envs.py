"""Games for the DQN, behind one small interface: reset() -> observation, step(action) -> (observation,
reward, terminal, cut), `observation_shape`, `observation_dtype`, `num_actions`, and the random state for resuming.

MinAtar (Young & Tian, 2019): miniature Atari games on a 10x10 grid of channels, sticky actions (probability 0.1,
the package's default) and difficulty ramping, observations as uint8 (C, 10, 10). Gymnasium's CartPole-v1 for
a quick check, observations float32 (4,), episodes cut at 500 steps as its time limit says.

`terminal` is an end the game's rules reach (the return stops there); `cut` an end by a time limit (the episode
stops, the return would have gone on), as Gymnasium's terminated and truncated."""
from __future__ import annotations

import numpy as np

from ..errors import InvalidValue, MissingDependency

MINATAR_GAMES = ("asterix", "breakout", "freeway", "seaquest", "space_invaders")
GYM_GAMES = {"cartpole": "CartPole-v1"}
GAMES = MINATAR_GAMES + tuple(GYM_GAMES)


def make(game: str, seed: int = 0):
    """The game by name, seeded (one of GAMES)."""
    name = str(game).lower().replace("-", "_")
    if name in MINATAR_GAMES:
        return MinAtarGame(name, seed)
    if name in GYM_GAMES:
        return GymGame(name, seed)
    raise InvalidValue(f"unknown game {game!r}; choose one of: {', '.join(GAMES)}")


class MinAtarGame:
    def __init__(self, name: str, seed: int):
        try:
            from minatar import Environment
        except ImportError:
            raise MissingDependency(f"the MinAtar game {name} needs the minatar package: pip install "
                                    f"'deepnet[rl]'") from None
        self.name = name
        self.env = Environment(name)  # sticky actions 0.1 and difficulty ramping: the package's defaults
        self.env.seed(int(seed))
        h, w, c = self.env.state_shape()
        self.observation_shape, self.observation_dtype = (c, h, w), np.uint8
        self.num_actions = self.env.num_actions()

    def _observe(self):
        return np.ascontiguousarray(self.env.state().transpose(2, 0, 1), dtype=np.uint8)

    def reset(self):
        self.env.reset()
        return self._observe()

    def step(self, action: int):
        reward, done = self.env.act(int(action))
        return self._observe(), float(reward), bool(done), False  # MinAtar has no time limit

    def random_state(self) -> dict:
        kind, key, pos, has_gauss, cached = self.env.random.get_state()
        return {"key": key.tolist(), "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)}

    def set_random_state(self, s: dict) -> None:
        self.env.random.set_state(("MT19937", np.asarray(s["key"], np.uint32), s["pos"], s["has_gauss"], s["cached"]))


class GymGame:
    def __init__(self, name: str, seed: int):
        try:
            import gymnasium
        except ImportError:
            raise MissingDependency(f"the game {name} needs gymnasium: pip install 'deepnet[rl]'") from None
        self.name = name
        self.env = gymnasium.make(GYM_GAMES[name])
        self._seed = int(seed)
        self.observation_shape = tuple(self.env.observation_space.shape)
        self.observation_dtype = np.float32
        self.num_actions = int(self.env.action_space.n)

    def reset(self):
        if self._seed is not None:  # seeded once; later resets continue its stream
            obs, _ = self.env.reset(seed=self._seed)
            self._seed = None
        else:
            obs, _ = self.env.reset()
        return np.asarray(obs, np.float32)

    def step(self, action: int):
        obs, reward, terminated, truncated, _ = self.env.step(int(action))
        return np.asarray(obs, np.float32), float(reward), bool(terminated), bool(truncated)

    def random_state(self) -> dict:
        return {"state": self.env.unwrapped.np_random.bit_generator.state, "seeded": self._seed is None}

    def set_random_state(self, s: dict) -> None:
        if self._seed is not None:  # the first reset's seeding must not overwrite the restored stream
            self.env.reset(seed=self._seed)
            self._seed = None
        self.env.unwrapped.np_random.bit_generator.state = s["state"]
