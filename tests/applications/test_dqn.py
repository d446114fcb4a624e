"""The Deep Q-Network's mechanics on a tiny budget (deepnet/rl): the replay buffer, the Huber loss and its
gradient, the exploration schedule, the target network's copies, Double DQN's targets, and `deepnet dqn` with
--resume continuing the very same run. The long runs are benchmarks (benchmarks/dqn.py)."""
import numpy as np
import pytest

from deepnet import backends, io
from deepnet.cli import main
from deepnet.rl import DQNConfig, DQNRun, HuberQLoss, Replay
from deepnet.rl.dqn import epsilon_at

from ..cli_helpers import one_line
from ..gradcheck import numerical

pytest.importorskip("minatar", reason="the rl extra (minatar) is not installed")


def test_replay_is_a_ring():
    r = Replay(3, (2,), np.float32)
    for i in range(5):
        r.add(np.full(2, i), i, float(i), np.full(2, i + 1), i == 4)
    assert r.size == 3 and r.position == 2
    assert sorted(r.action.tolist()) == [2, 3, 4]  # the two oldest overwritten
    obs, a, rew, nxt, done = r.sample(50, np.random.default_rng(0))
    assert set(a.tolist()) <= {2, 3, 4} and (nxt[:, 0] == obs[:, 0] + 1).all() and (done == (a == 4)).all()
    arrays, meta = r.state()
    again = Replay(3, (2,), np.float32)
    again.load_state(arrays, meta)
    assert again.position == 2 and (again.obs == r.obs).all()


def test_a_replay_buffer_beyond_memory_is_refused_before_allocation():
    with pytest.raises(ValueError, match=r"needs .* GiB, but only .* GiB of memory is available"):
        Replay(10**12, (4, 10, 10), np.uint8)


def test_huber_loss_and_its_gradient(f64):
    rng = np.random.default_rng(0)
    q = rng.standard_normal((5, 3)) * 2
    t = np.column_stack([[0, 2, 1, 1, 0], q[np.arange(5), [0, 2, 1, 1, 0]] + [0.3, -2.5, 0.0, 1.7, -0.4]])
    loss = HuberQLoss()
    d = -np.array([0.3, -2.5, 0.0, 1.7, -0.4])
    expected = np.where(np.abs(d) <= 1, 0.5 * d * d, np.abs(d) - 0.5).mean()
    assert float(loss.forward(q, t)) == pytest.approx(expected)
    dq = loss.backward()
    num = numerical(lambda: float(loss.forward(q, t)), q, [np.unravel_index(i, q.shape) for i in range(q.size)])
    np.testing.assert_allclose(dq.ravel(), num, atol=1e-8)


def test_epsilon_schedule():
    cfg = DQNConfig(replay_start=100, epsilon_frames=1000, epsilon_end=0.1)
    assert epsilon_at(0, cfg) == epsilon_at(99, cfg) == 1.0
    assert epsilon_at(600, cfg) == pytest.approx(0.55)
    assert epsilon_at(1100, cfg) == epsilon_at(10**6, cfg) == pytest.approx(0.1)


def small(**kw):
    return DQNConfig(**{**dict(game="breakout", frames=400, replay=1000, replay_start=100, target_update=50,
                               epsilon_frames=200, eval_every=200, eval_episodes=1), **kw})


def test_target_network_is_copied_every_target_update(cpu32, tmp_path):
    run = DQNRun.start(small(), tmp_path / "r", log=lambda *a: None, progress=False)
    try:
        obs = [run.game.reset()]
        for _ in range(40):
            obs.append(run.game.step(0)[0])
        o = np.stack(obs[:32])
        batch = (o, np.zeros(32, np.int64), np.ones(32, np.float32), np.stack(obs[1:33]), np.zeros(32, bool))
        w0 = run.target.state_numpy()["affine2.W"].copy()
        for _ in range(49):
            run.learn(*batch)
        assert (run.target.state_numpy()["affine2.W"] == w0).all()  # not yet
        assert not (run.online.state_numpy()["affine2.W"] == w0).all()
        run.learn(*batch)  # the 50th update copies
        np.testing.assert_array_equal(run.target.state_numpy()["affine2.W"], run.online.state_numpy()["affine2.W"])
    finally:
        run.directory.close()


@pytest.mark.parametrize("double", [False, True])
def test_targets_are_the_bellman_backup(cpu32, tmp_path, double):
    run = DQNRun.start(small(double=double, gamma=0.9), tmp_path / "r", log=lambda *a: None, progress=False)
    try:
        rng = np.random.default_rng(0)
        obs = rng.integers(0, 2, (4, *run.game.observation_shape)).astype(np.uint8)
        nxt = rng.integers(0, 2, (4, *run.game.observation_shape)).astype(np.uint8)
        for p in run.target.params().values():  # a target network unlike the online one
            p[...] = rng.standard_normal(p.shape).astype(p.dtype) * 0.1
        q_online_next = run.online.forward(nxt.astype(np.float32))
        q_target_next = run.target.forward(nxt.astype(np.float32))
        best = q_online_next.argmax(1) if double else q_target_next.argmax(1)
        reward, done = np.array([1, 0, -1, 2], np.float32), np.array([False, True, False, False])
        expect = reward + 0.9 * (1 - done) * q_target_next[np.arange(4), best]
        seen = {}
        real = run.online.train_step

        def spy(x, t, opt, **kw):
            seen["t"] = np.array(t)
            return real(x, t, opt, **kw)

        run.online.train_step = spy
        run.learn(obs, np.array([0, 1, 2, 3]), reward, nxt, done)
        np.testing.assert_allclose(seen["t"][:, 1], expect, rtol=1e-5)
        np.testing.assert_array_equal(seen["t"][:, 0], [0, 1, 2, 3])
    finally:
        run.directory.close()


def test_resume_continues_the_same_run(tmp_path, capsys):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    common = ["--game", "breakout", "--replay-size", "2000", "--replay-start", "100", "--epsilon-frames", "300",
              "--target-update", "50", "--eval-every", "300", "--eval-episodes", "1", "--no-progress"]
    with backends.use("cpu", dtype="float32"):
        assert main(["dqn", "--out", str(whole), "--frames", "600", *common]) == 0
        assert main(["dqn", "--out", str(parts), "--frames", "300", *common]) == 0
        assert main(["dqn", "--out", str(parts), "--resume", "--frames", "600", "--no-progress"]) == 0
    a, ma = io.load_arrays(whole / "last.npz")
    b, mb = io.load_arrays(parts / "last.npz")
    assert ma["frame"] == mb["frame"] >= 600 and ma["episodes"] == mb["episodes"]
    assert ma["format"] == "deepnet-dqn" and ma["version"] == io.FORMAT_VERSION
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert (whole / "curve.png").stat().st_size > 1000 and (whole / "frames.png").stat().st_size > 1000
    capsys.readouterr()
    # a finished run played past --frames (its last episode ran to the end): resuming it has nothing to do
    assert main(["dqn", "--out", str(whole), "--resume", "--frames", "600", "--no-progress"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_bad_dqn_requests(tmp_path, capsys):
    one_line(capsys, main(["dqn", "--game", "pong", "--out", str(tmp_path / "a")]),
             "--game must be one of asterix, breakout, freeway")
    one_line(capsys, main(["dqn", "--frames", "0", "--out", str(tmp_path / "b")]), "--frames must be a whole number")
    one_line(capsys, main(["dqn", "--replay-size", str(10**12), "--out", str(tmp_path / "c")]),
             "of memory is available")
    one_line(capsys, main(["dqn", "--out", str(tmp_path / "none"), "--resume"]), "no run directory")
    one_line(capsys, main(["dqn", "--replay-size", "8", "--out", str(tmp_path / "d")]),
             "holds fewer transitions than a batch")


def test_a_missing_game_package_names_the_extra(monkeypatch, capsys, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "minatar", None)  # import minatar now fails, as without the package
    monkeypatch.setitem(sys.modules, "gymnasium", None)
    one_line(capsys, main(["dqn", "--out", str(tmp_path / "a")]), "pip install 'deepnet[rl]'")
    one_line(capsys, main(["dqn", "--game", "cartpole", "--out", str(tmp_path / "b")]), "pip install 'deepnet[rl]'")


def test_cartpole_runs(tmp_path):
    pytest.importorskip("gymnasium")
    with backends.use("cpu", dtype="float32"):
        run = DQNRun.start(small(game="cartpole", frames=300, replay_start=50), tmp_path / "c", log=lambda *a: None,
                           progress=False)
        summary = run.train()
    assert summary["frames"] >= 300 and summary["episodes"] >= 1 and (tmp_path / "c" / "curve.png").is_file()


class Corridor:
    """A stub game: episodes of `length` steps, ended by the rules (terminal) or by a time limit (cut)."""
    observation_shape, observation_dtype, num_actions = (4,), np.float32, 2

    def __init__(self, length=5, cut=False):
        self.length, self.cut, self.t = length, cut, 0

    def reset(self):
        self.t = 0
        return np.zeros(4, np.float32)

    def step(self, action):
        self.t += 1
        end = self.t >= self.length
        return np.full(4, self.t / 10, np.float32), 1.0, end and not self.cut, end and self.cut

    def random_state(self):
        return {}

    def set_random_state(self, s):
        pass


def corridor_run(monkeypatch, tmp_path, cut=False, **kw):
    from deepnet.rl import dqn

    monkeypatch.setattr(dqn.envs, "make", lambda game, seed: Corridor(cut=cut))
    return DQNRun.start(small(game="cartpole", **kw), tmp_path / "c", log=lambda *a: None, progress=False)


@pytest.mark.parametrize("cut", [False, True])
def test_a_time_limit_cut_is_not_an_end_of_the_return(cpu32, tmp_path, monkeypatch, cut):
    run = corridor_run(monkeypatch, tmp_path, cut=cut, replay_start=1000)
    try:
        ret, frames = run._episode()
        assert (ret, frames) == (5.0, 5) and run.replay.size == 5
        # the last transition ends the episode either way; only the rules' end stops the bootstrap
        assert run.replay.done[:5].tolist() == [False] * 4 + [not cut]
    finally:
        run.directory.close()


def test_learning_rounds_every_train_every_frames(cpu32, tmp_path, monkeypatch):
    run = corridor_run(monkeypatch, tmp_path, replay_start=10, batch_size=4, train_every=4, gradient_steps=3,
                       target_update=10**6)
    try:
        for _ in range(6):  # 30 frames: rounds at frames 12, 16, 20, 24, 28 (learning starts at frame 10)
            run._episode()
        assert run.frame == 30 and run.updates == 5 * 3
    finally:
        run.directory.close()


def test_hidden_widths_adam_and_gradient_clipping(cpu32, tmp_path, monkeypatch):
    from deepnet import optimizers

    run = corridor_run(monkeypatch, tmp_path, hidden=[7, 5, 3], optimizer="adam", max_grad_norm=1e-3, lr=0.01)
    try:
        shapes = {k: v.shape for k, v in run.online.state_numpy().items() if k.endswith(".W")}
        assert sorted(shapes.values()) == sorted([(4, 7), (7, 5), (5, 3), (3, 2)])
        assert isinstance(run.optimizer, optimizers.Adam) and run.optimizer.lr == 0.01
        seen = []
        real = run.optimizer.update

        def spy(params, grads):
            seen.append(float(np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads.values()))))
            return real(params, grads)

        run.optimizer.update = spy
        rng = np.random.default_rng(0)
        obs = rng.standard_normal((8, 4)).astype(np.float32) * 100  # large inputs: large gradients
        run.learn(obs, np.zeros(8, np.int64), np.full(8, 50.0, np.float32), obs, np.zeros(8, bool))
        assert seen and seen[0] == pytest.approx(1e-3, rel=1e-4)  # clipped to the norm asked for
    finally:
        run.directory.close()


def test_bad_recipe_options(tmp_path, capsys):
    one_line(capsys, main(["dqn", "--replay-size", "0", "--gradient-steps", "4", "--out", str(tmp_path / "a")]),
             "--train-every and --gradient-steps must stay 1")
    with pytest.raises(SystemExit) as stop:  # argparse's own usage error
        main(["dqn", "--hidden", "256,0", "--out", str(tmp_path / "b")])
    one_line(capsys, stop.value.code, "expected widths of at least 1 separated by commas, like 256,256; got '256,0'")
    one_line(capsys, main(["dqn", "--max-grad-norm", "-1", "--out", str(tmp_path / "c")]),
             "--max-grad-norm must be a finite number at least 0")


def test_best_npz_keeps_the_best_evaluation(cpu32, tmp_path, monkeypatch):
    run = corridor_run(monkeypatch, tmp_path, eval_episodes=2)
    try:
        first = run.online.state_numpy()
        run._evaluate()  # every episode returns 5
        for p in run.online.params().values():
            p += 1.0
        run._evaluate()  # 5 again: not better, best.npz keeps the first weights
        w, meta = io.load_arrays(tmp_path / "c" / "best.npz")
        assert meta["eval_mean"] == 5.0 and set(w) == set(first)
        for k in first:
            np.testing.assert_array_equal(w[k], first[k], err_msg=k)
        run.eval_game.length = 7  # a better evaluation replaces it
        run._evaluate()
        w, meta = io.load_arrays(tmp_path / "c" / "best.npz")
        assert meta["eval_mean"] == 7.0 and meta["frame"] == run.frame
        np.testing.assert_array_equal(w["affine1.W"], run.online.state_numpy()["affine1.W"])
    finally:
        run.directory.close()


def test_a_saved_agent_plays_apart_from_its_run(cpu32, tmp_path, monkeypatch):
    from deepnet.rl import play_saved

    run = corridor_run(monkeypatch, tmp_path, eval_episodes=1)
    try:
        run._evaluate()
        run.save()
    finally:
        run.directory.close()
    for name in ("best.npz", "last.npz"):
        assert play_saved(tmp_path / "c" / name, episodes=3) == [5.0, 5.0, 5.0]  # the corridor's episodes
    io.save_arrays(tmp_path / "other.npz", {"w": np.zeros(2)}, {"model": "deepconvnet"})
    with pytest.raises(ValueError, match="is not a DQN run's checkpoint"):
        play_saved(tmp_path / "other.npz")
