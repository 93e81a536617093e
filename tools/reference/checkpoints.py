"""Tiny random HF-layout checkpoints (Part A) -- definitions and weights."""
import zlib

import numpy as np

HIDDEN = 32
HEADS = 4
INTER = 64
LAYERS = 2


def seed_of(name):
    """Stable per-name seed (Python's hash() is salted per process)."""
    return zlib.crc32(name.encode("utf-8"))


def bert_config(vocab=99, act="gelu"):
    return {
        "architectures": ["BertForMaskedLM"],
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": act,
        "hidden_dropout_prob": 0.1,
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": INTER,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": 64,
        "model_type": "bert",
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "type_vocab_size": 2,
        "use_cache": True,
        "vocab_size": vocab,
    }


def roberta_config(vocab=100, arch="RobertaModel"):
    return {
        "architectures": [arch],
        "attention_probs_dropout_prob": 0.1,
        "bos_token_id": 0,
        "classifier_dropout": None,
        "eos_token_id": 2,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": INTER,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 66,
        "model_type": "roberta",
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "pad_token_id": 1,
        "position_embedding_type": "absolute",
        "type_vocab_size": 1,
        "use_cache": True,
        "vocab_size": vocab,
    }


# name -> (config, prefix, extras)
CHECKPOINTS = {
    "bert-tiny": (bert_config(act="gelu"), "bert.", "bert_mlm"),
    "roberta-tiny": (roberta_config(), "", None),
    "roberta-tiny-prefixed": (roberta_config(arch="RobertaForMaskedLM"), "roberta.", "roberta_mlm"),
    "bert-tiny-gelu-new": (bert_config(act="gelu_new"), "", None),
    "bert-tiny-relu": (bert_config(act="relu"), "bert.", None),
}
CHECKPOINTS["bert-tiny-gelu-new"][0]["architectures"] = ["BertModel"]


def backbone_shapes(cfg):
    C, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    s = {
        "embeddings.word_embeddings.weight": [V, C],
        "embeddings.position_embeddings.weight": [cfg["max_position_embeddings"], C],
        "embeddings.token_type_embeddings.weight": [cfg["type_vocab_size"], C],
        "embeddings.LayerNorm.weight": [C],
        "embeddings.LayerNorm.bias": [C],
        "pooler.dense.weight": [C, C],
        "pooler.dense.bias": [C],
    }
    for l in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % l
        for n in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            s[p + n + ".weight"] = [C, C]
            s[p + n + ".bias"] = [C]
        s[p + "attention.output.LayerNorm.weight"] = [C]
        s[p + "attention.output.LayerNorm.bias"] = [C]
        s[p + "intermediate.dense.weight"] = [I, C]
        s[p + "intermediate.dense.bias"] = [I]
        s[p + "output.dense.weight"] = [C, I]
        s[p + "output.dense.bias"] = [C]
        s[p + "output.LayerNorm.weight"] = [C]
        s[p + "output.LayerNorm.bias"] = [C]
    return s


def extra_shapes(kind, cfg):
    C, V = cfg["hidden_size"], cfg["vocab_size"]
    if kind == "bert_mlm":
        return {
            "cls.predictions.bias": [V],
            "cls.predictions.decoder.weight": [V, C],
            "cls.predictions.transform.dense.weight": [C, C],
            "cls.predictions.transform.dense.bias": [C],
            "cls.predictions.transform.LayerNorm.weight": [C],
            "cls.predictions.transform.LayerNorm.bias": [C],
        }
    if kind == "roberta_mlm":
        return {
            "lm_head.bias": [V],
            "lm_head.decoder.weight": [V, C],
            "lm_head.dense.weight": [C, C],
            "lm_head.dense.bias": [C],
            "lm_head.layer_norm.weight": [C],
            "lm_head.layer_norm.bias": [C],
        }
    return {}


def init_value(rng, name, shape):
    """Non-trivial random values; activations O(1), GELU sees both signs."""
    n = rng.standard_normal(size=shape)
    if name.endswith("LayerNorm.weight") or name.endswith("layer_norm.weight"):
        return 1.0 + 0.1 * n
    if "embeddings" in name:
        return 0.5 * n
    if name.endswith(".bias"):
        return 0.1 * n
    return 0.2 * n  # linear weights [out, in], fan-in 32/64


def make_weights(name):
    """Returns (cfg, prefix, backbone weights float64 (unprefixed), file tensors)."""
    cfg, prefix, extra = CHECKPOINTS[name]
    rng = np.random.default_rng(seed_of(name))
    w = {}
    for k in sorted(backbone_shapes(cfg)):
        w[k] = init_value(rng, k, backbone_shapes(cfg)[k])
    file_tensors = {prefix + k: v.astype(np.float32) for k, v in w.items()}
    ex = extra_shapes(extra, cfg)
    for k in sorted(ex):
        file_tensors[k] = init_value(rng, k, ex[k]).astype(np.float32)
    if extra == "roberta_mlm":
        file_tensors[prefix + "embeddings.position_ids"] = np.arange(
            cfg["max_position_embeddings"], dtype=np.int64
        ).reshape(1, -1)
    # the float32 file values are the model: keep float64 copies of exactly them
    w = {k: v.astype(np.float32) for k, v in w.items()}
    return cfg, prefix, w, file_tensors
