"""The ladder: causal language models of four sizes, built from a config here (no download), and
any Hugging Face causal LM in a local folder in their place.

The sizes span about 0.1M to 3M parameters, so that the largest pretrains in minutes on two cores
and each step up is several times the one below (weak-to-strong needs that gap). A model folder
holds `config.json`, the weights and the tokenizer (`save_pretrained`), so
`AutoModelForCausalLM.from_pretrained(folder)` loads one, here or on a cluster.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel, PreTrainedModel
from transformers.utils import logging as transformers_logging

from rapid.sweeps.llm.cache import write_folder
from rapid.sweeps.llm.tokenizer import char_tokenizer

CONTEXT = 256  # tokens: a problem and its worked solution, character by character
META = "rapid_lm.json"  # how a ladder model was pretrained, beside its weights
transformers_logging.disable_progress_bar()  # a bar per model saved or loaded would fill the trials' logs


@dataclass(frozen=True)
class Size:
    width: int
    layers: int
    heads: int


LADDER = {"xs": Size(64, 2, 2), "s": Size(128, 2, 4), "m": Size(192, 3, 4), "l": Size(256, 4, 8)}


def build_lm(size: str, context: int = CONTEXT) -> GPT2LMHeadModel:
    """A ladder model with fresh weights (dropout off, as the paper fine-tunes)."""
    shape, tokenizer = LADDER[size], char_tokenizer()
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=context, n_embd=shape.width, n_layer=shape.layers, n_head=shape.heads,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, loss_type="ForCausalLM",
    )
    return GPT2LMHeadModel(config)


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save_lm(model: PreTrainedModel, path: str | Path, meta: dict[str, Any]) -> Path:
    """Weights, config, tokenizer and `meta`, written whole or not at all, so a killed trial never
    leaves half a model."""

    def write(folder: Path) -> None:
        model.save_pretrained(folder)
        char_tokenizer().save_pretrained(folder)
        (folder / META).write_text(json.dumps(meta, indent=1))

    write_folder(Path(path), write)
    return Path(path)


def lm_problem(path: str | Path) -> str | None:
    """Why the folder is not a causal LM with its tokenizer, or None."""
    path = Path(path)
    if not (path / "config.json").exists():
        return f"{path}: no config.json; expected a Hugging Face model folder (save_pretrained)"
    config = json.loads((path / "config.json").read_text())
    architectures = config.get("architectures") or []
    if not any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        return f"{path}: a {', '.join(architectures) or 'model without architectures'}; expected a causal LM (...ForCausalLM)"
    if not (path / "tokenizer_config.json").exists():
        return f"{path}: no tokenizer (tokenizer_config.json); save the tokenizer beside the model"
    return None


def load_lm(path: str | Path) -> tuple[PreTrainedModel, Any]:
    """A causal LM and its tokenizer from a local folder (no hub call: transformers reads the folder)."""
    problem = lm_problem(path)
    if problem is not None:
        raise ValueError(problem)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:  # GPT-2's and Pythia's own tokenizers have none
        tokenizer.pad_token = tokenizer.eos_token
    return AutoModelForCausalLM.from_pretrained(path), tokenizer


def lm_meta(path: str | Path) -> dict[str, Any]:
    """How a ladder model was pretrained ({} for a model from elsewhere)."""
    meta = Path(path) / META
    return json.loads(meta.read_text()) if meta.exists() else {}
