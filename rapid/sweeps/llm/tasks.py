"""Binary tasks with a ground truth, generated offline, each with a fixed train/test split.

Three ask a question of a statement the pretraining corpus teaches the skill for (`statements`):
- `comparison`: "cmp 4821 4812": is the first number larger?
- `sum_compare`: "55+98>141": is the sum (reasoning-gym's `chain_sum`) larger than the number?
- `legs_compare`: "1 tiger, 4 butterflys: legs>30": more legs than that (reasoning-gym's `leg_counting`)?
Each is graded: the number compared with lies 1 to 30 away from the true value, so a rough
estimate answers some and only the exact skill answers all, which is where larger models pull
ahead. `breast_cancer` is the quick sanity tier: scikit-learn's bundled Wisconsin data, each of
its ten mean features written as one digit (its decile), malignant or not.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from rapid.sweeps.llm.config import TASKS
from rapid.sweeps.llm.statements import chain_sum, comparison, legs

TASK_POOL_SEED = 1  # reasoning-gym pools for tasks: the corpus draws from pool 0


@dataclass(frozen=True)
class TaskData:
    train_texts: tuple[str, ...]
    train_labels: np.ndarray  # int64 0/1
    test_texts: tuple[str, ...]
    test_labels: np.ndarray


def _threshold(value: int, rng: np.random.Generator) -> tuple[int, int]:
    """A number 1 to 30 above or below `value`, and whether `value` is larger (half the time)."""
    larger = int(rng.random() < 0.5)
    distance = int(rng.integers(1, 31))
    return value - distance if larger else value + distance, larger


def _comparison(rng: np.random.Generator) -> tuple[str, int]:
    claim, sign = comparison(rng, TASK_POOL_SEED)
    return claim.rstrip(":"), int(sign == ">")


def _sum_compare(rng: np.random.Generator) -> tuple[str, int]:
    claim, answer = chain_sum(rng, TASK_POOL_SEED)
    threshold, larger = _threshold(int(answer), rng)
    return f"{claim[:-1]}>{threshold}", larger


def _legs_compare(rng: np.random.Generator) -> tuple[str, int]:
    claim, answer = legs(rng, TASK_POOL_SEED)
    threshold, larger = _threshold(int(answer), rng)
    return f"{claim[:-1]}>{threshold}", larger


GENERATED: dict[str, Callable[[np.random.Generator], tuple[str, int]]] = {
    "comparison": _comparison, "sum_compare": _sum_compare, "legs_compare": _legs_compare,
}


def _generated(name: str, count: int, seed: int) -> tuple[list[str], np.ndarray]:
    """`count` distinct examples of a generated task."""
    rng = np.random.default_rng(seed)
    examples: dict[str, int] = {}
    while len(examples) < count:
        text, label = GENERATED[name](rng)
        examples.setdefault(text, label)
    return list(examples), np.asarray(list(examples.values()), np.int64)


def _breast_cancer() -> tuple[list[str], np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    features = data.data[:, :10]  # the ten "mean" features
    deciles = np.quantile(features, np.linspace(0.1, 0.9, 9), axis=0)
    digits = np.stack([np.searchsorted(deciles[:, j], features[:, j]) for j in range(features.shape[1])], axis=1)
    texts = [" ".join(map(str, row)) for row in digits]
    return texts, (data.target == 0).astype(np.int64)  # 1: malignant


@cache
def load_task(name: str, train_size: int, test_size: int) -> TaskData:
    """The task's split: the same for every trial and model (the test set is never trained on).
    `breast_cancer` has 569 examples: its sizes are capped, the test set first."""
    if name not in TASKS:
        raise ValueError(f"unknown task '{name}'; expected one of {', '.join(TASKS)}")
    if name == "breast_cancer":
        texts, labels = _breast_cancer()
        order = np.random.default_rng(0).permutation(len(texts))
        texts, labels = [texts[i] for i in order], labels[order]
        test_size = min(test_size, len(texts) // 4)
        train_size = min(train_size, len(texts) - test_size)
    else:
        texts, labels = _generated(name, train_size + test_size, seed=0)
    return TaskData(tuple(texts[test_size:test_size + train_size]), labels[test_size:test_size + train_size],
                    tuple(texts[:test_size]), labels[:test_size])


def halves(task: TaskData, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The released procedure's split of the training set, drawn by the seed: the weak model
    learns from the first half's ground truth and labels the second, on which the ceiling and the
    student train. The test set is never in either."""
    order = np.random.default_rng(seed).permutation(len(task.train_texts))
    middle = len(order) // 2
    return order[:middle], order[middle:]
