"""Reinforcement learning (the book's 8.5.4): the Deep Q-Network, on games from MinAtar and Gymnasium (the
`rl` extra); deepnet does not reimplement the games."""
from .dqn import DQNConfig, DQNRun, HuberQLoss, play_saved, q_network
from .envs import GAMES, make
from .replay import Replay

__all__ = ["DQNConfig", "DQNRun", "HuberQLoss", "play_saved", "q_network", "GAMES", "make", "Replay"]
