"""The pretraining corpus: blocks of true statements (`statements.KINDS`), each block made from
its own index, so a resumed run reads on from the block it stopped at and no block is stored.

A block starts with <bos>; each statement ends with <eos>; the last one is cut at the block's end.
"""

import numpy as np

from rapid.sweeps.llm.statements import KINDS


def char_ids(tokenizer: object) -> dict[str, int]:
    """Character -> token id of a character-level tokenizer (faster than calling it per statement)."""
    vocab = tokenizer.get_vocab()
    return {token: index for token, index in vocab.items() if len(token) == 1}


class Corpus:
    """Statements of the kinds in `mix` (weights), in blocks of `block` tokens."""

    def __init__(self, tokenizer: object, mix: dict[str, float], block: int, seed: int) -> None:
        unknown = set(mix) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown statement kinds {sorted(unknown)}; expected some of {', '.join(KINDS)}")
        self.kinds = list(mix)
        self.weights = np.asarray([mix[k] for k in self.kinds], float) / sum(mix.values())
        self.ids, self.block, self.seed = char_ids(tokenizer), block, seed
        self.bos, self.eos = tokenizer.bos_token_id, tokenizer.eos_token_id

    def statement(self, rng: np.random.Generator) -> str:
        claim, answer = KINDS[self.kinds[int(rng.choice(len(self.kinds), p=self.weights))]](rng)
        return claim + answer

    def tokens(self, index: int) -> list[int]:
        """Block `index`, always the same tokens for the same index and seed."""
        rng = np.random.default_rng([self.seed, index])
        ids = [self.bos]
        while len(ids) < self.block:
            ids += [self.ids[c] for c in self.statement(rng)] + [self.eos]
        return ids[:self.block]

    def batch(self, first: int, count: int) -> np.ndarray:
        """Blocks first .. first + count - 1, (count, block) int64."""
        return np.asarray([self.tokens(i) for i in range(first, first + count)], np.int64)
