"""The hide-and-seek game on top of the world: teams, the preparation phase, the hidden reward, and its metrics.

Another game on the same engine (RUSP's Oasis) brings its own rules object; the world and the scene
generator know nothing of teams' goals.

Facts from openai/multi-agent-emergence-environments (`envs/hide_and_seek.py`, `wrappers/prep_phase.py`,
`wrappers/limit_mvmnt.py`, `examples/hide_and_seek_full.jsonnet`): rewards are 'joint_zero_sum': every
hider gets +1 when no seeker sees any hider and -1 otherwise, every seeker the opposite; an agent
outside the 18 m square around the floor (restrict_rect [-6, -6, 12, 12] for a 6 m floor) gets -10
instead; in the first 40% of the steps nobody is rewarded (the penalty included) and the seekers'
actions are replaced by no-ops. TrackStatWrapper reports object movement and locks, overall and at
the end of the preparation phase.
"""

import math

import numpy as np

HIDER, SEEKER = 0, 1
TEAM_NAMES = ("hider", "seeker")
OUT_OF_BOUNDS_PENALTY = 10.0


class HideAndSeekRules:
    """Who plays which team, when the seekers may move, and what each step pays."""

    def __init__(self, n_hiders: int, n_seekers: int, horizon: int, prep_fraction: float, bounds_size: float) -> None:
        self.teams = np.array([HIDER] * n_hiders + [SEEKER] * n_seekers)
        self.agent_names = tuple(f"{TEAM_NAMES[team]}_{k}" for team, n in ((HIDER, n_hiders), (SEEKER, n_seekers))
                                 for k in range(n))
        self.hiders, self.seekers = self.teams == HIDER, self.teams == SEEKER
        self.n_hiders = n_hiders  # hiders come first
        self.frozen = self.seekers  # whose actions become no-ops during preparation
        self._hidden_pays = np.where(self.hiders, 1.0, -1.0)
        self.horizon = horizon
        self.prep_steps = math.ceil(prep_fraction * horizon)
        self.bounds_half = bounds_size / 2

    def in_prep(self, t: int) -> bool:
        """Whether step t (counted from 0) is in the preparation phase."""
        return t < self.prep_steps

    def score(self, seen: np.ndarray, xy: np.ndarray, t: int) -> tuple[np.ndarray, bool]:
        """(n_agents,) rewards of step t and whether every hider was hidden, from sight among agents
        (n_agents, n_agents) and their (n_agents, 2) positions after the step."""
        hidden = not seen[self.n_hiders :, : self.n_hiders].any()
        if self.in_prep(t):
            return np.zeros(len(self.teams)), hidden
        rewards = self._hidden_pays.copy() if hidden else -self._hidden_pays
        if np.abs(xy).max() > self.bounds_half:
            rewards[(np.abs(xy) > self.bounds_half).any(axis=1)] = -OUT_OF_BOUNDS_PENALTY
        return rewards, hidden


class EpisodeStats:
    """The emergence metrics of one episode (the paper's phases show in them), reported at its end as floats.

    - `{boxes,ramps}_grabbed_by_{hiders,seekers}`: distinct objects the team held by a grab at some step
      (the team-attributed measure of moving them; pushes are not attributed);
    - `{boxes,ramps}_locked_by_{hiders,seekers}`: objects locked by the team when the episode ends;
    - `max_{box,ramp}_move`, `max_{box,ramp}_move_prep`: largest distance (m) one of them moved from its
      start, by the episode's end and by the end of the preparation phase;
    - `max_seeker_height`: highest a seeker's centre got (m; 0.15 on the floor, more on a box or ramp);
    - `hidden_share`: share of the steps after preparation in which every hider was hidden.
    """

    def __init__(self, rules: HideAndSeekRules, n_boxes: int, n_ramps: int) -> None:
        self.rules = rules
        self.kinds = (("boxes", "box", slice(0, n_boxes)), ("ramps", "ramp", slice(n_boxes, n_boxes + n_ramps)))

    def reset(self, objects: np.ndarray) -> None:
        """Start from the objects' (n_objects, 3) positions."""
        self.start = objects.copy()
        self.held = np.zeros((2, len(objects)), dtype=bool)
        self.moved_prep = np.zeros(len(objects))
        self.max_seeker_height = 0.0
        self.hidden_steps = 0

    def update(self, t: int, grabbed: np.ndarray, heights: np.ndarray, objects: np.ndarray, hidden: bool) -> None:
        """Record step t: what each agent holds (object index or -1), agents' heights and objects' positions after it."""
        holding = grabbed >= 0
        if holding.any():
            self.held[self.rules.teams[holding], grabbed[holding]] = True
        self.max_seeker_height = max(self.max_seeker_height, float(heights[self.rules.n_hiders :].max()))
        if t == self.rules.prep_steps - 1:
            self.moved_prep = np.linalg.norm(objects - self.start, axis=1)
        elif not self.rules.in_prep(t):
            self.hidden_steps += hidden

    def summary(self, objects: np.ndarray, lock_team: np.ndarray) -> dict[str, float]:
        """The metrics, from the objects' final positions and locks (n_objects,: -1 or the locking team)."""
        moved = np.linalg.norm(objects - self.start, axis=1)
        found: dict[str, float] = {}
        for kinds, kind, part in self.kinds:
            for team, team_name in enumerate(TEAM_NAMES):
                found[f"{kinds}_grabbed_by_{team_name}s"] = float(self.held[team, part].sum())
                found[f"{kinds}_locked_by_{team_name}s"] = float((lock_team[part] == team).sum())
            found[f"max_{kind}_move"] = float(moved[part].max(initial=0.0))
            found[f"max_{kind}_move_prep"] = float(self.moved_prep[part].max(initial=0.0))
        found["max_seeker_height"] = self.max_seeker_height
        found["hidden_share"] = self.hidden_steps / max(1, self.rules.horizon - self.rules.prep_steps)
        return found


METRIC_KEYS = tuple(
    [f"{kinds}_{verb}_by_{team}s" for kinds in ("boxes", "ramps") for verb in ("grabbed", "locked") for team in TEAM_NAMES]
    + [f"max_{kind}_move{when}" for kind in ("box", "ramp") for when in ("", "_prep")]
    + ["max_seeker_height", "hidden_share"]
)
