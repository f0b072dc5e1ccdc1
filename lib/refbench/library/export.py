"""One-off ONNX exports done at provisioning (``refbench models pull``): torch is needed here and nowhere else.

EfficientNet-Lite0: the registry's ``.pth`` uses the lukemelas/TF-port key names (``_conv_stem``,
``_blocks.N``, ``_fc``); timm's ``efficientnet_lite0`` holds the same 296 tensors in the same order and
shapes, so the state dict maps by position. Batch-norm epsilon is TensorFlow's 1e-3 (the weights were
trained there). MiniLM: transformers' ``BertModel`` on the registry's safetensors; mean pooling and L2
normalisation happen after ONNX Runtime, as sentence-transformers does them.
"""

from __future__ import annotations

from pathlib import Path

from refbench.errors import ModelUnavailableError

EFFICIENTNET_SIZE = 224
ONNX_OPSET = 17


def export_efficientnet(pth: Path, onnx_path: Path) -> Path:
    """Write EfficientNet-Lite0 as ONNX with two outputs: ``features`` (N, 1280) pooled, ``logits`` (N, 1000)."""
    import torch

    timm = _timm()
    state = torch.load(pth, map_location="cpu", weights_only=True)
    model = timm.create_model("efficientnet_lite0", pretrained=False, bn_eps=1e-3)
    target = model.state_dict()
    if len(state) != len(target) or any(
        a.shape != b.shape for a, b in zip(state.values(), target.values(), strict=False)
    ):
        raise ModelUnavailableError(f"{pth.name}: tensors do not match timm's efficientnet_lite0 one by one")
    model.load_state_dict(dict(zip(target, state.values(), strict=True)))
    model.eval()

    class WithFeatures(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            pooled = self.net.forward_head(self.net.forward_features(x), pre_logits=True)
            return pooled, self.net.get_classifier()(pooled)

    dummy = torch.zeros(1, 3, EFFICIENTNET_SIZE, EFFICIENTNET_SIZE)
    return _export(WithFeatures(model), (dummy,), onnx_path, ["image"], ["features", "logits"], {"image": {0: "n"}})


def export_minilm(model_dir: Path, onnx_path: Path) -> Path:
    """Write the MiniLM encoder as ONNX: (input_ids, attention_mask, token_type_ids) → ``tokens`` (N, T, 384)."""
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig.from_json_file(str(model_dir / "config.json"))
    model = BertModel.from_pretrained(str(model_dir), config=config, local_files_only=True)
    model.eval()

    class Encoder(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
            return self.bert(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state

    ids = torch.ones(2, 8, dtype=torch.long)
    axes = {name: {0: "n", 1: "t"} for name in ("input_ids", "attention_mask", "token_type_ids", "tokens")}
    return _export(Encoder(model), (ids, ids, torch.zeros_like(ids)), onnx_path, list(axes)[:3], ["tokens"], axes)


def _timm():  # noqa: ANN202 - the timm module
    """timm, imported after the pure-torch ``torchvision::nms`` it needs on this CPU torch (STACK.md)."""
    from refbench.detect.ultralytics import ensure_torchvision_nms

    ensure_torchvision_nms()
    import timm
    import timm.data

    return timm


def _export(module, args: tuple, path: Path, inputs: list[str], outputs: list[str], axes: dict) -> Path:  # noqa: ANN001
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.onnx")
    with torch.no_grad():
        torch.onnx.export(
            module,
            args,
            str(tmp),
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    tmp.replace(path)
    return path


def write_imagenet_labels(path: Path) -> Path:
    """The 1000 ImageNet class descriptions, one a line in class-index order (read at run time without timm)."""
    info = _timm().data.ImageNetInfo()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(info.index_to_description(i) for i in range(1000)) + "\n")
    return path
