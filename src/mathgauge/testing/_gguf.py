"""Write a Hugging Face Llama checkpoint as a GGUF file that llama.cpp loads.

Deliberately narrow: the Llama architecture with default RoPE, a byte-level BPE tokenizer (``tokenizer.json``),
weights in safetensors as float32 or float16, written unquantised. That covers the tiny models the tests build
(:func:`~mathgauge.testing.build_tiny_llama`) so that llama.cpp can serve the very model the ``hf`` backend runs. For
real checkpoints use llama.cpp's own ``convert_hf_to_gguf.py``, which knows every architecture and quantisation.
Needs the ``gguf`` package (``pip install 'mathgauge[llamacpp]'``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError

_LAYER_TENSORS = {
    # Hugging Face name inside ``model.layers.N.`` -> GGUF name inside ``blk.N.``
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_TOP_TENSORS = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}


def write_llama_gguf(model_dir: Path, out_path: Path, *, dtype: str = "f32") -> Path:
    """Convert the Llama checkpoint in ``model_dir`` to the GGUF file ``out_path``.

    Args:
        model_dir: a folder with ``config.json``, ``tokenizer.json``, ``tokenizer_config.json`` and
            ``model.safetensors`` (or a sharded ``model.safetensors.index.json``).
        out_path: the GGUF file to write (its folder must exist).
        dtype: ``f32`` or ``f16`` for the weight matrices; norms stay float32 as llama.cpp expects.

    Returns:
        ``out_path``.

    Raises:
        ConfigError: the checkpoint is not one this converter handles; the message names the file and field.
    """
    if dtype not in ("f32", "f16"):
        raise ConfigError(f"write_llama_gguf: dtype must be 'f32' or 'f16', not {dtype!r}")
    config = _read_json(model_dir / "config.json")
    shape = _llama_shape(config, model_dir / "config.json")
    vocab = _byte_level_vocab(model_dir, config)
    try:
        import gguf
        import numpy as np
    except ImportError:
        raise ConfigError("writing GGUF needs the gguf package: pip install 'mathgauge[llamacpp]'") from None
    tensors = _load_safetensors(model_dir)

    writer = gguf.GGUFWriter(str(out_path), "llama")
    writer.add_name(model_dir.name)
    writer.add_context_length(shape["context"])
    writer.add_embedding_length(shape["hidden"])
    writer.add_block_count(shape["layers"])
    writer.add_feed_forward_length(shape["ffn"])
    writer.add_head_count(shape["heads"])
    writer.add_head_count_kv(shape["kv_heads"])
    writer.add_rope_dimension_count(shape["head_dim"])
    writer.add_rope_freq_base(shape["rope_theta"])
    writer.add_layer_norm_rms_eps(shape["rms_eps"])
    writer.add_vocab_size(len(vocab["tokens"]))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32 if dtype == "f32" else gguf.LlamaFileType.MOSTLY_F16)

    writer.add_tokenizer_model("gpt2")
    # The GPT-2 split pattern is what a byte-level pre-tokenizer with its default regex applies.
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(vocab["tokens"])
    writer.add_token_types(vocab["types"])
    writer.add_token_merges(vocab["merges"])
    for key, adder in (("bos", writer.add_bos_token_id), ("eos", writer.add_eos_token_id),
                       ("pad", writer.add_pad_token_id)):
        if vocab[key] is not None:
            adder(vocab[key])
    writer.add_add_bos_token(vocab["adds_bos"])
    if vocab["chat_template"]:
        writer.add_chat_template(vocab["chat_template"])

    for hf_name, gguf_name in _tensor_names(shape["layers"], tied=config.get("tie_word_embeddings", False)):
        if hf_name not in tensors:
            raise ConfigError(f"{model_dir}: the weights have no tensor {hf_name!r}")
        array = np.asarray(tensors[hf_name], dtype=np.float32)
        if gguf_name.endswith("attn_q.weight"):
            array = _unrotate_half(array, shape["heads"])
        elif gguf_name.endswith("attn_k.weight"):
            array = _unrotate_half(array, shape["kv_heads"])
        if dtype == "f16" and array.ndim == 2:
            array = array.astype(np.float16)
        writer.add_tensor(gguf_name, array)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_path


def _unrotate_half(weight: Any, n_heads: int) -> Any:
    """Reorder query/key rows from Hugging Face's rotate-half RoPE layout to llama.cpp's interleaved pairs.

    Hugging Face keeps each head's rotary pairs as (first half, second half); llama.cpp rotates adjacent rows, so
    row ``i`` of the first half and row ``i`` of the second half must become neighbours.
    """
    rows = weight.shape[0]
    half = rows // n_heads // 2
    return weight.reshape(n_heads, 2, half, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _tensor_names(layers: int, *, tied: bool) -> list[tuple[str, str]]:
    names = [(hf, gg) for hf, gg in _TOP_TENSORS.items() if not (tied and hf == "lm_head.weight")]
    for i in range(layers):
        names += [(f"model.layers.{i}.{hf}", f"blk.{i}.{gg}") for hf, gg in _LAYER_TENSORS.items()]
    return names


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found; expected a Hugging Face model folder") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return doc


def _llama_shape(config: dict[str, Any], where: Path) -> dict[str, Any]:
    if config.get("model_type") != "llama":
        raise ConfigError(f"{where}: model_type is {config.get('model_type')!r}; this converter handles 'llama' only")
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type != "default":
        raise ConfigError(f"{where}: rope type {rope_type!r} is not supported (only the default RoPE)")
    try:
        heads = int(config["num_attention_heads"])
        hidden = int(config["hidden_size"])
        shape = {
            "hidden": hidden,
            "layers": int(config["num_hidden_layers"]),
            "ffn": int(config["intermediate_size"]),
            "heads": heads,
            "kv_heads": int(config.get("num_key_value_heads") or heads),
            "head_dim": int(config.get("head_dim") or hidden // heads),
            "context": int(config.get("max_position_embeddings", 2048)),
            "rms_eps": float(config.get("rms_norm_eps", 1e-6)),
            "rope_theta": float(rope.get("rope_theta", config.get("rope_theta", 10000.0))),
        }
    except KeyError as exc:
        raise ConfigError(f"{where}: missing field {exc.args[0]!r}") from None
    if shape["head_dim"] * heads != hidden:
        raise ConfigError(f"{where}: head_dim x num_attention_heads != hidden_size is not supported")
    return shape


def _byte_level_vocab(model_dir: Path, config: dict[str, Any]) -> dict[str, Any]:
    where = model_dir / "tokenizer.json"
    doc = _read_json(where)
    model = doc.get("model") or {}
    if model.get("type") != "BPE" or not _is_byte_level(doc.get("pre_tokenizer")):
        raise ConfigError(f"{where}: expected a byte-level BPE tokenizer (model.type 'BPE' with a ByteLevel "
                          f"pre-tokenizer)")
    by_id: dict[int, str] = {int(i): tok for tok, i in model.get("vocab", {}).items()}
    kinds: dict[int, int] = {}
    for added in doc.get("added_tokens") or []:
        by_id[int(added["id"])] = added["content"]
        kinds[int(added["id"])] = 3 if added.get("special") else 4  # CONTROL / USER_DEFINED
    size = max(int(config.get("vocab_size", 0)), max(by_id) + 1)
    tokens, types = [], []
    for i in range(size):
        if i in by_id:
            tokens.append(by_id[i])
            types.append(kinds.get(i, 1))  # NORMAL
        else:
            tokens.append(f"[PAD{i}]")  # the embedding matrix is larger than the vocabulary
            types.append(5)  # UNUSED
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]

    tok_config = _read_json(model_dir / "tokenizer_config.json")
    ids = {tok: i for i, tok in enumerate(tokens)}

    def token_id(name: str) -> int | None:
        value = tok_config.get(f"{name}_token")
        if isinstance(value, dict):
            value = value.get("content")
        if value is None:
            value_id = config.get(f"{name}_token_id")
            return int(value_id) if isinstance(value_id, int) else None
        if value not in ids:
            raise ConfigError(f"{model_dir / 'tokenizer_config.json'}: {name}_token {value!r} is not in the vocabulary")
        return ids[value]

    template = tok_config.get("chat_template")
    template_file = model_dir / "chat_template.jinja"
    if not template and template_file.is_file():
        template = template_file.read_text(encoding="utf-8")
    bos = token_id("bos")
    return {
        "tokens": tokens, "types": types, "merges": merges, "chat_template": template,
        "bos": bos, "eos": token_id("eos"), "pad": token_id("pad"),
        "adds_bos": bos is not None and _post_processor_adds(doc.get("post_processor"), tokens[bos]),
    }


def _is_byte_level(pre_tokenizer: Any) -> bool:
    if not isinstance(pre_tokenizer, dict):
        return False
    if pre_tokenizer.get("type") == "ByteLevel":
        return True
    return any(_is_byte_level(p) for p in pre_tokenizer.get("pretokenizers") or [])


def _post_processor_adds(post: Any, token: str) -> bool:
    """Whether the tokenizer's post-processor puts ``token`` in front of every single sequence."""
    if not isinstance(post, dict):
        return False
    if post.get("type") == "Sequence":
        return any(_post_processor_adds(p, token) for p in post.get("processors") or [])
    single = post.get("single") or []
    return bool(single) and isinstance(single[0], dict) and single[0].get("SpecialToken", {}).get("id") == token


def _load_safetensors(model_dir: Path) -> dict[str, Any]:
    from safetensors import safe_open

    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        files = sorted({model_dir / f for f in _read_json(index).get("weight_map", {}).values()})
    else:
        files = [model_dir / "model.safetensors"]
    tensors: dict[str, Any] = {}
    for file in files:
        if not file.is_file():
            raise ConfigError(f"{file}: not found; expected the model's safetensors weights")
        try:
            with safe_open(str(file), framework="numpy") as handle:
                for name in handle.keys():
                    tensors[name] = handle.get_tensor(name)
        except (TypeError, ValueError) as exc:  # bfloat16 has no numpy dtype
            raise ConfigError(f"{file}: cannot read the weights as numpy ({exc}); save them as float32 or "
                              f"float16") from None
    return tensors
