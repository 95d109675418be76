#!/usr/bin/env python3
"""PyTorch + sentence-transformers reference for the `train` suite's `full-step` case (issue 7).

One training step of a sentence-transformers bi-encoder (BERT + mean pooling) on the same shape,
batch and sequence length as bench/train-full.ts: forward on B x T token ids (all real tokens),
loss = sum(embedding * dOut) so that the gradient reaching the embeddings is dOut exactly as in the
native step, backward, AdamW. Also the forward alone (no_grad). Random weights (no download): only
speed is meaningful. Tokenization is excluded on both sides (both are fed token ids).

    python3 bench/pytorch/full_step.py --device cuda --precision fp32,tf32,bf16 --json

prints one JSON object per line: {"case": "pytorch-step" | "pytorch-forward", "precision", "device",
"median_ms", "tokens_per_s", "peak_mib", ...}. `synthtune bench` runs it when SYNTHTUNE_BENCH_PYTHON
(or python3) can import torch and sentence_transformers, and reports the rows beside its own.

Precisions: fp32 (TF32 off), tf32 (TF32 matmuls, fp32 storage: what the native CUDA model's default
'tf32' does), bf16 (torch.autocast to bfloat16, the usual mixed-precision training of
sentence-transformers' fit with bf16=True).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--hidden", type=int, default=384)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--intermediate", type=int, default=1536)
    p.add_argument("--vocab", type=int, default=30522)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--device", default="cuda", help="cuda, cpu or auto")
    p.add_argument("--precision", default="fp32,tf32,bf16", help="comma list of fp32, tf32, bf16")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's)")
    p.add_argument("--budget-ms", type=float, default=5000.0, help="timing budget per case")
    p.add_argument("--min-reps", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="JSON lines only")
    a = p.parse_args()
    for name in ("layers", "hidden", "heads", "intermediate", "vocab", "batch", "seq"):
        if getattr(a, name) < 1:
            p.error(f"--{name} must be >= 1")
    if a.hidden % a.heads:
        p.error(f"--hidden {a.hidden} is not a multiple of --heads {a.heads}")
    if a.vocab < 200:
        p.error("--vocab must be >= 200")
    a.precision = [x.strip() for x in a.precision.split(",") if x.strip()]
    bad = [x for x in a.precision if x not in ("fp32", "tf32", "bf16")]
    if bad:
        p.error(f"unknown precision {bad}: use fp32, tf32, bf16")
    return a


def build_model(a, device):
    """A randomly initialised BERT saved to a temporary folder, loaded the sentence-transformers way."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Pooling, Transformer

    torch.manual_seed(a.seed)
    config = BertConfig(
        vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers, num_attention_heads=a.heads,
        intermediate_size=a.intermediate, max_position_embeddings=max(512, a.seq), type_vocab_size=2,
        layer_norm_eps=1e-12, hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    tmp = tempfile.mkdtemp(prefix="synthtune-pt-")
    BertModel(config).save_pretrained(tmp)
    # A WordPiece vocabulary of the right size: only the tokenizer files' presence matters here.
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"tok{i}" for i in range(a.vocab - 5)]
    with open(os.path.join(tmp, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=os.path.join(tmp, "vocab.txt")).save_pretrained(tmp)
    transformer = Transformer(tmp, max_seq_length=a.seq)
    model = SentenceTransformer(modules=[transformer, Pooling(a.hidden, "mean")], device=device)
    return model, tmp


def set_tf32(torch, on):
    """TF32 matmuls on or off: the fp32_precision settings of PyTorch >= 2.9, else allow_tf32."""
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):
        matmul.fp32_precision = "tf32" if on else "ieee"
    else:
        matmul.allow_tf32 = on


def median_ms(fn, sync, budget_ms, min_reps):
    for _ in range(2):  # warm-up (allocator, kernels, autotuning)
        fn()
    sync()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or (time.perf_counter() - start) * 1e3 < budget_ms:
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
        if len(times) >= 1000:
            break
    return statistics.median(times), len(times)


def main():
    a = parse_args()
    import shutil

    # Quiet loaders: no progress bars or warnings between the JSON lines.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

    import torch
    import transformers
    import sentence_transformers

    device = a.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        print("full_step.py: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    if device == "cpu" and "bf16" in a.precision and not a.json:
        print("note: bf16 autocast on the CPU is usually slower than fp32", file=sys.stderr)
    if a.threads > 0:
        torch.set_num_threads(a.threads)

    model, tmp = build_model(a, device)
    try:
        model.train()
        B, T = a.batch, a.seq
        g = torch.Generator().manual_seed(a.seed)
        ids = torch.randint(min(1000, a.vocab // 2), a.vocab, (B, T), generator=g)
        ids[:, 0] = 2  # [CLS]
        features = {
            "input_ids": ids.to(device),
            "attention_mask": torch.ones(B, T, dtype=torch.long, device=device),
            "token_type_ids": torch.zeros(B, T, dtype=torch.long, device=device),
        }
        d_out = torch.full((B, a.hidden), 1.0 / (B * a.hidden), device=device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        n_params = sum(p.numel() for p in model.parameters())
        info = {
            "device": device,
            "device_name": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
            "threads": torch.get_num_threads(),
            "layers": a.layers, "hidden": a.hidden, "heads": a.heads, "intermediate": a.intermediate,
            "vocab": a.vocab, "batch": B, "seq": T, "params": n_params,
            "torch": torch.__version__, "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
        }
        for prec in a.precision:
            if device == "cuda":
                set_tf32(torch, prec == "tf32")
            autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=prec == "bf16")

            def forward():
                with torch.no_grad(), autocast:
                    model(features)["sentence_embedding"]

            def step():
                opt.zero_grad(set_to_none=True)
                with autocast:
                    emb = model(features)["sentence_embedding"]
                (emb.float() * d_out).sum().backward()
                opt.step()

            for case, fn in (("pytorch-forward", forward), ("pytorch-step", step)):
                if device == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                ms, reps = median_ms(fn, sync, a.budget_ms, a.min_reps)
                peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
                row = {"case": case, "precision": prec, "median_ms": round(ms, 3),
                       "tokens_per_s": round(B * T / ms * 1e3), "reps": reps,
                       "peak_mib": None if peak is None else round(peak, 1), **info}
                print(json.dumps(row), flush=True)
                if not a.json:
                    print(f"  {case:16s} {prec:5s} {ms:9.2f} ms  {row['tokens_per_s']:>9d} tokens/s", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
