"""Test success rate against env steps on FetchReach and FetchPush: rapid's SAC with HER, the
same job without HER, and stable-baselines3's SAC+HER, side by side on one machine.

- rapid: `jobs/fetch_reach_her.yaml` / `jobs/fetch_push_her.yaml` (laptop profile: the envs
  step in the trial's process, the learner has both cores), and the same with `her: null`.
  Success is `evaluation/env_runners/success_rate`: 10 deterministic episodes every 5 iterations.
- stable-baselines3 2.9.2 (a peer researchers use; installed for this benchmark only:
  `pip install stable-baselines3==2.9.2`): SAC + HerReplayBuffer (future, k=4) with the same
  networks (3 x 256, the job's activation), learning rates, batch, discount, tau and how often it
  is applied, buffer and warm-up, inputs normalized and clipped to [-5, 5] as in the job (SB3's
  VecNormalize, as RL Zoo sets it for Fetch); its default of one update per env step. Success: 10
  deterministic episodes every 1,000 steps.
Each arm is a fresh process; wall-clock per 100k env steps is measured over the whole arm.

    python benchmarks/her_fetch.py                      # FetchReach 3k + FetchPush 15k env steps per arm
    python benchmarks/her_fetch.py --push-steps 100000  # a longer FetchPush budget
    python benchmarks/her_fetch.py --quick              # under a minute: FetchReach, rapid HER only
    # many cores and a GPU: rapid with 15 env runners and its learner on the GPU, each arm capped at 150 s
    python benchmarks/her_fetch.py --runners 15 --gpu --budget-s 150 --set training.train_batch_size_per_learner=4096

FetchPush's 1M env steps take longer than one sitting on a laptop. rapid's arm is then the job
itself, stopped with Ctrl-C and resumed from its checkpoint (replay buffer included); SB3's arm
saves its model, buffer and curve in `--keep DIR` and goes on from them the next time:

    rapid run jobs/fetch_push_her.yaml --set storage_path=runs --set evaluation.every=5 --set checkpoint.every=100
    rapid run --resume runs/fetch_push_her/<run>                       # the next sitting
    python benchmarks/her_fetch.py --arms sb3_her --reach-steps 0 --push-steps 1000000 --budget-s 7000 --keep runs
    python benchmarks/her_fetch.py --arms --from-run runs/fetch_push_her/<run>   # figures so far
    python benchmarks/her_fetch.py --arms --from-run runs/sb3_FetchPush-v4        # SB3's, the same way

With `--from-run`, the replay buffer (of a rapid run's newest checkpoint, or SB3's kept one) also
says, per 25k env steps, what the training episodes did: the share whose achieved goal (on
FetchPush, the block) moved more than 2 cm, beside that share for 400 episodes of uniform random
actions, and the share that ended on the goal. Both arms' buffers are read the same way.
"""

import argparse
import contextlib
import functools
import io
import json
import pickle
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from common import ROOT, run_baseline, run_rapid
from ray.rllib.env.single_agent_episode import SingleAgentEpisode

from rapid.platform.figures import is_number
from rapid.platform.registry import ENVS
from rapid.platform.run_dir import read_metrics
from rapid.platform.spec_file import load_spec
from rapid.training.her.buffer import goal_layout

JOBS = {"FetchReach-v4": ("fetch_reach_her", 3000), "FetchPush-v4": ("fetch_push_her", 15000)}
EVAL_EPISODES = 10
SUCCESS = "evaluation/env_runners/success_rate"
SB3_SAVE_EVERY = 50_000
MOVED_M = 0.02  # an achieved goal that shifts more than this: the arm touched the object
MOVED_WINDOW = 25_000


def stable_baselines(env_id: str, steps: int, budget_s: float, keep: Path | None) -> None:
    """The peer: SB3 SAC + HER with the job's settings, printing its curve as one JSON line. With
    `keep`, it goes on from the model, replay buffer and curve saved there, and saves them every
    SB3_SAVE_EVERY env steps and when it stops: a run longer than one sitting."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import SAC, HerReplayBuffer
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    with contextlib.redirect_stderr(io.StringIO()):
        import gymnasium_robotics
    gym.register_envs(gymnasium_robotics)
    job = load_spec(ROOT / "jobs" / f"{JOBS[env_id][0]}.yaml").job
    training = job.training
    saved = keep / f"sb3_{env_id}" if keep else None
    if saved and not saved.is_dir() and _beside(saved, ".old").is_dir():
        _beside(saved, ".old").rename(saved)  # a save stopped between its two renames
    progress = {"curve": [], "train_s": 0.0}
    envs = DummyVecEnv([lambda: gym.make(env_id)])
    if saved and saved.is_dir():
        envs = VecNormalize.load(str(saved / "vec_normalize.pkl"), envs)
        model = SAC.load(saved / "model.zip", env=envs)
        model.load_replay_buffer(saved / "replay_buffer.pkl")
        progress = json.loads((saved / "progress.json").read_text())
    else:
        envs = VecNormalize(envs, norm_obs=True, norm_reward=False, clip_obs=5.0, gamma=training["gamma"])
        model = SAC(
            "MultiInputPolicy",
            envs,
            replay_buffer_class=HerReplayBuffer,
            replay_buffer_kwargs={"n_sampled_goal": job.her.k, "goal_selection_strategy": job.her.strategy},
            learning_rate=training["actor_lr"],
            gamma=training["gamma"],
            tau=training["tau"],
            # RLlib counts its target-update period in env steps, SB3 in updates: one per env step here.
            target_update_interval=max(1, training.get("target_network_update_freq", 0)),
            batch_size=training["train_batch_size_per_learner"],
            buffer_size=training["replay_buffer_config"]["capacity"],
            learning_starts=training["num_steps_sampled_before_learning_starts"],
            policy_kwargs={
                "net_arch": job.policy.model_config_["fcnet_hiddens"],
                "activation_fn": {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[job.policy.model_config_["fcnet_activation"]],
            },
            seed=job.seed,
        )
    test_env = gym.make(env_id)
    spent = 0.0
    try:
        while model.num_timesteps < steps and spent < budget_s:
            start = time.time()
            model.learn(1000, reset_num_timesteps=False)
            elapsed = time.time() - start
            spent += elapsed
            progress["train_s"] += elapsed
            progress["curve"].append((model.num_timesteps, _sb3_success(model, envs, test_env)))
            if saved and model.num_timesteps % SB3_SAVE_EVERY == 0:
                _save_sb3(model, progress, saved)
    finally:  # Ctrl-C too: the next sitting goes on from here
        if saved:
            _save_sb3(model, progress, saved)
    print(json.dumps({**progress, "env_steps": model.num_timesteps}))


def _save_sb3(model, progress: dict, saved: Path) -> None:
    """Model, replay buffer and curve written beside `saved`, then swapped in whole."""
    new, old = _beside(saved, ".new"), _beside(saved, ".old")
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    model.save(new / "model.zip")
    model.save_replay_buffer(new / "replay_buffer.pkl")
    model.get_vec_normalize_env().save(str(new / "vec_normalize.pkl"))
    (new / "progress.json").write_text(json.dumps(progress))
    if saved.exists():
        saved.rename(old)
    new.rename(saved)
    shutil.rmtree(old, ignore_errors=True)


def _beside(saved: Path, suffix: str) -> Path:
    return saved.with_name(saved.name + suffix)


def _sb3_success(model, normalize, env) -> float:
    """Test success with the training inputs' normalization, its statistics left as they are."""
    successes = 0.0
    for episode in range(EVAL_EPISODES):
        obs, _ = env.reset(seed=10_000 + episode)
        done = False
        while not done:
            action, _ = model.predict(normalize.normalize_obs(obs), deterministic=True)
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        successes += float(info["is_success"])
    return successes / EVAL_EPISODES


def rapid_curve(env_id: str, steps: int, her: bool, storage: str, budget_s: float, extra: list[str]) -> dict:
    job, _ = JOBS[env_id]
    overrides = [f"stop.env_steps={steps}", "stop.metric={}", f"stop.wall_time_s={budget_s}", "evaluation.every=5",
                 f"evaluation.episodes={EVAL_EPISODES}", f"checkpoint.every={10**6}", *extra]
    if not her:
        overrides.append("her=null")
    figures = run_rapid(ROOT / "jobs" / f"{job}.yaml", overrides, storage, job)
    return {"curve": rapid_success_curve(figures["table"]), "train_s": figures["train_s"], "env_steps": figures["env_steps"]}


def rapid_success_curve(table: dict[str, list]) -> list[tuple[float, float]]:
    """(env steps, test success) of every evaluation in a rapid run's metrics table."""
    pairs = zip(table["env_steps"], table.get(SUCCESS, []), strict=False)
    return [(s, v) for s, v in pairs if is_number(v)]


def finished_run(run_dir: Path) -> tuple[str, str, dict]:
    """Task, arm and curve of a run made outside this script: a rapid run (e.g. one resumed across
    sessions) or SB3's state kept with `--keep` (its folder `sb3_<env id>`)."""
    progress = run_dir / "progress.json"
    if progress.is_file():
        figures = json.loads(progress.read_text())
        return run_dir.name.removeprefix("sb3_"), "sb3_her", {**figures, "env_steps": figures["curve"][-1][0]}
    job = load_spec(run_dir / "spec.yaml").job
    table = read_metrics(run_dir)
    arm = ("rapid_her" if job.her else "rapid_no_her") + (f"_random{job.random_actions:g}" if job.random_actions else "")
    figures = {"curve": rapid_success_curve(table), "train_s": sum(table["iteration_s"]), "env_steps": table["env_steps"][-1]}
    return job.env, arm, figures


Episode = tuple[np.ndarray, np.ndarray]  # the achieved goal at every observation of an episode, and its desired goal


def rapid_episodes(run_dir: Path, env_id: str) -> Iterator[Episode]:
    """The finished training episodes in the replay buffer of a rapid run's newest checkpoint, oldest first."""
    newest = max((run_dir / "checkpoints").glob("checkpoint_*"))
    state = pickle.loads((newest / "replay_buffer.pkl").read_bytes())
    env = ENVS.get(env_id)({})
    layout = goal_layout(env.observation_space)
    env.close()
    for episode_state in state["episodes"]:
        episode = SingleAgentEpisode.from_state(episode_state)
        if episode.is_done:
            observations = np.asarray(episode.get_observations(slice(0, len(episode) + 1)))
            yield observations[:, layout["achieved_goal"]], observations[0, layout["desired_goal"]]


def sb3_episodes(kept: Path) -> Iterator[Episode]:
    """The finished training episodes in SB3's kept HerReplayBuffer (one env, raw observations:
    SB3 stores them before VecNormalize), oldest first."""
    with (kept / "replay_buffer.pkl").open("rb") as file:
        buffer = pickle.load(file)
    if buffer.full:
        raise SystemExit(f"{kept}: SB3's replay buffer has wrapped around; its episodes are no longer in order")
    observed, following = buffer.observations, buffer.next_observations
    for first in np.flatnonzero(buffer.ep_start[: buffer.pos, 0] == np.arange(buffer.pos)):
        length = buffer.ep_length[first, 0]  # 0 while the episode runs
        if length:
            last = following["achieved_goal"][first + length - 1, 0]
            achieved = np.concatenate([observed["achieved_goal"][first : first + length, 0], last[None]])
            yield achieved, observed["desired_goal"][first, 0]


def training_episodes(episodes: Iterable[Episode], env_id: str) -> list[tuple[int, float, float]]:
    """Per MOVED_WINDOW env steps: (env steps at the window's end, the share of its training episodes
    whose achieved goal moved more than MOVED_M, the share that ended on the goal: the env's
    compute_reward gives 0 at their last step)."""
    env = ENVS.get(env_id)({})
    compute_reward = env.unwrapped.compute_reward
    env.close()
    windows: dict[int, list[tuple[bool, bool]]] = {}
    steps = 0
    for achieved, desired in episodes:
        moved = np.linalg.norm(achieved - achieved[0], axis=1).max() > MOVED_M
        windows.setdefault(steps // MOVED_WINDOW, []).append((moved, compute_reward(achieved[-1], desired, None) == 0))
        steps += len(achieved) - 1
    return [(min((w + 1) * MOVED_WINDOW, steps), *map(float, np.mean(flags, axis=0))) for w, flags in sorted(windows.items())]


@functools.cache  # one figure per task, however many runs of it are reported
def random_object_moved(env_id: str, episodes: int = 400) -> float:
    """The share of `episodes` of uniform random actions (seeds 0..) whose achieved goal moved more than MOVED_M."""
    env, moved = ENVS.get(env_id)({}), 0
    for seed in range(episodes):
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        start, farthest, done = obs["achieved_goal"], 0.0, False
        while not done:
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            farthest, done = max(farthest, float(np.linalg.norm(obs["achieved_goal"] - start))), terminated or truncated
        moved += farthest > MOVED_M
    env.close()
    return moved / episodes


def steps_to(curve: list, level: float) -> float | None:
    """The first env-step count at which test success reached `level` (None: never)."""
    return next((s for s, v in curve if v >= level), None)


def success_at(curve: list, steps: float) -> float | None:
    """Test success at the last evaluation within `steps` env steps (None: none yet)."""
    return next((v for s, v in reversed(curve) if s <= steps), None)


def record(result: dict[str, dict], env_id: str, arm: str, run: dict) -> None:
    """An arm's figures from its curve, env steps and training seconds, and its curve printed as one line."""
    curve = run["curve"]
    result.setdefault(env_id, {})[arm] = {
        "env_steps": run["env_steps"],
        "success_final": curve[-1][1] if curve else None,
        "steps_to_0.9": steps_to(curve, 0.9),
        "s_per_100k_env_steps": round(run["train_s"] / run["env_steps"] * 100_000, 1),
        "curve": curve,
    }
    print(f"{env_id} {arm:13s} " + " ".join(f"{s:,.0f}:{v:.2f}" for s, v in curve), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reach-steps", type=int, default=JOBS["FetchReach-v4"][1])
    parser.add_argument("--push-steps", type=int, default=JOBS["FetchPush-v4"][1])
    parser.add_argument("--budget-s", type=float, default=100_000, help="each arm's cap in seconds of training")
    parser.add_argument("--runners", type=int, default=0, help="rapid's env runners (2 envs each; 0: the job's laptop setup)")
    parser.add_argument("--gpu", action="store_true", help="rapid's learner on a GPU (SB3 takes one when there is one)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="an override for the rapid arms")
    parser.add_argument("--arms", nargs="*", default=["rapid_her", "rapid_no_her", "sb3_her"])
    parser.add_argument("--from-run", action="append", default=[], metavar="RUN_DIR",
                        help="also report a rapid run made with `rapid run` (and `rapid run --resume`)")
    parser.add_argument("--keep", metavar="DIR", help="SB3's arm saves its model, buffer and curve here and goes on from them")
    parser.add_argument("--sb3", nargs=4, metavar=("ENV", "STEPS", "BUDGET_S", "KEEP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sb3:
        stable_baselines(args.sb3[0], int(args.sb3[1]), float(args.sb3[2]), Path(args.sb3[3]) if args.sb3[3] else None)
        return
    budgets = {"FetchReach-v4": 1500} if args.quick else {"FetchReach-v4": args.reach_steps, "FetchPush-v4": args.push_steps}
    budgets = {env_id: steps for env_id, steps in budgets.items() if steps > 0}
    arms = ("rapid_her",) if args.quick else args.arms
    extra = list(args.set)
    if args.runners:
        extra += [f"resources.env_runners={args.runners}", "resources.envs_per_env_runner=2", "resources.cpus_per_learner=1"]
    if args.gpu:
        extra.append("resources.gpus_per_learner=1")
    result: dict[str, dict] = {}
    for run_dir in map(Path, args.from_run):
        env_id, arm, run = finished_run(run_dir)
        record(result, env_id, arm, run)
        episodes = sb3_episodes(run_dir) if arm == "sb3_her" else rapid_episodes(run_dir, env_id)
        windows, random_moved = training_episodes(episodes, env_id), random_object_moved(env_id)
        result[env_id][arm].update(training_episodes=windows, object_moved_uniform_random=random_moved)
        print(f"{env_id} {arm}: training episodes per {MOVED_WINDOW:,} env steps (to the step count),"
              f" share that move the achieved goal > {MOVED_M * 100:.0f} cm / share that end on the goal: "
              + " ".join(f"{s:,}:{m:.3f}/{r:.3f}" for s, m, r in windows)
              + f" (uniform random actions move it in {random_moved:.3f})", flush=True)
    with tempfile.TemporaryDirectory() as storage:
        for env_id, steps in budgets.items():
            for arm in arms:
                if arm == "sb3_her":
                    keep = str(Path(args.keep).resolve()) if args.keep else ""
                    run = run_baseline(__file__, ["--sb3", env_id, str(steps), str(args.budget_s), keep])
                else:
                    run = rapid_curve(env_id, steps, arm == "rapid_her", storage, args.budget_s, extra)
                record(result, env_id, arm, run)
    for arms_result in result.values():
        if "sb3_her" in arms_result:
            peer_steps = arms_result["sb3_her"]["env_steps"]
            for r in arms_result.values():
                r["success_at_sb3_steps"] = success_at(r["curve"], peer_steps)
    for env_id, arms_result in result.items():
        print(f"\n{env_id}: test success (10 deterministic episodes)")
        print(f"  {'arm':20s} {'env steps':>10} {'final':>6} {'at SB3 steps':>13} {'steps to 0.9':>13} {'s per 100k steps':>17}")
        for arm, r in arms_result.items():
            reached = "never" if r["steps_to_0.9"] is None else f"{r['steps_to_0.9']:,.0f}"
            at_peer = r.get("success_at_sb3_steps")
            at_peer = "-" if at_peer is None else f"{at_peer:.2f}"
            final = "-" if r["success_final"] is None else f"{r['success_final']:.2f}"
            print(f"  {arm:20s} {r['env_steps']:10,.0f} {final:>6} {at_peer:>13} {reached:>13}"
                  f" {r['s_per_100k_env_steps']:17,.0f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
