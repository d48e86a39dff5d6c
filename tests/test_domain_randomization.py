"""Domain randomization on a real MuJoCo env, and ADR's boundary logic."""

import gymnasium as gym
import numpy as np
import pytest

from rapid.envs.domain_randomization import DomainRandomization
from rapid.envs.domain_randomization import Parameter as DRParameter
from rapid.training.adr.boundaries import ADRSettings, ADRState

MASS = {"name": "pole_mass", "targets": [{"field": "body_mass", "select": {"body": "pole*"}}], "range": [0.5, 1.5]}
DAMPING = {
    "name": "damping",
    "targets": [{"field": "dof_damping", "select": {"joint": "hinge*"}}],
    "distribution": "loguniform",
    "range": [0.3, 3.0],
}
FRICTION = {"name": "friction", "targets": [{"field": "geom_friction", "column": 0}], "range": [0.7, 1.3], "per_element": False}
GRAVITY = {"name": "gravity", "targets": [{"field": "opt.gravity"}], "distribution": "normal", "range": [0.0, 0.4], "mode": "add"}


def pendulum(randomization: dict) -> DomainRandomization:
    return DomainRandomization(gym.make("InvertedDoublePendulum-v5"), randomization)


def body_ids(model, pattern: str) -> list[int]:
    import fnmatch

    import mujoco

    return [i for i in range(model.nbody) if fnmatch.fnmatchcase(mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, i) or "", pattern)]


def test_draws_stay_in_range_and_start_from_nominal_every_reset() -> None:
    env = pendulum({"parameters": [MASS, DAMPING, FRICTION, GRAVITY]})
    model = env.unwrapped.model
    poles = body_ids(model, "pole*")
    nominal_mass, nominal_damping = model.body_mass.copy(), model.dof_damping.copy()
    nominal_friction, nominal_gravity = model.geom_friction.copy(), model.opt.gravity.copy()
    ratios = []
    for episode in range(40):
        env.reset(seed=episode)
        mass = model.body_mass[poles] / nominal_mass[poles]
        ratios.append(mass)
        assert np.all((mass >= 0.5) & (mass <= 1.5)), "not from nominal: draws would compound"
        others = [i for i in range(model.nbody) if i not in poles]
        assert np.array_equal(model.body_mass[others], nominal_mass[others]), "unselected bodies untouched"
        hinge = nominal_damping > 0
        assert np.all((model.dof_damping[hinge] / nominal_damping[hinge] >= 0.3) & (model.dof_damping[hinge] / nominal_damping[hinge] <= 3.0))
        friction = model.geom_friction[:, 0] / nominal_friction[:, 0]
        assert np.allclose(friction, friction[0]) and 0.7 <= friction[0] <= 1.3, "per_element: false is one draw for all"
        assert np.array_equal(model.geom_friction[:, 1:], nominal_friction[:, 1:]), "only the chosen column moves"
        assert not np.array_equal(model.opt.gravity, nominal_gravity)
    ratios = np.concatenate(ratios)
    assert ratios.min() < 0.6 and ratios.max() > 1.4, "draws cover the range"
    assert env.draws.shape == (4,)


def test_same_seed_same_physics_and_noise() -> None:
    spec = {"parameters": [MASS], "observation_noise": {"per_step": 0.01, "per_episode": 0.01},
            "action_noise": {"per_step": 0.05, "per_episode": 0.015}, "action_latency_steps": 1}
    first, second = pendulum(spec), pendulum(spec)
    obs_a, _ = first.reset(seed=3)
    obs_b, _ = second.reset(seed=3)
    assert np.array_equal(obs_a, obs_b)
    assert np.array_equal(first.unwrapped.model.body_mass, second.unwrapped.model.body_mass)
    action = np.zeros(first.action_space.shape)
    for _ in range(5):
        assert np.array_equal(first.step(action)[0], second.step(action)[0])
    other, _ = pendulum(spec).reset(seed=4)
    assert not np.array_equal(obs_a, other)


def test_observation_noise_has_the_configured_spread() -> None:
    clean, noisy = gym.make("InvertedDoublePendulum-v5"), pendulum({"observation_noise": {"per_step": 0.1}})
    differences = []
    for seed in range(20):
        differences.append(noisy.reset(seed=seed)[0] - clean.reset(seed=seed)[0])
    assert np.std(np.concatenate(differences)) == pytest.approx(0.1, rel=0.25)


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        ({**MASS, "targets": [{"field": "body_mas"}]}, "field 'body_mas' is not a float array of the MuJoCo model (did you mean 'body_mass'?)"),
        ({**MASS, "targets": [{"field": "body_mass", "select": {"body": "pol"}}]}, "no body named 'pol' (did you mean 'pole'?)"),
        ({**MASS, "targets": [{"field": "body_mass", "select": {"bdy": "pole"}}]}, "select 'bdy' is not one of body, geom, joint, actuator"),
        ({**MASS, "targets": [{"field": "body_mass", "select": {"geom": "*"}}]}, "field 'body_mass' has body rows; it cannot be selected by geom"),
        ({**FRICTION, "targets": [{"field": "geom_friction", "column": 5}]}, "field 'geom_friction' has no column 5"),
        ({**MASS, "range": [1.5, 0.5]}, "range [1.5, 0.5] is empty or inverted"),
        ({**MASS, "range": [1.0, 1.0]}, "range [1.0, 1.0] is empty or inverted"),
        ({**MASS, "distribution": "loguniform", "range": [0.0, 1.0]}, "loguniform needs a positive range"),
        ({**MASS, "distribution": "gaussian"}, "unknown distribution 'gaussian'"),
    ],
)
def test_bad_parameter_is_named(parameter: dict, message: str) -> None:
    with pytest.raises(ValueError, match=None) as caught:
        pendulum({"parameters": [parameter]})
    assert message in str(caught.value)


def test_critic_sees_the_draws_of_a_dict_observation() -> None:
    class DictObs(gym.ObservationWrapper):
        def __init__(self, env: gym.Env) -> None:
            super().__init__(env)
            self.observation_space = gym.spaces.Dict({"actor": env.observation_space, "critic": env.observation_space})

        def observation(self, obs: np.ndarray) -> dict:
            return {"actor": obs, "critic": obs}

    env = DomainRandomization(DictObs(gym.make("InvertedDoublePendulum-v5")), {"parameters": [MASS], "observation_noise": {"per_step": 0.1}})
    obs, _ = env.reset(seed=0)
    assert env.observation_space["critic"].shape == (obs["actor"].shape[0] + 1,)
    assert obs["critic"][-1] == pytest.approx(env.draws[0]) and 0.5 <= obs["critic"][-1] <= 1.5
    assert not np.array_equal(obs["actor"], obs["critic"][:-1]), "noise goes to the actor's part only"
    assert env.observation_space.contains(obs)


def adr(queue: int = 4) -> ADRState:
    return ADRState([DRParameter.model_validate(MASS), DRParameter.model_validate(GRAVITY)],
                    ADRSettings(queue_length=queue, high=20, low=5, step_fraction=0.1))


def test_adr_starts_at_nominal_and_widens_under_high_scores() -> None:
    state = adr()
    assert state.ranges == {"pole_mass": [1.0, 1.0]}, "normal draws are not ADR's"
    assert state.entropy() == 0.0
    for _ in range(3):
        state.report("pole_mass", "high", 25.0)
    assert state.ranges["pole_mass"] == [1.0, 1.0], "no decision before the queue is full"
    state.report("pole_mass", "high", 25.0)
    assert state.ranges["pole_mass"] == pytest.approx([1.0, 1.1])
    for _ in range(4 * 20):
        state.report("pole_mass", "low", 30.0)
    assert state.ranges["pole_mass"][0] == pytest.approx(0.5), "never past the limit"
    assert state.entropy() == pytest.approx(0.6)


def test_adr_narrows_under_low_scores_but_never_past_nominal() -> None:
    state = adr()
    for _ in range(8):
        state.report("pole_mass", "high", 25.0)
    assert state.ranges["pole_mass"] == pytest.approx([1.0, 1.2])
    for _ in range(4):
        state.report("pole_mass", "high", 2.0)
    assert state.ranges["pole_mass"] == pytest.approx([1.0, 1.1])
    for _ in range(40):
        state.report("pole_mass", "high", 0.0)
    assert state.ranges["pole_mass"] == pytest.approx([1.0, 1.0])
    for _ in range(4):
        state.report("pole_mass", "high", 10.0)  # between the thresholds: no move
    assert state.ranges["pole_mass"] == pytest.approx([1.0, 1.0])


def test_adr_tests_boundaries_at_the_configured_rate() -> None:
    state, rng = adr(), np.random.default_rng(0)
    picks = [state.boundary(rng) for _ in range(2000)]
    tested = [p for p in picks if p is not None]
    assert len(tested) / len(picks) == pytest.approx(0.4, abs=0.04)
    assert {p[1] for p in tested} == {"low", "high"} and {p[0] for p in tested} == {"pole_mass"}


def test_adr_state_round_trips() -> None:
    state = adr()
    for _ in range(6):
        state.report("pole_mass", "high", 25.0)
    copy = adr()
    copy.set_state(state.get_state())
    assert copy.ranges == state.ranges and copy.metrics() == state.metrics()
    assert list(copy.queues[("pole_mass", "high")]) == [25.0, 25.0]
