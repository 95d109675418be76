"""Tiny random BERT-family models in real transformers format, for test/arch-models.test.ts.

Usage: python3 test/python/make_arch_models.py OUT_DIR

For each architecture (bert, roberta, xlm-roberta, mpnet) writes OUT_DIR/<arch>/:
  config.json, model.safetensors      transformers' save_pretrained (random weights, seeded)
  onnx/model.onnx                     torch.onnx.export(dynamo=False) of the bare model
  onnx-dynamo/model.onnx              torch.onnx.export(dynamo=True), when the exporter works here
  tokenizer files                     copied from the WordPiece tokenizer dir given by ST_TOKENIZER_DIR
                                      (optional; the vocabulary is sized to it)
  reference.json                      input ids / mask of a padded batch, PyTorch's last_hidden_state,
                                      and sentence-transformers' Pooling output for every single mode
                                      and for one list of modes (concatenated)
and OUT_DIR/buckets.json: MPNet relative_position_bucket(r) for r in [-600, 600].
Deterministic: fixed seeds, CPU fp32.
"""
import json
import os
import shutil
import sys

import torch
import transformers
from sentence_transformers.sentence_transformer.modules import Pooling
from transformers.models.mpnet.modeling_mpnet import MPNetEncoder

MODES = ["mean", "cls", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"]
# several modes, concatenated in this order by sentence-transformers' Pooling
MULTI = ["lasttoken", "max", "mean", "cls"]


def make(arch, out, vocab, tok_dir):
    torch.manual_seed({"bert": 1, "roberta": 2, "xlm-roberta": 3, "mpnet": 4}[arch])
    common = dict(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=64, hidden_act="gelu", hidden_dropout_prob=0.0,
                  attention_probs_dropout_prob=0.0)
    if arch == "bert":
        cfg = transformers.BertConfig(max_position_embeddings=40, type_vocab_size=2, pad_token_id=0, **common)
        pad = 0
    elif arch == "roberta":
        cfg = transformers.RobertaConfig(max_position_embeddings=42, type_vocab_size=1, pad_token_id=1,
                                         layer_norm_eps=1e-5, **common)
        pad = 1
    elif arch == "xlm-roberta":
        cfg = transformers.XLMRobertaConfig(max_position_embeddings=42, type_vocab_size=1, pad_token_id=1,
                                            layer_norm_eps=1e-5, **common)
        pad = 1
    else:
        cfg = transformers.MPNetConfig(max_position_embeddings=42, layer_norm_eps=1e-12, **common)
        pad = 1
    model = transformers.AutoModel.from_config(cfg, add_pooling_layer=False).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("LayerNorm.weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.2 * torch.randn_like(p))
    d = os.path.join(out, arch)
    model.save_pretrained(d, safe_serialization=True)
    if tok_dir:
        for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
            if os.path.exists(os.path.join(tok_dir, f)):
                shutil.copy(os.path.join(tok_dir, f), os.path.join(d, f))

    # a padded batch: lengths 24, 17, 3 (MPNet relative distances up to 23 cross the log buckets)
    g = torch.Generator().manual_seed(7)
    T, lens = 24, [24, 17, 3]
    ids = torch.full((3, T), pad, dtype=torch.long)
    mask = torch.zeros((3, T), dtype=torch.long)
    for b, L in enumerate(lens):
        ids[b, :L] = torch.randint(3, min(vocab, 1000), (L,), generator=g)
        mask[b, :L] = 1
    with torch.no_grad():
        lhs = model(input_ids=ids, attention_mask=mask).last_hidden_state
    pooled = {}
    for m in MODES:
        pool = Pooling(32, pooling_mode=m)
        with torch.no_grad():
            pooled[m] = pool({"token_embeddings": lhs, "attention_mask": mask})["sentence_embedding"].reshape(-1).tolist()
    with torch.no_grad():
        multi = Pooling(32, pooling_mode=MULTI)({"token_embeddings": lhs, "attention_mask": mask})["sentence_embedding"]
    ref = {"multi": {"modes": MULTI, "values": multi.reshape(-1).tolist()}, "arch": arch, "B": 3, "T": T, "pad": pad, "ids": ids.reshape(-1).tolist(), "mask": mask.reshape(-1).tolist(),
           "last_hidden_state": lhs.reshape(-1).tolist(), "pooled": pooled}

    class Wrap(torch.nn.Module):
        """sentence-transformers' naming: the transformer is `auto_model`."""

        def __init__(self, m):
            super().__init__()
            self.auto_model = m

        def forward(self, input_ids, attention_mask):
            return self.auto_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    w = Wrap(model).eval()
    os.makedirs(os.path.join(d, "onnx"), exist_ok=True)
    dyn = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
           "last_hidden_state": {0: "batch", 1: "sequence"}}
    torch.onnx.export(w, (ids, mask), os.path.join(d, "onnx", "model.onnx"), dynamo=False, opset_version=17,
                      input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                      dynamic_axes=dyn)
    ref["dynamo"] = None
    try:
        os.makedirs(os.path.join(d, "onnx-dynamo"), exist_ok=True)
        batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence", max=T * 2)
        torch.onnx.export(w, (ids, mask), os.path.join(d, "onnx-dynamo", "model.onnx"), dynamo=True,
                          input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                          dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
                          external_data=False)
        ref["dynamo"] = "onnx-dynamo/model.onnx"
    except Exception as e:  # noqa: BLE001 - reported, the test skips that part
        ref["dynamo_error"] = f"{type(e).__name__}: {e}"[:500]
        shutil.rmtree(os.path.join(d, "onnx-dynamo"), ignore_errors=True)
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(ref, f)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    tok_dir = os.environ.get("ST_TOKENIZER_DIR", "")
    vocab = 100
    if tok_dir:
        with open(os.path.join(tok_dir, "tokenizer.json")) as f:
            vocab = len(json.load(f)["model"]["vocab"])
    archs = sys.argv[2].split(",") if len(sys.argv) > 2 else ["bert", "roberta", "xlm-roberta", "mpnet"]
    for a in archs:
        make(a, out, vocab, tok_dir)
    r = torch.arange(-600, 601)
    with open(os.path.join(out, "buckets.json"), "w") as f:
        json.dump(MPNetEncoder.relative_position_bucket(r).tolist(), f)


if __name__ == "__main__":
    main()
