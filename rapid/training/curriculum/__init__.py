"""Task curricula and exploration bonuses (Kanitscheider et al. 2021, PAPERS.md section 5), for any
env with tasks: learning_progress.py (the statistics and sampling distribution), curriculum.py
(the `curriculum` key: a central actor and the wrapper that asks it), exploration_bonus.py (the
`exploration_bonus` key)."""

from rapid.platform.registry import WRAPPERS, import_attr

WRAPPERS.add(
    "curriculum",
    lambda: import_attr("rapid.training.curriculum.curriculum", "CURRICULUM_WRAPPER"),
    "a task curriculum for any env with tasks: a central actor samples each episode's task by learning progress (or uniformly)",
)
WRAPPERS.add(
    "exploration_bonus",
    lambda: import_attr("rapid.training.curriculum.exploration_bonus", "BONUS_WRAPPER"),
    "a reward for each item first obtained in an episode; dynamic: only items the curriculum says are not yet mastered",
)
