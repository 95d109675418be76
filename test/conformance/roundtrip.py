#!/usr/bin/env python3
"""
The way back for the conformance suite: loads a model folder that synthtune exported with the
Python tools users will load it with, and prints what they compute, as JSON on stdout.

    python3 test/conformance/roundtrip.py EXPORT_DIR TEXTS_JSON
    python3 test/conformance/roundtrip.py --serve

--serve answers many requests in one process (torch, transformers and sentence-transformers are
imported once): one JSON line per request on stdin, {"folder": ..., "texts": [...]}, one JSON line
per answer on stdout, {"ok": true, "out": {...}} or {"ok": false, "error": "..."}.

TEXTS_JSON is a file holding a JSON array of strings. Output:

    {
      "sentence_transformers": [[...], ...] | null,   # SentenceTransformer(EXPORT_DIR).encode(texts)
      "encode_error": "...",                    # when encode refused (a Router without default route)
      "encode_query": [[...]], "encode_document": [[...]],
      "modules": ["Transformer", "Pooling", ...],
      "max_seq_length": 128 | null,
      "prompts": {"query": "query: ", ...},             # the non-empty prompts of the export
      "prompt_embeddings": {"query": [[...]], ...},    # encode(texts, prompt_name=...) for each
      "prompt_errors": {"query": "..."},                # where that was refused
      "automodel": {"cls": [[...]], "mean": [[...]]} | {"error": "..."}
    }

"automodel" (when the first module is a Transformer) is AutoModel.from_pretrained(EXPORT_DIR)'s last_hidden_state, CLS and masked mean,
on AutoTokenizer's tokens truncated to the same max_seq_length (no Dense, no normalisation). A
failure to load with sentence-transformers exits 1 with the reason on stderr.
"""
from __future__ import annotations

import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import logging  # noqa: E402

logging.disable(logging.WARNING)

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


def as_list(x) -> list:
    return np.asarray(x, dtype=np.float32).astype(np.float64).tolist()


def compute(folder: str, texts: list) -> tuple[int, dict | str]:
    """(0, the output) or (1, why SentenceTransformer refused the folder)."""
    from sentence_transformers import SentenceTransformer
    import transformers

    transformers.utils.logging.disable_progress_bar()
    try:
        st = SentenceTransformer(folder, device="cpu").eval()
    except Exception as e:  # noqa: BLE001 (the reason is the output)
        return 1, f"roundtrip: SentenceTransformer({folder!r}) failed: {type(e).__name__}: {e}"

    def embed(fn, **kw):
        return as_list(fn(texts, convert_to_numpy=True, batch_size=4, **kw))

    out = {
        "modules": [type(m).__name__ for m in st],
        # an integer, or null where the model has no limit (a StaticEmbedding has none)
        "max_seq_length": st.max_seq_length if isinstance(st.max_seq_length, int) else None,
        "prompts": {k: v for k, v in st.prompts.items() if v},
        "encode_query": embed(st.encode_query),
        "encode_document": embed(st.encode_document),
    }
    # plain encode (and encode with a prompt name) may be refused, e.g. by a Router with no default route
    try:
        out["sentence_transformers"] = embed(st.encode)
    except Exception as e:  # noqa: BLE001
        out["sentence_transformers"], out["encode_error"] = None, f"{type(e).__name__}: {e}"
    out["prompt_embeddings"] = {}
    for k in out["prompts"]:
        try:
            out["prompt_embeddings"][k] = embed(st.encode, prompt_name=k)
        except Exception as e:  # noqa: BLE001
            out.setdefault("prompt_errors", {})[k] = f"{type(e).__name__}: {e}"
    if out["modules"][:1] != ["Transformer"]:
        out["automodel"] = {"error": f"no transformer module (modules {out['modules']})"}
        return 0, out
    try:
        tok = transformers.AutoTokenizer.from_pretrained(folder)
        model = transformers.AutoModel.from_pretrained(folder).eval()
        enc = tok(texts, padding=True, truncation=True, max_length=st.max_seq_length, return_tensors="pt")
        with torch.no_grad():
            h = model(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
        out["automodel"] = {"cls": as_list(h[:, 0]), "mean": as_list((h * m).sum(1) / m.sum(1).clamp(min=1e-9))}
    except Exception as e:  # noqa: BLE001
        out["automodel"] = {"error": f"{type(e).__name__}: {e}"}
    return 0, out


def serve() -> int:
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            code, res = compute(req["folder"], req["texts"])
        except Exception as e:  # noqa: BLE001 (reported to the test)
            code, res = 1, f"roundtrip: {type(e).__name__}: {e}"
        answer = {"ok": True, "out": res} if code == 0 else {"ok": False, "error": res}
        sys.stdout.write(json.dumps(answer, allow_nan=False) + "\n")
        sys.stdout.flush()
    return 0


def main() -> int:
    if sys.argv[1:] == ["--serve"]:
        return serve()
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    code, res = compute(sys.argv[1], json.load(open(sys.argv[2], encoding="utf-8")))
    if code != 0:
        print(res, file=sys.stderr)
        return code
    json.dump(res, sys.stdout, allow_nan=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
