"""BEiT for CIFAR-10 via transformers' BeitForImageClassification.

Two ways to get one:

* `scratch(...)`: a small BEiT built from a config and trained from random weights (cpu profile):
  patches of p x p pixels -> linear embedding -> L pre-norm transformer blocks whose attention
  logits get a learned relative position bias B[h, i, j] (no absolute position embeddings), with
  LayerScale on each residual branch -> mean of the patch tokens -> layer norm -> linear classifier.
* `pretrained(name)`: a hub id or local folder (gpu profile: microsoft/beit-base-patch16-224-pt22k-ft22k,
  pre-trained by masked image modelling on ImageNet-22k and fine-tuned there), with a new 10-way head.
"""

from __future__ import annotations

from hw1.errors import ConfigError


def scratch_config(
    num_labels: int,
    image_size: int = 32,
    patch_size: int = 4,
    hidden_size: int = 192,
    layers: int = 6,
    heads: int = 3,
    mlp_ratio: float = 2.0,
    drop_path: float = 0.0,
    layer_scale: float = 0.1,
):
    from transformers import BeitConfig

    if image_size % patch_size:
        raise ConfigError(f"beit.patch_size={patch_size} must divide the image size {image_size}")
    if hidden_size % heads:
        raise ConfigError(f"beit.hidden_size={hidden_size} must be a multiple of beit.heads={heads}")
    return BeitConfig(
        image_size=image_size,
        patch_size=patch_size,
        num_channels=3,
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=int(hidden_size * mlp_ratio),
        hidden_act="gelu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        drop_path_rate=drop_path,
        use_absolute_position_embeddings=False,
        use_relative_position_bias=True,
        use_shared_relative_position_bias=False,
        use_mean_pooling=True,
        layer_scale_init_value=layer_scale,
        num_labels=num_labels,
        attn_implementation="sdpa",
    )


def conv_stem(patch_size: int, hidden_size: int, width: int = 48):
    """log2(p) stride-2 3x3 convolutions instead of the single p x p patch projection.

    [B, 3, H, W] -> [B, width, H/2, W/2] -> ... -> [B, hidden, H/p, W/p]: the same token grid,
    but each token sees overlapping pixels (Xiao et al. 2021, "Early convolutions help
    transformers see better"). Not part of BEiT's checkpoint format: for from-scratch models only.
    """
    import torch.nn as nn

    n = patch_size.bit_length() - 1
    if 2**n != patch_size or n < 1:
        raise ConfigError(f"beit.stem=conv needs a power-of-two patch size, not {patch_size}")
    layers, channels = [], 3
    for i in range(n):
        out = hidden_size if i == n - 1 else width * 2**i
        layers.append(nn.Conv2d(channels, out, 3, stride=2, padding=1))
        if i < n - 1:
            layers.append(nn.GELU())
        channels = out
    return nn.Sequential(*layers)


def scratch(num_labels: int, labels: list[str] | None = None, stem: str = "patch", **kwargs):
    """A BeitForImageClassification with random weights; stem="conv" swaps in conv_stem()."""
    from transformers import BeitForImageClassification

    config = scratch_config(num_labels, **kwargs)
    if labels:
        config.id2label = dict(enumerate(labels))
        config.label2id = {name: i for i, name in enumerate(labels)}
    model = BeitForImageClassification(config)
    if stem == "conv":
        model.beit.embeddings.patch_embeddings.projection = conv_stem(config.patch_size, config.hidden_size)
    elif stem != "patch":
        raise ConfigError(f"beit.stem must be 'patch' or 'conv', not {stem!r}")
    return model


def pretrained(name: str, labels: list[str], option: str = "--pretrained classification.beit"):
    """Load `name` (hub id or local folder) with a new head for `labels`; a ConfigError naming the
    model when it is neither a local folder nor downloadable."""
    from transformers import BeitForImageClassification

    from hw1.models.pretrained import from_pretrained

    return from_pretrained(
        BeitForImageClassification,
        name,
        option,
        f", or {option}=none to train it from scratch",
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)},
        ignore_mismatched_sizes=True,
    )


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
