"""Hide-and-seek's speed: env steps/s against the raw MuJoCo limit, and PPO sampling with the attention policy vs an MLP.

1. Env vs raw simulator, on one core (the process pins itself to one CPU), in alternating rounds
   (the order flips each round, so machine noise and order hit both alike):
   - raw: `mujoco.mj_step(model, data, nstep=15)` with uniform random controls in [-0.9, 0.9], on
     the env's own model and a copy of its MjData taken at the start of each round (the same
     generated scene, walls included): the physics a step cannot do without;
   - env: the env as the EnvRunners make it (`rapid.platform.env_stack.make_env`, so with the
     physics guard and the RLlib adapter), stepped with uniform random actions, every agent
     observing (sight masks and lidar rays included), reset at each episode end.
   - rays: the raw arm plus the env's own sensing of each new state (`World.refresh` and
     `Perception.sense`: every agent's sight and lidar rays by `mj_multiRay`), on the env's world:
     the ceiling of an env that casts these rays with MuJoCo, whatever the rest of it costs.
   Two scenes: the env's default (random_walls, 2 hiders vs 2 seekers, 6 boxes, 2 ramps) and the
   env_config of jobs/hide_and_seek_quadrant.yaml. Figures per scene: raw steps/s, env steps/s
   (medians over rounds), env/raw and rays/raw, the medians of the per-round ratios (target for
   env/raw >= 0.75).

2. End-to-end PPO sampling through RLlib: two PPO AlgorithmConfigs built by rapid's
   `build_algorithm_config` from jobs/hide_and_seek_quadrant.yaml (evaluation off, 1 env runner),
   one as the job is (the `entity_attention` module) and one with every policy's module `default`
   (RLlib's MLP, fcnet_hiddens [256, 256]). rapid does not flatten a Dict observation for the
   default module (RLlib's catalog has no encoder for a Dict space), so that arm alone gets
   RLlib's FlattenObservations env-to-module connector, and its module specs the flattened space.
   Both algorithms live side by side; each round the env runner of each samples the same number
   of env steps (`runner.sample(num_timesteps=N)`, timed inside the runner: env, connectors and
   module forward passes, not the transfer to the driver), the arms alternating and flipping order.
   Figures: env steps/s of each arm (medians) and attention/MLP, the median of per-round ratios.

The last line printed is one JSON object with every figure.

    python benchmarks/hide_and_seek_speed.py           # env: 40 rounds x 240 steps per scene; PPO: 5 rounds x 3,200 env steps
    python benchmarks/hide_and_seek_speed.py --quick   # 2 rounds x 200 steps; PPO: 2 rounds x 150 env steps (wiring only)
    python benchmarks/hide_and_seek_speed.py --only env  # one of the two parts: env or sampling
"""

import argparse
import copy
import json
import os
import statistics
import time
from functools import partial
from typing import Any

import mujoco
import numpy as np
import yaml
from common import ROOT

from rapid.envs.hide_and_seek.scene import SUBSTEPS  # physics steps per env step (15)
from rapid.platform.env_stack import make_env

JOB = ROOT / "jobs" / "hide_and_seek_quadrant.yaml"
MLP = {"module": "default", "model_config": {"fcnet_hiddens": [256, 256]}}


def scenes() -> dict[str, dict[str, Any]]:
    """Scene name -> env_config: the env's default 2v2 and the quadrant job's."""
    return {"random_walls_2v2": {}, "quadrant_job": yaml.safe_load(JOB.read_text())["env_config"]}


# --- 1. env vs raw simulator -------------------------------------------------------------------


def raw_steps_per_s(model: mujoco.MjModel, data: mujoco.MjData, ctrls: np.ndarray) -> float:
    start = time.perf_counter()
    for ctrl in ctrls:
        data.ctrl[:] = ctrl
        mujoco.mj_step(model, data, nstep=SUBSTEPS)
    return len(ctrls) / (time.perf_counter() - start)


def rays_steps_per_s(env: Any, ctrls: np.ndarray) -> float:
    """Physics and the env's sensing of each new state, without the rest of its step."""
    world, perception = env.world, env.perception
    start = time.perf_counter()
    for ctrl in ctrls:
        world.data.ctrl[:] = ctrl
        mujoco.mj_step(world.model, world.data, nstep=SUBSTEPS)
        world.refresh()
        perception.sense()
    return len(ctrls) / (time.perf_counter() - start)


def env_steps_per_s(env: Any, actions: list[dict[str, np.ndarray]]) -> float:
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated["__all__"] or truncated["__all__"]:
            env.reset()
    return len(actions) / (time.perf_counter() - start)


def measure_env(env_config: dict[str, Any], rounds: int, steps: int, rng: np.random.Generator) -> dict[str, float]:
    env = make_env("hide_and_seek", env_config)
    env.reset(seed=0)
    base = env.env.unwrapped  # the HideAndSeekEnv under the physics guard
    model, raw = base.model, copy.copy(base.data)
    agents = list(env.possible_agents)
    nvec = env.action_spaces[agents[0]].nvec
    rates: dict[str, list[float]] = {"raw": [], "rays": [], "env": []}
    for r in range(rounds):
        ctrls = rng.uniform(-0.9, 0.9, (steps, raw.ctrl.size))
        picks = rng.integers(0, nvec, (steps, len(agents), len(nvec)))
        actions = [dict(zip(agents, row, strict=True)) for row in picks]
        mujoco.mj_copyData(raw, model, base.data)  # the env's present scene and state
        arms = {"raw": partial(raw_steps_per_s, model, raw, ctrls), "rays": partial(rays_steps_per_s, base, ctrls),
                "env": partial(env_steps_per_s, env, actions)}
        for name in list(arms) if r % 2 == 0 else list(arms)[::-1]:
            rates[name].append(arms[name]())
            if name == "rays":
                env.reset()  # the rays arm moved the env's bodies without its rules
    env.close()
    return {
        "raw_steps_per_s": statistics.median(rates["raw"]),
        "env_steps_per_s": statistics.median(rates["env"]),
        "env_over_raw": statistics.median(e / r for e, r in zip(rates["env"], rates["raw"], strict=True)),
        "rays_over_raw": statistics.median(e / r for e, r in zip(rates["rays"], rates["raw"], strict=True)),
    }


def env_part(rounds: int, steps: int) -> dict[str, float]:
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    rng = np.random.default_rng(0)
    figures: dict[str, float] = {}
    try:
        for scene, env_config in scenes().items():
            found = measure_env(env_config, rounds, steps, rng)
            figures.update({f"{scene}/{key}": value for key, value in found.items()})
            print(f"{scene}: env {found['env_steps_per_s']:8,.0f} steps/s, raw mj_step x{SUBSTEPS} "
                  f"{found['raw_steps_per_s']:8,.0f} steps/s, env/raw {found['env_over_raw']:.3f} (target >= 0.75), "
                  f"raw plus rays alone/raw {found['rays_over_raw']:.3f}", flush=True)
    finally:
        os.sched_setaffinity(0, cpus)  # Ray's workers (part 2) inherit the affinity
    figures["worst_env_over_raw"] = min(v for k, v in figures.items() if k.endswith("env_over_raw"))
    return figures


# --- 2. PPO sampling: attention vs MLP ---------------------------------------------------------


def ppo_configs() -> dict[str, Any]:
    """Arm -> AlgorithmConfig, built by rapid from the quadrant job: `attention` as the job is,
    `mlp` with every policy on RLlib's default module over the flattened observation."""
    from gymnasium import spaces
    from ray.rllib.connectors.env_to_module import FlattenObservations

    from rapid.platform.multi_agent import policy_mapping, set_modules
    from rapid.platform.rllib_config import build_algorithm_config, register_env
    from rapid.platform.spec_file import load_spec

    overrides = ["evaluation=null", "resources.env_runners=1"]
    attention = load_spec(JOB, overrides=overrides).job
    values = {f"multi_agent.policies.{name}": MLP for name in attention.multi_agent.policies}
    mlp = load_spec(JOB, overrides=overrides, values=values).job
    register_env(attention)
    configs = {"attention": build_algorithm_config(attention), "mlp": build_algorithm_config(mlp)}
    config = configs["mlp"]
    if config._env_to_module_connector is not None:
        raise SystemExit("the job already sets an env-to-module connector; the MLP arm's flattening would replace it")
    config.env_runners(env_to_module_connector=lambda env, spaces, device: FlattenObservations(multi_agent=True))
    # rapid fixes each module's spaces to the env's (Dict) ones; the MLP sees the flattened vector.
    specs = dict(config.rl_module_spec.rl_module_specs)
    for name, spec in specs.items():
        flat = FlattenObservations(
            input_observation_space=spaces.Dict({name: spec.observation_space}),
            input_action_space=spaces.Dict({name: spec.action_space}),
            multi_agent=True,
        ).observation_space[name]
        specs[name] = copy.copy(spec)
        specs[name].observation_space = flat
    set_modules(config, specs, policy_mapping(mlp.multi_agent), mlp.multi_agent.trained)
    return configs


def timed_sample(runner: Any, steps: int) -> tuple[int, float]:
    """On the env runner: env steps sampled and the seconds `sample` took."""
    start = time.perf_counter()
    episodes = runner.sample(num_timesteps=steps)
    seconds = time.perf_counter() - start
    runner.get_metrics()  # what each training iteration collects; keeps the runner's metrics small
    return sum(len(episode) for episode in episodes), seconds


def sample_rate(algo: Any, steps: int) -> float:
    [(sampled, seconds)] = algo.env_runner_group.foreach_env_runner(
        lambda runner: timed_sample(runner, steps), local_env_runner=False
    )
    return sampled / seconds


def sampling_part(rounds: int, steps: int, warmup: int) -> dict[str, float]:
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        algos = {name: config.build_algo() for name, config in ppo_configs().items()}
        for algo in algos.values():
            sample_rate(algo, warmup)
        rates: dict[str, list[float]] = {name: [] for name in algos}
        for r in range(rounds):
            for name in list(algos) if r % 2 == 0 else list(algos)[::-1]:
                rates[name].append(sample_rate(algos[name], steps))
            print(f"sampling round {r + 1}: attention {rates['attention'][-1]:7,.0f} env steps/s, "
                  f"MLP {rates['mlp'][-1]:7,.0f}", flush=True)
        for algo in algos.values():
            algo.stop()
    finally:
        ray.shutdown()
    return {
        "sampling/attention_env_steps_per_s": statistics.median(rates["attention"]),
        "sampling/mlp_env_steps_per_s": statistics.median(rates["mlp"]),
        "sampling/attention_over_mlp": statistics.median(a / m for a, m in zip(rates["attention"], rates["mlp"], strict=True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few hundred steps per arm: checks the wiring")
    parser.add_argument("--only", choices=("env", "sampling"), help="run one part")
    args = parser.parse_args()
    env_rounds, env_steps = (2, 200) if args.quick else (40, 240)
    sample_rounds, sample_steps, warmup = (2, 150, 10) if args.quick else (5, 3200, 200)
    result: dict[str, float] = {}
    if args.only in (None, "env"):
        result.update({"env_rounds": env_rounds, "env_steps_per_round": env_steps, **env_part(env_rounds, env_steps)})
    if args.only in (None, "sampling"):
        result.update({"sampling_rounds": sample_rounds, "sampling_steps_per_round": sample_steps,
                       **sampling_part(sample_rounds, sample_steps, warmup)})
        print(f"PPO sampling, 1 env runner: attention {result['sampling/attention_env_steps_per_s']:,.0f} env steps/s, "
              f"MLP {result['sampling/mlp_env_steps_per_s']:,.0f}, attention/MLP {result['sampling/attention_over_mlp']:.3f}")
    print(json.dumps({k: round(v, 4) for k, v in result.items()}))


if __name__ == "__main__":
    main()
