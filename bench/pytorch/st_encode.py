"""sentence-transformers on PyTorch CPU: the outside reference of `synthtune bench encode`'s
bi-encoder row. Builds a model of the bench folder's config.json with random weights (speed does not
depend on them) and its tokenizer, saves and loads it as a SentenceTransformer (Transformer + mean
Pooling + Normalize, as the bench's own folder declares), then times model.encode(texts) on the
bench's texts. Prints one JSON line {"median_ms", "texts_per_s", "torch", "sentence_transformers"}.
Bench-only; never a runtime dependency of synthtune."""
import argparse
import json
import tempfile
import time
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=FutureWarning)

import torch
import sentence_transformers
from sentence_transformers import SentenceTransformer, models
from transformers import AutoConfig, AutoModel, AutoTokenizer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="folder with config.json and tokenizer files")
    ap.add_argument("--texts", required=True, help="JSON file: a list of strings")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    texts = json.load(open(a.texts, encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        AutoModel.from_config(AutoConfig.from_pretrained(a.model)).save_pretrained(tmp)
        AutoTokenizer.from_pretrained(a.model).save_pretrained(tmp)
        word = models.Transformer(tmp, max_seq_length=a.max_length)
        dim = word.get_embedding_dimension() if hasattr(word, "get_embedding_dimension") else word.get_word_embedding_dimension()
        pooling = models.Pooling(dim, "mean")
        model = SentenceTransformer(modules=[word, pooling, models.Normalize()], device="cpu")
        model.eval()
        model.encode(texts[: a.batch], batch_size=a.batch)  # warm-up
        times = []
        for _ in range(a.rounds):
            t0 = time.perf_counter()
            model.encode(texts, batch_size=a.batch)
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    ms = times[len(times) // 2]
    print(json.dumps({"median_ms": ms, "texts_per_s": len(texts) / ms * 1e3, "torch": torch.__version__,
                      "sentence_transformers": sentence_transformers.__version__}))


if __name__ == "__main__":
    main()
