"""Multi-agent jobs and the self-play league: two policies train on MPE2's predator-prey, the league's
snapshots reach the learner and every EnvRunner at once, past opponents play at the configured
rate, the league survives a killed driver, and bad multi-agent input stops before Ray."""

import pickle
import random
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest
import ray
from conftest import ROOT, Head, embedded_env, rapid, results_of, rows, start_run, wait_for_checkpoints

from rapid.platform.env_stack import make_env
from rapid.platform.multi_agent import agent_spaces, policy_spaces
from rapid.platform.registry import MAPPINGS
from rapid.platform.spec import RLlibJob
from rapid.platform.spec_file import load_spec
from rapid.platform.trainable import RLlibJobTrainable, rllib_body
from rapid.training.league import League, snapshot_name
from rapid.training.league.selfplay import LeagueMapping

SPEC = "jobs/multiagent_selfplay.yaml"


def test_two_policies_train_with_per_policy_metrics_and_the_league_survives_sigkill(ray_head: Head, tmp_path: Path) -> None:
    """Slots 2, a snapshot every iteration: slot (i - 1) % 2 takes iteration i, unless a resume lost the league."""
    args = [SPEC, "--profile", "smoke", "--set", f"storage_path={tmp_path}", "--set", "stop={iterations: 6}"]
    driver = start_run(args, ray_head.env())
    run = wait_for_checkpoints(tmp_path, "multiagent_selfplay", 3, driver)
    driver.send_signal(signal.SIGKILL)
    driver.wait(60)
    outcome = rapid("run", "--resume", str(run), env=ray_head.env())
    assert outcome.returncode == 0, outcome.stderr
    assert "| returns predator " in outcome.stdout and ", prey " in outcome.stdout, "the progress line gives each policy's return"
    table = rows(run)
    assert table["iteration"][-1] == 6
    for policy in ("predator", "prey"):
        assert any(v == v for v in table[f"env_runners/module_episode_returns_mean/{policy}"])
        assert all(v > 0 for v in table[f"learners/{policy}/num_module_steps_trained"]), f"{policy} trains"
    assert "learners/predator_snapshot_0/policy_loss" not in table, "snapshots are frozen"
    final = sorted((run / "checkpoints").glob("checkpoint_*"))[-1]
    league = pickle.loads((final / "central_state.pkl").read_bytes())["league"]
    for policy in ("predator", "prey"):
        ages = {slot: league["snapshot_iteration"][snapshot_name(policy, slot)] for slot in (0, 1)}
        assert ages == {0: 5, 1: 6}, f"round robin went on from the checkpoint: {ages}"
    assert any(since != it for it, since in zip(table["iteration"], table["iterations_since_restore"], strict=True))
    video = rapid("eval", str(run), "--episodes", "2", "--video", env=embedded_env())
    assert video.returncode == 0, video.stderr
    assert "module_episode_returns_mean/predator" in video.stdout
    (mp4,) = (run / "videos").glob("*.mp4")
    ok, frame = cv2.VideoCapture(str(mp4)).read()
    assert ok and frame.std() > 0


def weights(state: dict) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in state.items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.slow  # 1.6 min in CI; the league's SIGKILL test and the opponent-draw test stay
def test_snapshots_reach_learner_and_every_env_runner_and_past_opponents_play_at_the_set_rate(tmp_path: Path) -> None:
    ray.init(address="local", num_cpus=3, include_dashboard=False)
    try:
        overrides = ["multi_agent.league={slots: 2, every: 1, latest_probability: 0.5}", "resources.env_runners=2",
                     "training={train_batch_size_per_learner: 2000, minibatch_size: 2000, num_epochs: 1}"]
        job = load_spec(ROOT / SPEC, profile="smoke", overrides=overrides).job
        trainable = RLlibJobTrainable(config={"job": rllib_body(job)})
        algo = trainable.algo

        def on_runners(algorithm: object, name: str) -> list[dict]:
            """The module `name` on the local EnvRunner and on each remote one."""
            return [weights(s) for s in algorithm.env_runner_group.foreach_env_runner(lambda er, _n=name: er.module[_n].get_state())]

        episodes = past = games = 0.0
        history = []
        for iteration in (1, 2, 3):
            row = trainable.train()
            learner = algo.learner_group.get_weights()
            slot = snapshot_name("predator", (iteration - 1) % 2)
            assert same(weights(learner[slot]), weights(learner["predator"])), f"iteration {iteration}: learner's {slot}"
            copies = on_runners(algo, slot)
            assert len(copies) == 3 and all(same(c, weights(learner["predator"])) for c in copies), f"iteration {iteration}: {slot}"
            history.append(weights(learner["predator"]))
            episodes += row["env_runners/league/episodes"]
            past += row["env_runners/league/past_opponent"]
            games += sum(v for k, v in row.items() if k.startswith("env_runners/league/games/") and v == v)
        older = snapshot_name("predator", 0)
        assert same(weights(algo.learner_group.get_weights()[older]), history[2]) and not same(history[1], history[2])
        assert past == games, "each past-opponent episode played one snapshot"
        # Each episode's opponent seat plays a snapshot with probability 1 - 0.5 (3.4 standard deviations here).
        assert episodes >= 200 and 0.38 <= past / episodes <= 0.62, (past, episodes)
        trainable.save_checkpoint(str(tmp_path))
        trainable.stop()
        restored = RLlibJobTrainable(config={"job": rllib_body(job)})
        restored.load_checkpoint(str(tmp_path))
        for slot, expected in ((snapshot_name("predator", 0), history[2]), (snapshot_name("predator", 1), history[1])):
            assert same(weights(restored.algo.learner_group.get_weights()[slot]), expected), f"restored learner's {slot}"
            assert all(same(c, expected) for c in on_runners(restored.algo, slot)), f"restored runners' {slot}"
        restored.stop()
    finally:
        ray.shutdown()


class Episode:
    def __init__(self, id_: str) -> None:
        self.id_ = id_


def by_side(agent_id: str, episode: object = None, **kwargs: object) -> str:
    return "predator" if agent_id.startswith("adversary") else "prey"


def test_the_opponent_draw_is_fixed_per_episode_and_at_the_configured_rate() -> None:
    mapping = LeagueMapping(by_side, ["predator", "prey"], League(slots=3, latest_probability=0.8))
    drawn = {"past": 0, "predator": 0}
    for i in range(4000):
        episode = Episode(f"episode-{i}")
        seats = [mapping(aid, episode) for aid in ("adversary_0", "adversary_1", "adversary_2", "agent_0")]
        assert seats[:3] == [mapping("adversary_0", episode)] * 3, "every predator of an episode plays the same module"
        past = [s for s in seats if "_snapshot_" in s]
        drawn["past"] += bool(past)
        drawn["predator"] += any(s.startswith("predator_snapshot") for s in past)
        assert not (any(s.startswith("predator_snapshot") for s in seats) and seats[3] != "prey"), "one seat at a time"
    assert 0.17 <= drawn["past"] / 4000 <= 0.23 and 0.4 <= drawn["predator"] / drawn["past"] <= 0.6


def test_seats_let_one_shared_policy_play_its_past_self() -> None:
    mapping = LeagueMapping(lambda aid, episode=None, **kw: "main", ["main"], League(slots=2, latest_probability=0.5,
                                                                                     seats=["player_0", "player_1"]))
    mixed = 0
    for i in range(2000):
        pair = [mapping(aid, Episode(f"e{i}")) for aid in ("player_0", "player_1")]
        assert "main" in pair, "one seat always plays the newest policy: every episode trains it"
        mixed += pair != ["main", "main"]
    assert 0.45 <= mixed / 2000 <= 0.55


def test_a_registered_mapping_is_asked_which_policies_each_agent_may_play() -> None:
    if "test_random_side" not in MAPPINGS:
        MAPPINGS.add("test_random_side", lambda: lambda aid, episode, **kw: random.choice(["predator", "prey"]), "test")
        MAPPINGS.add("test_by_side", lambda: by_side, "test")
        MAPPINGS.add("test_unknown", lambda: lambda aid, episode, **kw: "predater", "test")
    env = make_env("mpe2/simple_tag_v3", {"max_cycles": 25})
    spaces = agent_spaces(env)

    def job(mapping: str) -> RLlibJob:
        return load_spec(ROOT / SPEC, profile="smoke", overrides=[f"multi_agent.policy_mapping={mapping}"]).job

    found = policy_spaces(job("test_by_side"), spaces)
    assert found["predator"][0].shape == (16,) and found["prey"][0].shape == (14,)
    with pytest.raises(ValueError, match="multi_agent.policies.(predator|prey): its agents' spaces differ"):
        policy_spaces(job("test_random_side"), spaces)
    with pytest.raises(ValueError, match="gives agent 'adversary_0' the unknown policy 'predater'"):
        policy_spaces(job("test_unknown"), spaces)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["multi_agent.policy_mapping={adversary_*: predater, agent_*: prey}"],
         "multi_agent.policy_mapping.adversary_* (line 18): unknown policy 'predater' (did you mean 'predator'?); policies: predator, prey"),
        (["multi_agent.policies_to_train=[predator, pray]"],
         "multi_agent.policies_to_train.1: unknown policy 'pray' (did you mean 'prey'?)"),
        (["multi_agent.league.slot=3"], "multi_agent.league.slot: unknown key (did you mean 'slots'?)"),
        (["multi_agent.league.policies=[prey]", "multi_agent.policies_to_train=[predator]"],
         "multi_agent.league (line 19): policies: 'prey' is not a trained policy"),
        (["multi_agent.policy_mapping={adversary_*: predator}"],
         "multi_agent.policy_mapping: agent 'agent_0' matches no pattern"),
        (["env=InvertedPendulum-v5", "env_config={}"], "multi_agent: env 'InvertedPendulum-v5' has a single agent"),
    ],
    ids=["mapping-names-unknown-policy", "unknown-policy-to-train", "league-typo", "league-on-untrained-policy",
         "agent-without-policy", "single-agent-env"],
)
def test_bad_multi_agent_input_exits_2_before_ray(tmp_path: Path, overrides: list[str], expected: str) -> None:
    args = [x for o in overrides for x in ("--set", o)]
    outcome = rapid("run", SPEC, *args, "--set", f"storage_path={tmp_path}", env={"RAY_ADDRESS": "127.0.0.1:9", "PATH": "/usr/bin:/bin"})
    assert outcome.returncode == 2, outcome.stderr
    assert expected in outcome.stderr and "Traceback" not in outcome.stderr
    assert f"{SPEC}:" in outcome.stderr
    assert results_of(tmp_path, "multiagent_selfplay") == []


def test_a_league_on_a_single_agent_job_is_refused(tmp_path: Path) -> None:
    outcome = rapid("run", "jobs/quickstart.yaml", "--set", "league={slots: 2}", "--set", f"storage_path={tmp_path}", env=embedded_env())
    assert outcome.returncode == 2
    assert "jobs/quickstart.yaml: the spec is not valid:\n  league: 'league' belongs under multi_agent: (it needs a multi-agent job)" in outcome.stderr
