"""A tiny randomly initialised Llama with a tokenizer trained on the spot, for testing the real backends offline.

The model writes nonsense, but through the real code paths: transformers loads and generates with it, vLLM serves it,
and :func:`~mathgauge.testing.write_llama_gguf` turns it into a GGUF file that llama.cpp runs. Needs ``torch``,
``transformers`` and ``tokenizers`` (``pip install 'mathgauge[hf]'``).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError

#: A minimal chat template with a generation prompt; ``<s>``/``</s>`` are the tokenizer's special tokens.
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant\n{% endif %}"
)


def build_tiny_llama(folder: Path, corpus_file: Path, *, seed: int = 0, vocab_size: int = 400,
                     hidden_size: int = 64, heads: int = 4, layers: int = 2) -> Path:
    """Train a byte-level BPE tokenizer and save it with a random Llama-architecture model.

    Args:
        folder: where to save the model (created if missing) in the Hugging Face layout.
        corpus_file: a JSONL file whose ``problem`` and ``solution`` fields (first 300 rows) train the tokenizer.
        seed: torch seed for the random weights, so a given seed always builds the same model.
        vocab_size: tokenizer vocabulary, special tokens included.
        hidden_size, heads, layers: model shape; key/value heads are half the heads (grouped-query attention).

    Returns:
        ``folder``.
    """
    try:
        import torch
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    except ImportError as exc:
        raise ConfigError(f"building the tiny Llama needs {exc.name or 'torch'}: pip install 'mathgauge[hf]'") from None

    texts = []
    for line in corpus_file.read_text(encoding="utf-8").splitlines()[:300]:
        row = json.loads(line)
        texts.append(row["problem"])
        texts.append(row.get("solution", ""))
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=1024, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder
