"""Language-model sweeps: the ladder of small causal LMs pretrained here (`lm_pretrain`), and
weak-to-strong generalization on binary tasks (Burns et al. 2023). `jobs/weak_to_strong.yaml`
chains them as one pipeline; every model and label set lands in one cache folder, so nothing is
trained twice.
"""

from rapid.platform.registry import TRAINABLES, import_attr
from rapid.sweeps.vpt import _schema_check

TRAINABLES.add(
    "lm_pretrain",
    lambda: import_attr("rapid.sweeps.llm.pretrain", "PretrainTrainable"),
    "one ladder LM pretrained on the generated corpus, saved in Hugging Face format to <cache>/ladder/<size>",
    check_config=_schema_check("rapid.sweeps.llm.config", "PretrainConfig"),
    path_keys=("cache",),
)
TRAINABLES.add(
    "w2s",
    lambda: import_attr("rapid.sweeps.llm.w2s", "W2STrainable"),
    "weak-to-strong: a model's ground-truth runs (model:) or a student on a weaker model's labels (pair:); reports pgr",
    check_config=_schema_check("rapid.sweeps.llm.config", "W2SConfig", "check_w2s_config"),
    path_keys=("cache",),
    reuse_actors=True,
    report=lambda trials, run: import_attr("rapid.sweeps.llm.report", "w2s_report")(trials, run),
)
