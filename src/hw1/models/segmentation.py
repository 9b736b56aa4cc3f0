"""SegFormer and BEiT for semantic segmentation, built with Hugging Face transformers.

Two ways to get each model:
  * from a configuration (`config:` in configs/segmentation.yaml) -> randomly initialised, trained
    from scratch (the cpu profile);
  * from a checkpoint (`pretrained:` a hub id such as nvidia/mit-b0, or a local folder written by
    save_pretrained) -> the encoder keeps its weights, the classifier is replaced by one for our
    classes (the gpu profile). Offline, a hub id that is not in the local cache fails with a
    ConfigError saying so.

SegFormer (Xie et al., 2021): a hierarchical Mix-Transformer encoder (4 stages at strides 4, 8, 16,
32; overlapping patch merging; efficient self-attention whose keys/values are spatially reduced
by sr_ratio; Mix-FFN with a 3x3 depth-wise conv instead of position embeddings) and an all-MLP
decoder that projects the 4 stages to one width, upsamples them to 1/4 and fuses them.
    logits: [B, num_labels, H/4, W/4]

BEiT (Bao et al., 2021): a ViT pre-trained BERT-style by masked image modelling. For segmentation
transformers takes the hidden states of 4 layers (out_indices), turns them into a 4-level pyramid
(deconvolutions x4, x2, identity, max-pool) and decodes them with an UperNet head (pyramid pooling
+ FPN).   logits: [B, num_labels, 4H/P, 4W/P] for patch size P (H/4 for P = 16).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from hw1.errors import ConfigError

ARCHITECTURES = ("segformer", "beit")


def _classes(num_labels: int, class_names: list[str] | None) -> dict:
    names = class_names or [f"class_{i}" for i in range(num_labels)]
    return {
        "num_labels": num_labels,
        "id2label": dict(enumerate(names)),
        "label2id": {n: i for i, n in enumerate(names)},
    }


def build_segmentation_model(
    arch: str,
    num_labels: int,
    config: dict | None = None,
    pretrained: str | None = None,
    class_names: list[str] | None = None,
    ignore_index: int = 255,
) -> nn.Module:
    """A transformers *ForSemanticSegmentation model, from `pretrained` when given, else from `config`."""
    from transformers import BeitConfig, SegformerConfig, SegformerForSemanticSegmentation

    classes = {
        "segformer": (SegformerConfig, SegformerForSemanticSegmentation),
        "beit": (BeitConfig, beit_segmentation_class()),
    }
    if arch not in classes:
        raise ConfigError(f"segmentation model arch {arch!r}: expected one of {', '.join(ARCHITECTURES)}")
    config_class, model_class = classes[arch]
    labels = _classes(num_labels, class_names)
    if pretrained:
        return load_pretrained(model_class, pretrained, labels, ignore_index)
    config = dict(config or {})
    if arch == "beit":  # out_indices only to pass transformers' checks; out_layers decides (see above)
        config["out_layers"] = beit_out_layers(config)
        config["out_indices"] = config["out_layers"]
    try:
        cfg = config_class(**config, **labels, semantic_loss_ignore_index=ignore_index)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"configs/segmentation.yaml: invalid {arch} config ({error})") from None
    return model_class(cfg)


def beit_out_layers(config: dict) -> list[int]:
    """The 4 layers (1-based) whose outputs feed BEiT's UperNet head, from `out_layers`."""
    if "out_indices" in config:
        raise ConfigError(
            "configs/segmentation.yaml: beit config.out_indices: write out_layers (the 1-based "
            "numbers of the layers that feed the head); transformers' out_indices are offset by one"
        )
    layers = config.get("out_layers")
    depth = config.get("num_hidden_layers", 12)
    if layers is None or len(layers) != 4 or any(not 1 <= layer <= depth for layer in layers):
        raise ConfigError(
            f"configs/segmentation.yaml: beit config.out_layers must name 4 layers in "
            f"1..{depth}, got {layers}"
        )
    return list(layers)


def beit_segmentation_class():
    """BeitForSemanticSegmentation fed by the layers that config.out_layers names.

    transformers reads hidden_states[i - 1] for each i in out_indices, where hidden_states[0] is
    the embedding output, and its config allows i <= num_layers only: the last layer can never feed
    the head, and out_indices [2, 3, 4, 6] means layers 1, 2, 3 and 5. Here hidden_states[layer]
    is taken for each layer of out_layers. A checkpoint without out_layers keeps transformers'
    choice (out_layers = out_indices - 1), so pretrained models behave as they were trained.
    """
    from transformers import BeitForSemanticSegmentation
    from transformers.modeling_outputs import SemanticSegmenterOutput

    class BeitSegmentation(BeitForSemanticSegmentation):
        def forward(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False, **kwargs):
            layers = getattr(self.config, "out_layers", None) or [i - 1 for i in self.config.out_indices]
            hidden = self.beit(
                pixel_values, interpolate_pos_encoding=interpolate_pos_encoding, output_hidden_states=True
            ).hidden_states  # [embeddings, layer 1, ...]
            b, _, height, width = pixel_values.shape
            grid = (height // self.config.patch_size, width // self.config.patch_size)
            maps = tuple(
                hidden[layer][:, 1:].transpose(1, 2).reshape(b, -1, *grid)  # drop [CLS]
                for layer in layers
            )
            return SemanticSegmenterOutput(logits=self.decode_head(self.fpn(maps)))

    return BeitSegmentation


def load_pretrained(model_class, name: str, labels: dict, ignore_index: int) -> nn.Module:
    """from_pretrained with a new classifier for our labels; a clear ConfigError when it cannot be had."""
    from hw1.models.pretrained import from_pretrained

    option = f"--pretrained segmentation.{model_class.config_class.model_type}"
    return from_pretrained(
        model_class,
        name,
        option,
        f", or {option}=none to train it from scratch",
        **labels,
        ignore_mismatched_sizes=True,
        semantic_loss_ignore_index=ignore_index,
    )


def segmentation_logits(model: nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] normalised images -> [B, num_labels, h, w] logits at the model's output stride."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    beit = model.config.model_type == "beit"
    # SegFormer's spatial reduction leaves few keys per query (stage 1 at 192x256: 3,072 queries,
    # 48 keys); there the CPU flash kernel's backward is slow: the math kernel trains about 1.1x
    # (192x256 crops) to 1.2x (128x160) faster (benchmarks/bench_segmentation.py). Elsewhere SDPA chooses.
    math_kernel = pixel_values.device.type == "cpu" and not beit
    # BEiT: position embeddings / relative position bias are resized when the input size differs
    extra = {"interpolate_pos_encoding": True} if beit else {}
    with sdpa_kernel(SDPBackend.MATH) if math_kernel else contextlib.nullcontext():
        return model(pixel_values=pixel_values, **extra).logits


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
