"""Binary tasks with a ground truth, generated offline, each with a fixed train/test split.

Four ask whether a statement is true (half are, half carry a near-miss answer; see
`statements`): `sum_check`, `legs_check`, `comparison`, `sorted_check`. `breast_cancer` is the
quick sanity tier: scikit-learn's bundled Wisconsin data, each of its ten mean features written
as one digit (its decile), malignant or not. Every example is a statement as the corpus writes them (the corpus
holds only true ones), so the last
token, which the classification head reads, is the answer's last: the one at which a model
that knows the skill has just seen what it expected, or not.
"""

from dataclasses import dataclass
from functools import cache

import numpy as np

from rapid.sweeps.llm.config import TASKS
from rapid.sweeps.llm.statements import KINDS, near_miss

TASK_POOL_SEED = 1  # reasoning-gym pools for tasks: the corpus draws from pool 0
STATEMENT_TASKS = {"sum_check": "chain_sum", "legs_check": "legs", "comparison": "comparison", "sorted_check": "sorting"}


@dataclass(frozen=True)
class TaskData:
    train_texts: tuple[str, ...]
    train_labels: np.ndarray  # int64 0/1
    test_texts: tuple[str, ...]
    test_labels: np.ndarray


def _statement_examples(kind: str, count: int, seed: int) -> tuple[list[str], np.ndarray]:
    """`count` statements, alternately true and with a near miss, distinct texts."""
    rng = np.random.default_rng(seed)
    texts, labels, seen = [], [], set()
    while len(texts) < count:
        claim, answer = KINDS[kind](rng, TASK_POOL_SEED)
        label = len(texts) % 2
        shown = answer if label else near_miss(answer, rng)
        text = claim + shown
        if (shown == answer) != bool(label) or text in seen:
            continue
        seen.add(text)
        texts.append(text)
        labels.append(label)
    order = rng.permutation(count)
    return [texts[i] for i in order], np.asarray(labels, np.int64)[order]


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
        texts, labels = _statement_examples(STATEMENT_TASKS[name], train_size + test_size, seed=0)
    return TaskData(tuple(texts[test_size:test_size + train_size]), labels[test_size:test_size + train_size],
                    tuple(texts[:test_size]), labels[:test_size])


def halves(task: TaskData, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The released procedure's split of the training set, drawn by the seed: the weak model
    learns from the first half's ground truth and labels the second, on which the ceiling and the
    student train. The test set is never in either."""
    order = np.random.default_rng(seed).permutation(len(task.train_texts))
    middle = len(order) // 2
    return order[:middle], order[middle:]
