"""The LLM sweeps' trial configs, light to import (pydantic only): the CLI checks a spec with them
before Ray starts, without loading torch or transformers."""

from pydantic import Field, model_validator

from rapid.platform.plugins import Strict
from rapid.platform.schema_errors import KeyProblem

SIZES = ("xs", "s", "m", "l")  # rapid.sweeps.llm.ladder.LADDER, smallest first
STATEMENT_KINDS = ("chain_sum", "legs", "comparison", "sorting", "worked")  # rapid.sweeps.llm.statements.KINDS
TASKS = ("comparison", "sum_compare", "legs_compare", "breast_cancer")  # made in rapid.sweeps.llm.tasks
LOSSES = ("xent", "logconf")  # rapid.sweeps.llm.losses


class PretrainConfig(Strict):
    """config of an `lm_pretrain` trial: one ladder size, pretrained on the generated corpus."""

    size: str = Field(..., description=f"a ladder size: {', '.join(SIZES)}")
    cache: str = Field(..., description="the LLM cache folder; the model is saved as <cache>/ladder/<size>")
    tokens: int = Field(2_000_000, ge=1, description="pretraining tokens in all")
    tokens_per_iteration: int = Field(100_000, ge=1, description="tokens per Tune step (report and checkpoint)")
    block: int = Field(128, ge=8, le=256, description="tokens per training sequence")
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-3, gt=0, description="AdamW's peak learning rate (linear warm-up, then cosine to 10%)")
    warmup: float = Field(0.05, ge=0, lt=1, description="share of the tokens spent warming up")
    weight_decay: float = Field(0.01, ge=0)
    corpus: dict[str, float] = Field({kind: 1.0 for kind in STATEMENT_KINDS}, description="statement kinds and their weights")
    seed: int = 0

    @model_validator(mode="after")
    def _known(self) -> "PretrainConfig":
        if self.size not in SIZES:
            raise KeyProblem("size", f"'{self.size}' is not a ladder size; expected one of {', '.join(SIZES)}")
        for kind, weight in self.corpus.items():
            if kind not in STATEMENT_KINDS:
                raise KeyProblem(f"corpus.{kind}", f"unknown statement kind; expected one of {', '.join(STATEMENT_KINDS)}")
            if weight < 0:
                raise KeyProblem(f"corpus.{kind}", f"weight {weight}: expected >= 0")
        if not any(self.corpus.values()):
            raise KeyProblem("corpus", "every weight is 0; expected at least one kind to draw from")
        return self


class ModelRef(Strict):
    """A ladder size (pretrained by `lm_pretrain` into <cache>/ladder/<size>) or a local Hugging Face
    causal LM folder (GPT-2, Pythia, ... on a cluster). A bare string is a size: `xs`."""

    size: str | None = Field(None, description=f"a ladder size: {', '.join(SIZES)}")
    path: str | None = Field(None, description="a local folder holding a causal LM and its tokenizer")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        return {"size": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one(self) -> "ModelRef":
        if (self.size is None) == (self.path is None):
            raise ValueError("give a ladder size or a path, one of them")
        if self.size is not None and self.size not in SIZES:
            raise KeyProblem("size", f"'{self.size}' is not a ladder size; expected one of {', '.join(SIZES)}")
        return self

    @property
    def name(self) -> str:
        return self.size if self.size is not None else self.path.rstrip("/").rsplit("/", 1)[-1]


class W2SConfig(Strict):
    """config of a `w2s` trial: a ground-truth trial trains `model` on each half of the task's
    training set; a student trial trains the strong model of `pair: [weak, strong]` on the weak
    model's labels (training whatever it needs that the cache lacks)."""

    cache: str = Field(..., description="the LLM cache folder (the ladder's models and every trained model's results)")
    task: str = Field(..., description=f"a binary task: {', '.join(TASKS)}")
    train_size: int = Field(2000, ge=4, description="training examples, split in two halves")
    test_size: int = Field(500, ge=1)
    model: ModelRef | None = Field(None, description="a ground-truth trial's model")
    pair: list[ModelRef] | None = Field(None, min_length=2, max_length=2, description="a student trial's [weak, strong] models")
    loss: str = Field("xent", description=f"the student's loss: {', '.join(LOSSES)}")
    aux_coef: float = Field(0.5, ge=0, le=1, description="logconf: the weight of the student's own hardened predictions")
    warmup_frac: float = Field(0.1, ge=0, le=1, description="logconf: share of training before aux_coef applies in full")
    lr: float = Field(1e-4, gt=0, description="Adam's, cosine-annealed to 0 (best of 5e-5, 1e-4, 3e-4 on the ladder)")
    batch_size: int = Field(32, ge=1)
    epochs: int = Field(3, ge=1)
    linear_probe: bool = Field(False, description="train the head only, the body frozen")
    max_length: int = Field(64, ge=2, description="tokens per example (longer ones are cut)")
    seed: int = Field(0, description="which halves, and the training's randomness")

    @model_validator(mode="after")
    def _trial(self) -> "W2SConfig":
        if self.task not in TASKS:
            raise KeyProblem("task", f"unknown task '{self.task}'; expected one of {', '.join(TASKS)}")
        if self.loss not in LOSSES:
            raise KeyProblem("loss", f"unknown loss '{self.loss}'; expected one of {', '.join(LOSSES)}")
        if (self.model is None) == (self.pair is None):
            raise KeyProblem("model", "give a model (a ground-truth trial) or a pair [weak, strong] (a student trial), not both")
        if self.pair is not None:
            weak, strong = self.pair
            if weak.size is not None and strong.size is not None and SIZES.index(weak.size) >= SIZES.index(strong.size):
                raise KeyProblem("pair", f"weak model '{weak.size}' is not smaller than strong model '{strong.size}'")
        return self


def check_w2s_config(config: dict) -> None:
    """Model folders named by path hold a causal LM (a ladder size is made by the ladder stage)."""
    from rapid.platform.spec_file import checkable_here
    from rapid.sweeps.llm.ladder import lm_problem

    cfg = W2SConfig.model_validate(config)
    for ref in [cfg.model] if cfg.model is not None else cfg.pair:
        if ref.path is not None and checkable_here(ref.path):
            problem = lm_problem(ref.path)
            if problem is not None:
                raise KeyProblem("model" if cfg.model is not None else "pair", problem)
