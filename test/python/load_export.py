"""Loads a synthtune export the way Python users do and prints its embeddings, for
test/export-python.test.ts to compare with synthtune's.

usage: load_export.py DIR TEXTS.json OUT.json [--st] [--query] [--hf mean|cls] [--normalize]
  --st      SentenceTransformer(DIR).encode(texts)                       -> out["st"]
  --query   with --st: encode_query instead of encode (a query-only adapter's query side)
  --hf P    AutoTokenizer + AutoModel.from_pretrained(DIR), P-pooled last_hidden_state
            (mean over the attention mask, or the first token), optionally L2-normalised
                                                                        -> out["hf"], out["hf_loading"]
One text per call (no padding to reason about), float32, CPU, one thread.

usage: load_export.py --serve
  the same, many times in one process (torch and the libraries are imported once): one JSON
  request per line on stdin, {"dir": DIR, "texts": [...], "flags": [...]}, one JSON line per
  request on stdout, {"ok": true, "out": {...}} or {"ok": false, "error": "<the traceback>"}.
"""
import json
import sys
import traceback

import torch

torch.set_num_threads(1)


def load(d, texts, flags):
    out = {}
    if '--st' in flags:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(d, device='cpu')
        enc = model.encode_query if '--query' in flags else model.encode
        out['st'] = [enc([t], convert_to_numpy=True)[0].tolist() for t in texts]
        out['st_modules'] = [type(m).__name__ for m in model]
    if '--hf' in flags:
        pooling = flags[flags.index('--hf') + 1]
        from transformers import AutoModel, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(d)
        model, info = AutoModel.from_pretrained(d, output_loading_info=True)
        model.eval()
        out['hf_loading'] = {k: sorted(v) if isinstance(v, (list, set)) else str(v) for k, v in info.items()}
        out['hf_class'] = type(model).__name__
        rows = []
        with torch.no_grad():
            for t in texts:
                enc = tok(t, return_tensors='pt')
                h = model(**enc).last_hidden_state[0]
                m = enc['attention_mask'][0].unsqueeze(-1).to(h.dtype)
                e = (h * m).sum(0) / m.sum().clamp(min=1e-9) if pooling == 'mean' else h[0]
                if '--normalize' in flags:
                    e = torch.nn.functional.normalize(e, dim=-1)
                rows.append(e.tolist())
        out['hf'] = rows
    return out


def serve():
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            res = {'ok': True, 'out': load(req['dir'], req['texts'], req['flags'])}
        except Exception:  # reported to the test, which decides whether it expected it
            res = {'ok': False, 'error': traceback.format_exc()}
        sys.stdout.write(json.dumps(res) + '\n')
        sys.stdout.flush()


def main():
    if sys.argv[1:] == ['--serve']:
        return serve()
    d, texts_file, out_file = sys.argv[1:4]
    json.dump(load(d, json.load(open(texts_file)), sys.argv[4:]), open(out_file, 'w'))


if __name__ == '__main__':
    main()
