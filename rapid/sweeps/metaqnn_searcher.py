"""MetaQNN (Baker et al. 2017) as a Tune Searcher: a Q-learning agent that designs a CNN layer by layer.

Each suggestion walks the state space from the start state, epsilon-greedy on the Q-table,
until it picks a terminal layer; the trial trains that network, and its best validation
accuracy is the reward of the terminal transition. After every scored network the agent
replays sampled trajectories from its memory, each updated from its last transition back to its
first. A network sampled again is not trained again: its stored accuracy is reused.

A SIGKILL can leave the searcher's saved state ahead of Tune's experiment state or behind it (see
`reconcile`); at `rapid run --resume` the searcher takes Tune's trials as the truth, so no network
is trained twice or lost.
"""

import glob
import json
import os
import pickle
import statistics
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, Strict
from ray.tune.execution.tune_controller import TuneController
from ray.tune.experiment import Trial
from ray.tune.search import Searcher

from rapid.platform.run_dir import RunDir, storage_uri
from rapid.sweeps.image_datasets import dataset_shape
from rapid.sweeps.metaqnn_space import Layer, Rules, StateSpace, full_net

# Written beside the searcher's saved state in the run folder at every experiment checkpoint.
REPORT = "metaqnn_report.json"
# (epsilon, networks sampled at it): 1,500 random networks, then ever greedier (2,700 in all).
PAPER_SCHEDULE = [(1.0, 1500), (0.9, 100), (0.8, 100), (0.7, 100), *((e / 10, 150) for e in range(6, 0, -1))]


Probability = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=1)]


class MetaQNNSettings(BaseModel):
    """The searcher's options in a spec (`search.options`); the paper's values are the defaults."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # YAML gives [epsilon, networks] as a list: read it laxly as a tuple, its numbers still strictly.
    epsilon_schedule: list[Annotated[tuple[Probability, Count], Strict(False)]] = Field(
        PAPER_SCHEDULE, min_length=1, description="[epsilon, networks] stages, in order"
    )
    learning_rate: float = Field(0.01, gt=0, le=1, description="Q-learning rate alpha")
    discount: float = Field(1.0, ge=0, le=1, description="gamma: 1, no discount (the reward comes at the end only)")
    initial_q: float = Field(0.5, description="Q of a state-action never updated")
    replay_samples: int = Field(100, ge=0, description="trajectories replayed from memory after each scored network")
    space: StateSpace = Field(default_factory=StateSpace)
    seed: int = Field(0, description="seed of the agent's exploration")

    @property
    def networks(self) -> int:
        return sum(count for _, count in self.epsilon_schedule)


def net_key(net: list[str]) -> str:
    return ", ".join(net)


def tune_trials(checkpoint_dir: str) -> list[Trial]:
    """The trials of the newest experiment state in `checkpoint_dir`: the file Tune resumes from (it
    copies the run folder's states there before it restores the searcher from the same folder)."""
    paths = glob.glob(os.path.join(checkpoint_dir, TuneController.CKPT_FILE_TMPL.format("*")))
    if not paths:
        return []
    with open(max(paths)) as file:
        trial_data = json.load(file)["trial_data"]
    trials = []
    for trial_state, run_metadata in trial_data:
        trial = Trial.from_json_state(trial_state, stub=True)
        trial.restore_run_metadata(run_metadata)
        trials.append(trial)
    return trials


class MetaQNNSearcher(Searcher):
    """Suggests `{"net": [...layers], "epsilon": e}`; the trainable (`cnn`) trains the net."""

    def __init__(self, metric: str | None = None, mode: str | None = None, **options: Any) -> None:
        super().__init__(metric=metric, mode=mode)
        self.settings = MetaQNNSettings.model_validate(options)
        self.rules: Rules | None = None
        self.q: dict[str, dict[str, float]] = {}
        self.memory: list[tuple[list[str], float]] = []  # replay memory: (network, accuracy)
        self.scores: dict[str, float] = {}  # network -> its accuracy, never trained twice
        self.history: list[dict[str, Any]] = []  # every sampled network: net, epsilon, accuracy, trained
        self.sampled = 0
        self.running: dict[str, tuple[list[str], float]] = {}  # trial id -> (network, epsilon)
        self.best_seen: dict[str, float] = {}  # trial id -> best metric reported so far
        self.waiting: dict[str, list[float]] = {}  # network -> epsilons of samples waiting for its running trial
        self.requeued: list[tuple[list[str], float]] = []  # suggested networks whose trial Tune lost: suggest them first
        self.live: set[str] = set()  # trials Tune runs or will run (suggested or resumed, not complete)
        self.max_concurrent: int | None = None
        self.rng = np.random.default_rng(self.settings.seed)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any) -> bool:
        """The trainable's fixed config names the dataset: its image size and classes bound the space."""
        self._metric, self._mode = self._metric or metric, self._mode or mode
        channels_size, classes = dataset_shape(config.get("dataset", "digits"))
        self.rules = Rules(self.settings.space, channels_size[-1], classes)
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        """The searcher limits its live trials itself: Tune's ConcurrencyLimiter keeps its own list of
        them in yet another separately saved file, which after a SIGKILL can hold trials Tune lost
        (slots taken for good) or miss trials Tune resumes (their results never reach the searcher)."""
        self.max_concurrent = max_concurrent
        return True

    def epsilon(self) -> float:
        """Epsilon of the next network to sample, from the schedule."""
        seen = 0
        for epsilon, count in self.settings.epsilon_schedule:
            seen += count
            if self.sampled < seen:
                return epsilon
        return self.settings.epsilon_schedule[-1][0]

    def q_value(self, state_key: str, action: Layer) -> float:
        return self.q.get(state_key, {}).get(str(action), self.settings.initial_q)

    def sample_net(self, epsilon: float) -> list[str]:
        """Walk from the start state, epsilon-greedy on Q, to a terminal layer."""
        state, actions = self.rules.start(), []
        while not actions or not actions[-1].terminal:
            allowed = self.rules.actions(state)
            if self.rng.random() < epsilon:
                action = allowed[self.rng.integers(len(allowed))]
            else:
                values = np.array([self.q_value(self.rules.key(state), a) for a in allowed])
                best = np.flatnonzero(values == values.max())
                action = allowed[best[self.rng.integers(len(best))]]
            actions.append(action)
            state = self.rules.step(state, action)
        return full_net(actions)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.max_concurrent is not None and len(self.live) >= self.max_concurrent:
            return None
        if self.requeued:
            return self._start(trial_id, *self.requeued.pop(0))
        while self.sampled < self.settings.networks:
            epsilon = self.epsilon()
            net = self.sample_net(epsilon)
            self.sampled += 1
            key = net_key(net)
            if key in self.scores:
                self._learn(net, self.scores[key], epsilon, trained=False)
            elif key in self.waiting:
                self.waiting[key].append(epsilon)
            else:
                self.waiting[key] = []
                return self._start(trial_id, net, epsilon)
        return Searcher.FINISHED

    def _start(self, trial_id: str, net: list[str], epsilon: float) -> dict[str, Any]:
        self.running[trial_id] = (net, epsilon)
        self.live.add(trial_id)
        return {"net": net, "epsilon": epsilon}

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        value = result.get(self._metric)
        if isinstance(value, int | float):
            self.best_seen[trial_id] = max(self.best_seen.get(trial_id, -np.inf), float(value))

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        """The reward is the best validation accuracy the trial reported; a failed trial scores nothing."""
        if result is not None:
            self.on_trial_result(trial_id, result)
        self.live.discard(trial_id)
        if error or trial_id not in self.running or trial_id not in self.best_seen:
            return  # a failed trial keeps its network: `rapid run --resume` may rerun it and score it then
        net, epsilon = self.running.pop(trial_id)
        accuracy = self.best_seen.pop(trial_id)
        repeats = self.waiting.pop(net_key(net), [])
        self.scores[net_key(net)] = accuracy
        for index, eps in enumerate([epsilon, *repeats]):
            self._learn(net, accuracy, eps, trained=index == 0)

    def _learn(self, net: list[str], accuracy: float, epsilon: float, trained: bool) -> None:
        self.history.append({"net": net, "epsilon": epsilon, "accuracy": accuracy, "trained": trained})
        self.memory.append((net, accuracy))
        for index in self.rng.integers(len(self.memory), size=self.settings.replay_samples):
            self.update(*self.memory[index])

    def update(self, net: list[str], accuracy: float) -> None:
        """One trajectory's Q-learning updates, from the terminal transition back to the first:
        Q(s,a) <- (1 - alpha) Q(s,a) + alpha (r + gamma max_a' Q(s',a')), r = accuracy at the end only."""
        alpha, gamma = self.settings.learning_rate, self.settings.discount
        steps = self.rules.trajectory(net)
        for index in reversed(range(len(steps))):
            state, action = steps[index]
            if action.terminal:
                target = accuracy
            else:
                following = self.rules.step(state, action)
                target = gamma * max(self.q_value(self.rules.key(following), a) for a in self.rules.actions(following))
            row = self.q.setdefault(self.rules.key(state), {})
            row[str(action)] = (1 - alpha) * self.q_value(self.rules.key(state), action) + alpha * target

    def report(self) -> dict[str, Any]:
        """The search as the paper reports it: per epsilon stage, every sampled network counts (a
        repeat at its stored accuracy), beside how many were newly trained; and the best network."""
        stages = {}
        for epsilon in sorted({h["epsilon"] for h in self.history}, reverse=True):
            stage = [h for h in self.history if h["epsilon"] == epsilon]
            stages[str(epsilon)] = {
                "networks": len(stage),
                "trained": sum(h["trained"] for h in stage),
                "mean_accuracy": statistics.fmean(h["accuracy"] for h in stage),
            }
        best = max(self.history, key=lambda h: h["accuracy"], default={})
        return {
            "by_epsilon": stages,
            "networks_sampled": self.sampled,
            "networks_trained": len(self.scores),
            "best_net": best.get("net"),
            "best_accuracy": best.get("accuracy"),
        }

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        super().save_to_dir(checkpoint_dir, session_str)
        RunDir(storage_uri(checkpoint_dir)).write_bytes(REPORT, json.dumps(self.report(), indent=2).encode())

    def save(self, checkpoint_path: str) -> None:
        """Q-table, replay memory, scores, history and the exploration's random state."""
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__dict__, file)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as file:
            self.__dict__.update(pickle.load(file))

    def restore_from_dir(self, checkpoint_dir: str) -> None:
        super().restore_from_dir(checkpoint_dir)
        self.reconcile(tune_trials(checkpoint_dir))

    def reconcile(self, trials: list[Trial]) -> None:
        """Make the restored state agree with the trials Tune restored.

        Tune saves its experiment state and then this searcher's state into a staging folder, and a
        background thread copies the folder into the run folder file by file, while the next save may
        already be rewriting it (TuneController.save_to_dir, _ExperimentCheckpointManager.
        sync_up_experiment_state). A SIGKILL can therefore leave either file ahead of the other. Tune
        resumes exactly the trials of its own state, so those are the truth: a network suggested for a
        trial Tune lost is suggested again (not dropped); a trial this state never heard of is counted
        as sampled (not suggested again); a finished trial's best result, which Tune will not report
        again, is learned now; and the live trials are those Tune will run."""
        known = {trial.trial_id for trial in trials}
        for trial_id in [t for t in self.running if t not in known]:
            self.requeued.append(self.running.pop(trial_id))
            self.best_seen.pop(trial_id, None)
        self.live = set()
        for trial in trials:
            net, epsilon = trial.config["net"], trial.config["epsilon"]
            best = trial.metric_analysis.get(self._metric, {}).get("max")
            if best is not None:
                self.best_seen[trial.trial_id] = max(self.best_seen.get(trial.trial_id, -np.inf), best)
            if trial.trial_id not in self.running and net_key(net) not in self.scores and net_key(net) not in self.waiting:
                self.sampled += 1
                self.waiting[net_key(net)] = []
                self.running[trial.trial_id] = (net, epsilon)
            if trial.status == Trial.TERMINATED:
                self.on_trial_complete(trial.trial_id)
            else:
                self.live.add(trial.trial_id)
