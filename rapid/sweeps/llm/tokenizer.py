"""The ladder's tokenizer: one token per character, so every digit is its own token.

Arithmetic is what the ladder's tasks and the process-supervision solutions are made of; byte-pair
merges would give "123" and "124" unrelated tokens, which small models learn arithmetic from
far less well. The vocabulary is fixed (printable ASCII, newline, four special tokens), so the
tokenizer is defined here, not trained, and saved in Hugging Face's format beside each model.
"""

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
CHARACTERS = ["\n", *(chr(code) for code in range(32, 127))]


def char_tokenizer() -> PreTrainedTokenizerFast:
    """Character-level: `from_pretrained` on the folder it is saved in gives it back."""
    vocab = {token: index for index, token in enumerate([PAD, BOS, EOS, UNK, *CHARACTERS])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=PAD, bos_token=BOS, eos_token=EOS, unk_token=UNK)
