"""VPT on Crafter: how well the inverse dynamics model labels actions from a small labelled share,
what each stage's throughput is here, and does fine-tuning from the cloned policy with a KL to it
beat the alternatives at equal env steps?

1. Demonstrations: the collect stage of jobs/vpt_crafter.yaml (the scripted tech-tree player, two
   actors) records `--episodes` episodes, all with their actions, through `rapid run`; frames/s
   collected, and the player's own success at the fine-tuning task (iron) within the demos' 80 steps.
2. IDM accuracy against the labelled share: the last 10% of episodes are a fixed test set; for each
   share (1%, 5%, 20% of the rest) an IDM of the job's laptop size trains `--idm-epochs` epochs on
   that share only; accuracy on every test transition, beside the majority-action baseline and the
   paper's 90.6% (VPT's IDM on contractor data). Training frames/s.
3. Labels and cloning: the 5% IDM labels every frame (the label stage through `rapid run`: frames/s
   labelled); the BC stage clones the pseudo-labels and, as the upper reference, the recorded
   actions of the same episodes (`--bc-epochs` each); held-out accuracy on recorded actions, frames/s trained.
4. Fine-tuning at `--budget` env steps each (the finetune stage, PPO, through `rapid run`): from
   scratch, from BC without the KL, from BC with the KL (0.2, x0.9995 per iteration); with BC alone
   (no RL) beside them. Each policy then plays `--eval-episodes` task episodes (sampling its actions):
   success at the task (collect iron), the rate of each achievement on the way, the earlier skills
   (wood, table, wooden pickaxe, stone, stone pickaxe: their mean rate), and a Crafter score over
   these episodes (the score's formula on achievement rates of task episodes, not the published
   protocol's 10,000-step episodes).

The last line printed is one JSON object with every figure. With `--keep DIR` each part's figures
are saved there as it ends, and a rerun with the same DIR goes on from the first part not done.

    python benchmarks/vpt.py --keep /tmp/vpt_bench
    python benchmarks/vpt.py --quick          # parts 1-3 at the stages' smoke sizes (no cloning or fine-tuning): wiring only
"""

import argparse
import json
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from common import ROOT, run_rapid

from rapid.platform.datasets import Dataset
from rapid.platform.env_stack import make_env
from rapid.platform.rollout_recorder import ModulePolicy
from rapid.sweeps.vpt.bc import action_accuracy
from rapid.sweeps.vpt.episodes import load_episodes
from rapid.sweeps.vpt.idm import IDMTrainable, accuracy

JOBS = ROOT / "jobs" / "vpt_crafter"
SHARES = (0.01, 0.05, 0.2)
PAPER_IDM_ACCURACY = 0.906
EARLIER = ("collect_wood", "place_table", "make_wood_pickaxe", "collect_stone", "make_stone_pickaxe")
TASK = "collect_iron"
SEQ_LEN = 32  # the bc stage's sequences
QUICK_IDM = {"clip": 8, "clips_per_epoch": 8, "batch_size": 2, "width": 16, "layers": 1, "heads": 2, "cnn_channels": [8]}


def collect(storage: str, episodes: int, profile: str | None) -> tuple[str, dict[str, float]]:
    """The dataset, all episodes with their actions, and the collection's figures."""
    out = run_rapid(JOBS / "collect.yaml", [f"config.episodes={episodes}", "config.labelled_share=1.0"], storage, "collect",
                    profile)
    summary = json.loads((out["run"] / "summary.json").read_text())
    return summary["dataset"], {"collect_frames_per_s": summary["frames_per_s"], "demo_frames": summary["frames"],
                                "demo_success": summary["episode_return_mean"]}


def with_share(source: str, target: str, share: float, test_from: int) -> str:
    """A copy of the dataset in which only `share` of the training episodes keep their actions and
    the test episodes (index >= test_from) are left out."""
    table = Dataset(source).read_table()
    table = table.filter(pc.less(table["episode"], test_from))
    rng = np.random.default_rng(0)
    keep = set(rng.permutation(test_from)[:max(2, round(share * test_from))].tolist())
    kept = [a if e in keep else None for e, a in zip(table["episode"].to_pylist(), table["action"].to_pylist(), strict=True)]
    table = table.set_column(table.column_names.index("action"), "action", pa.array(kept, table["action"].type))
    Dataset(target).write_shard("0000000", table)
    return target


def idm_part(dataset: str, storage: str, epochs: int, sizes: dict[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """IDM accuracy per labelled share on the fixed test episodes; the datasets (each share's, and
    all training episodes labelled) and the 5% model's checkpoint, for the next stages."""
    episodes = load_episodes(dataset)
    test_from = int(len(episodes) * 0.9)
    test = [e for e in episodes if e.index >= test_from]
    figures: dict[str, float] = {}
    found = {"full": with_share(dataset, f"{storage}/share_1.0", 1.0, test_from)}
    for share in SHARES:
        data = with_share(dataset, f"{storage}/share_{share}", share, test_from)
        trainable = IDMTrainable(config={"data": data, "validation_share": 0.1, **sizes})
        start = time.perf_counter()
        for _ in range(epochs):
            result = trainable.train()
        frames = epochs * trainable.cfg.clips_per_epoch * trainable.cfg.clip
        figures[f"idm_accuracy/{share}"] = accuracy(trainable.model, test, trainable.cfg.clip)
        figures[f"idm_labelled_frames/{share}"] = result["labelled_frames"]
        figures["idm_train_frames_per_s"] = frames / (time.perf_counter() - start)
        actions = np.concatenate([e.actions for e in episodes if e.index < test_from])
        majority = np.bincount(actions).argmax()
        figures["majority_accuracy"] = float(np.mean(np.concatenate([e.actions for e in test]) == majority))
        if share == 0.05:
            found.update(idm=trainable.save(f"{storage}/idm_{share}").checkpoint.path, share=data)
        trainable.stop()
    return figures, found


def label(found: dict[str, str], storage: str) -> tuple[dict[str, float], str]:
    out = run_rapid(JOBS / "label.yaml", [f"config.data={found['share']}", f"config.idm={found['idm']}"], storage, "label")
    summary = json.loads((out["run"] / "summary.json").read_text())
    return {"label_frames_per_s": summary["frames_per_s"], "label_agreement": summary["label_agreement"]}, summary["dataset"]


def clone(
    labelled: str, found: dict[str, str], storage: str, epochs: int, dataset: str
) -> tuple[dict[str, float], dict[str, str]]:
    """BC on the pseudo-labels and on the recorded actions; both scored on the IDM's test episodes,
    which neither trained on."""
    episodes = load_episodes(dataset)
    test = [e for e in episodes if e.index >= int(len(episodes) * 0.9)]
    figures: dict[str, float] = {}
    checkpoints = {}
    for labels, data in (("pseudo", labelled), ("recorded", found["full"])):
        out = run_rapid(JOBS / "bc.yaml", [f"config.data={data}", f"config.labels={labels}", f"stop.iterations={epochs}"],
                        storage, "bc")
        summary = json.loads((out["run"] / "summary.json").read_text())
        table = out["table"]
        figures[f"bc_loss/{labels}"] = table["bc_loss"][-1]
        figures[f"bc_accuracy/{labels}"] = action_accuracy(ModulePolicy(summary["checkpoint"]).module, test, SEQ_LEN)
        figures[f"bc_frames_per_s/{labels}"] = sum(table["frames"]) / sum(table["iteration_s"])
        checkpoints[labels] = summary["checkpoint"]
    return figures, checkpoints


def evaluate(checkpoint: str, episodes: int) -> dict[str, float]:
    """Task success, each achievement's rate and the Crafter score's formula over task episodes."""
    env = make_env("simon_says", {"tasks": [TASK], "max_steps": 500})
    policy = ModulePolicy(checkpoint)
    got: dict[str, int] = {}
    success = 0
    for episode in range(episodes):
        policy.reset()
        obs, info = env.reset(seed=10_000 + episode)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(policy(obs, info))
            done = terminated or truncated
        success += int(info["success"])
        for item in info["obtained"]:
            got[item] = got.get(item, 0) + 1
    rates = {item: got.get(item, 0) / episodes for item in env.unwrapped.backend.items}
    score = math.exp(np.mean([math.log(1 + 100 * rate) for rate in rates.values()])) - 1
    return {"success": success / episodes, "earlier_skills": float(np.mean([rates[i] for i in EARLIER])), "crafter_score": score}


def finetune_part(bc: str, storage: str, budget: int, eval_episodes: int) -> dict[str, float]:
    arms = {
        "scratch": ["kl_to_reference=null"],
        "bc_ppo": [f"policy.init_checkpoint={bc}", "kl_to_reference=null"],
        "bc_ppo_kl": [f"policy.init_checkpoint={bc}", f"kl_to_reference.checkpoint={bc}"],
    }
    figures: dict[str, float] = {}
    for name, sets in arms.items():
        out = run_rapid(JOBS / "finetune.yaml", [*sets, f"stop.env_steps={budget}", "stop.wall_time_s=7200"], storage, "finetune")
        summary = json.loads((out["run"] / "summary.json").read_text())
        figures[f"finetune_env_steps_per_s/{name}"] = out["env_steps"] / out["train_s"]
        figures.update({f"{k}/{name}": v for k, v in evaluate(summary["checkpoint"], eval_episodes).items()})
    figures.update({f"{k}/bc_only": v for k, v in evaluate(bc, eval_episodes).items()})
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=300, help="demonstration episodes")
    parser.add_argument("--idm-epochs", type=int, default=10)
    parser.add_argument("--bc-epochs", type=int, default=5)
    parser.add_argument("--budget", type=int, default=20_000, help="env steps of each fine-tuning run")
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--keep", help="keep runs and datasets here (default: a temporary folder)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    storage = args.keep or tempfile.mkdtemp(prefix="vpt_bench_")
    Path(storage).mkdir(parents=True, exist_ok=True)

    def part(name: str, run: Callable[[], tuple[dict[str, float], Any]]) -> Any:
        """A part's figures (added to the result) and what later parts need, from its saved file if done."""
        saved = Path(storage, f"part_{name}.json")
        figures, found = json.loads(saved.read_text()) if saved.exists() else run()
        saved.write_text(json.dumps([figures, found]))
        print(json.dumps(figures), flush=True)
        result.update(figures)
        return found

    result: dict[str, float] = {"paper_idm_accuracy": PAPER_IDM_ACCURACY}
    full = part("collect", lambda: collect(storage, 30 if args.quick else args.episodes, "smoke" if args.quick else None)[::-1])
    found = part("idm", lambda: idm_part(full, storage, 2 if args.quick else args.idm_epochs, QUICK_IDM if args.quick else {}))
    labelled = part("label", lambda: label(found, storage))
    if not args.quick:
        checkpoints = part("clone", lambda: clone(labelled, found, storage, args.bc_epochs, full))
        part("finetune", lambda: (finetune_part(checkpoints["pseudo"], storage, args.budget, args.eval_episodes), None))
    print("\nfigure                                   value")
    for key, value in result.items():
        print(f"{key:40s} {value:.4g}")
    print(json.dumps({k: round(float(v), 4) for k, v in result.items()}))


if __name__ == "__main__":
    main()
