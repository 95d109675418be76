#!/usr/bin/env python3
"""
Conformance fixtures for synthtune (issue 12): random-weight model folders made the way users' tools
make them, and PyTorch's outputs on them.

    python3 test/conformance/make_models.py OUT_DIR [--quick] [--cases FILE]

For every row of cases.json (next to this script; --quick: the rows marked quick) it

  1. builds a tokenizer from a small built-in text (WordPiece as BERT's and MPNet's, Unigram as
     XLM-R's sentencepiece: vocabularies built from counts; byte-level BPE as RoBERTa's: trained
     with the `tokenizers` library) in the architecture's transformers tokenizer class, so
     save_pretrained writes tokenizer.json and tokenizer_config.json as for a hub model;
  2. builds a tiny random model (hidden 32, 2 layers, 4 heads; seeded by the case name; biases and
     LayerNorm parameters perturbed so that a dropped bias or a swapped LayerNorm shows) with
     transformers: AutoModel for bi-encoders, AutoModelForSequenceClassification (num_labels 1) for
     cross-encoders;
  3. saves it through sentence-transformers 6: SentenceTransformer(modules=[Transformer, Pooling,
     Dense?, Normalize?], prompts?).save(folder), or CrossEncoder(...).save(folder); for `legacy`
     rows it then rewrites the JSON files as an older sentence-transformers wrote them (old module
     type paths, pooling_mode_* booleans, word_embedding_dimension, sentence_bert_config.json);
  4. exports the transformer to onnx/model.onnx with torch.onnx (TorchScript: dynamo=False, or the
     dynamo exporter): inputs input_ids, attention_mask (+ token_type_ids for BERT), output
     last_hidden_state (cross-encoders: logits), dynamic batch and sequence axes; `none` rows keep
     only model.safetensors;
  5. reloads the folder from disk (SentenceTransformer(folder) / CrossEncoder(folder)) and records its
     outputs for a fixed list of texts (pairs) in OUT_DIR/manifest.json: embeddings as
     SentenceTransformer.encode gives them (normalised only where the folder has a Normalize module),
     with prompt_name 'query' / 'document' where the folder has prompts; raw cross-encoder logits
     (CrossEncoder.predict with an identity activation, checked against
     AutoModelForSequenceClassification on the same tokens).

Deterministic (seeded; single-threaded torch). Tiny models: the whole set takes well under two
minutes on two cores. Needs torch, transformers, sentence-transformers, tokenizers, safetensors,
onnx, onnxscript (the dynamo exporter).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
import warnings
import zlib
from collections import Counter

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

import transformers  # noqa: E402

transformers.utils.logging.disable_progress_bar()
import sentence_transformers  # noqa: E402
import tokenizers  # noqa: E402
from tokenizers import ByteLevelBPETokenizer, normalizers, pre_tokenizers  # noqa: E402
from sentence_transformers import CrossEncoder, SentenceTransformer  # noqa: E402
from sentence_transformers.sentence_transformer import modules as st_modules  # noqa: E402

HIDDEN, LAYERS, HEADS, INTERMEDIATE, MAX_POSITIONS = 32, 2, 4, 64, 128
DENSE_OUT = 24

# The tokenizers' training text: varied enough for a few hundred tokens, subwords and unknowns.
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Vaccines reduce the risk of infection and severe disease in most patients.",
    "Protein folding determines the three-dimensional structure of amino acid chains.",
    "Embedding models map queries and documents to vectors; relevant pairs end up close together.",
    "Search engines rank documents by relevance to the query, using lexical or dense retrieval.",
    "Clinical trials test the safety and dosage of new treatments before approval.",
    "Gene expression differs between cells and tissues, and changes with age.",
    "Ocean tides are caused by the gravity of the moon and the sun.",
    "A river delta forms where sediment settles as the current slows near the sea.",
    "Domain adaptation with synthetic data: generate queries, mine negatives, label with a teacher.",
    "Cross-encoders read the query and the document together and output a relevance score.",
    "Tokenizers split text into subword units such as word pieces or byte pairs.",
    "Les modèles multilingues comprennent le français, l'allemand et l'espagnol.",
    "Die Straße war nass, aber die Sonne schien über der Stadt.",
    "El café de la mañana es el mejor momento del día.",
    "numbers like 2024, 3.14 and 1,000,000 appear in scientific text",
]

# The texts every bi-encoder embeds: short, long (beyond max_seq_length), unicode, odd spacing.
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "a",
    "what is the risk of infection after vaccination?",
    "Café naïve résumé — Straße, 東京タワー, emoji 🙂 and ñ",
    " ".join(["Protein folding determines the structure of amino acid chains, and search engines rank documents by relevance."] * 6),
    "Hello, WORLD! Mixed CASE, punctuation...; and (brackets)",
    "  leading and   trailing spaces  ",
    "1234 5678 numbers, hyphen-ated words and UNSEEN zyxwvut tokens",
]

PAIRS = [
    ["what causes ocean tides", "Ocean tides are caused by the gravity of the moon and the sun."],
    ["what causes ocean tides", "Clinical trials test the safety and dosage of new treatments."],
    ["vaccination risk", " ".join(["Vaccines reduce the risk of infection and severe disease in most patients."] * 8)],
    ["¿qué es el café?", "El café de la mañana es el mejor momento del día."],
    ["a", "b"],
    ["Straße", "Die Straße war nass, aber die Sonne schien über der Stadt 東京."],
]

E5_PROMPTS = {"query": "query: ", "document": "passage: "}

LEGACY_TYPES = {
    "Transformer": "sentence_transformers.models.Transformer",
    "Pooling": "sentence_transformers.models.Pooling",
    "Dense": "sentence_transformers.models.Dense",
    "Normalize": "sentence_transformers.models.Normalize",
}
LEGACY_POOLING_KEYS = {
    "cls": "pooling_mode_cls_token",
    "mean": "pooling_mode_mean_tokens",
    "max": "pooling_mode_max_tokens",
    "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens",
    "weightedmean": "pooling_mode_weightedmean_tokens",
    "lasttoken": "pooling_mode_lasttoken",
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# tokenizers


# The tokenizers library's WordPiece and Unigram trainers are not deterministic (hash-map order decides
# ties and ids), so those two vocabularies are built here from counts, with every tie broken by the
# string; byte-level BPE training is deterministic and is used as is.


def corpus_words(normalizer, pre_tokenizer) -> Counter:
    words: Counter = Counter()
    for line in CORPUS:
        text = normalizer.normalize_str(line) if normalizer else line
        words.update(w for w, _ in pre_tokenizer.pre_tokenize_str(text))
    return words


def by_count(counts: Counter, n: int, min_count: int = 1) -> list[str]:
    return [w for w, c in sorted(counts.items(), key=lambda x: (-x[1], x[0])) if c >= min_count][:n]


def wordpiece_vocab(specials: list[str], lowercase: bool = True) -> dict[str, int]:
    """Specials, every character (alone and as ##c), frequent whole words, frequent word starts and ##endings."""
    words = corpus_words(normalizers.BertNormalizer(lowercase=lowercase), pre_tokenizers.BertPreTokenizer())
    chars = sorted({c for w in words for c in w})
    starts: Counter = Counter()
    ends: Counter = Counter()
    for w, c in words.items():
        for k in (3, 4):
            if len(w) > k + 1:
                starts[w[:k]] += c
                ends["##" + w[-k:]] += c
    tokens = list(specials) + chars + ["##" + c for c in chars]
    tokens += by_count(words, 150) + by_count(starts, 60, 2) + by_count(ends, 60, 2)
    vocab: dict[str, int] = {}
    for t in tokens:
        vocab.setdefault(t, len(vocab))
    return vocab


def unigram_pieces() -> list[tuple[str, float]]:
    """XLM-R's layout (<s> <pad> </s> <unk> first, <mask> last); pieces scored log(count / total)."""
    words = corpus_words(None, pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]))
    counts: Counter = Counter()
    for w, c in words.items():
        counts[w] += c
        for i in range(len(w)):
            counts[w[i]] += c
            for k in (2, 3, 4):
                if i + k <= len(w):
                    counts[w[i:i + k]] += c
    chars = {p for p in counts if len(p) == 1}
    keep = chars | set(by_count(Counter({p: c for p, c in counts.items() if len(p) > 1}), 240, 2))
    total = sum(counts[p] for p in keep)
    scored = sorted(((p, math.log(counts[p] / total)) for p in keep), key=lambda x: (-x[1], x[0]))
    return [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + scored + [("<mask>", 0.0)]


def make_tokenizer(arch: str, kind: str, model_max_length: int):
    common = {"model_max_length": model_max_length}
    if kind == "wordpiece":
        if arch in ("bert", "distilbert"):
            vocab = wordpiece_vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
            cls = transformers.DistilBertTokenizer if arch == "distilbert" else transformers.BertTokenizer
            return cls(vocab=vocab, do_lower_case=True, **common)
        if arch == "mpnet":
            vocab = wordpiece_vocab(["<s>", "<pad>", "</s>", "[UNK]", "<mask>"])
            return transformers.MPNetTokenizer(vocab=vocab, do_lower_case=True, **common)
    if kind == "unigram" and arch == "xlm-roberta":
        return transformers.XLMRobertaTokenizer(vocab=unigram_pieces(), **common)
    if kind == "bpe" and arch == "roberta":
        bpe = ByteLevelBPETokenizer()
        bpe.train_from_iterator(CORPUS, vocab_size=400, min_frequency=1, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False)
        model = json.loads(bpe.to_str())["model"]
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
        return transformers.RobertaTokenizer(vocab=model["vocab"], merges=merges, **common)
    raise ValueError(f"no {kind} tokenizer for {arch}")


# ----------------------------------------------------------------------------------------------
# models


def make_config(arch: str, tokenizer, num_labels: int | None):
    V = len(tokenizer)
    extra = {"num_labels": num_labels} if num_labels else {}
    if arch == "bert":
        return transformers.BertConfig(vocab_size=V, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                                       intermediate_size=INTERMEDIATE, max_position_embeddings=MAX_POSITIONS, type_vocab_size=2,
                                       pad_token_id=tokenizer.pad_token_id, initializer_range=0.1, **extra)
    if arch == "distilbert":
        return transformers.DistilBertConfig(vocab_size=V, dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS, hidden_dim=INTERMEDIATE,
                                             max_position_embeddings=MAX_POSITIONS, pad_token_id=tokenizer.pad_token_id,
                                             initializer_range=0.1, **extra)
    if arch in ("xlm-roberta", "roberta"):
        cls = transformers.XLMRobertaConfig if arch == "xlm-roberta" else transformers.RobertaConfig
        return cls(vocab_size=V, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
                   max_position_embeddings=MAX_POSITIONS + 2, type_vocab_size=1, pad_token_id=tokenizer.pad_token_id,
                   bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, initializer_range=0.1, **extra)
    if arch == "mpnet":
        return transformers.MPNetConfig(vocab_size=V, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                                        intermediate_size=INTERMEDIATE, max_position_embeddings=MAX_POSITIONS + 2,
                                        relative_attention_num_buckets=32, pad_token_id=tokenizer.pad_token_id,
                                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                        initializer_range=0.1, **extra)
    raise ValueError(f"unknown arch {arch}")


def perturb(module: torch.nn.Module, seed: int) -> None:
    """Random biases and LayerNorm parameters (HF initialises them to 0 and 1, which hides mistakes)."""
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=g))


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


# ----------------------------------------------------------------------------------------------
# ONNX


class _Encoder(torch.nn.Module):
    def __init__(self, model, with_types: bool, output: str):
        super().__init__()
        self.model, self.with_types, self.output = model, with_types, output

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        kw = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.with_types:
            kw["token_type_ids"] = token_type_ids
        out = self.model(**kw)
        return out.logits if self.output == "logits" else out.last_hidden_state


def export_onnx(hf_model, path: str, with_types: bool, output: str, exporter: str, pad_id: int) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    wrapper = _Encoder(hf_model, with_types, output).eval()
    ids = torch.tensor([[5, 6, 7, 8, 9, 10, 11], [5, 6, 7, 8, 9, pad_id, pad_id]], dtype=torch.long)
    mask = (torch.arange(7)[None, :] < torch.tensor([[7], [5]])).long()
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if with_types else [])
    args = (ids, mask) + ((torch.zeros_like(ids),) if with_types else ())
    with torch.no_grad():
        if exporter == "torchscript":
            axes = {n: {0: "batch_size", 1: "sequence_length"} for n in names}
            axes[output] = {0: "batch_size"} if output == "logits" else {0: "batch_size", 1: "sequence_length"}
            torch.onnx.export(wrapper, args, path, input_names=names, output_names=[output], dynamic_axes=axes, opset_version=17, dynamo=False)
        elif exporter == "dynamo":
            b, s = torch.export.Dim("batch_size"), torch.export.Dim("sequence_length")
            shapes = {n: {0: b, 1: s} for n in names}
            prog = torch.onnx.export(wrapper, args, input_names=names, output_names=[output], dynamic_shapes=shapes, dynamo=True, verbose=False)
            prog.save(path, external_data=False)
        else:
            raise ValueError(exporter)
    check_onnx(path, wrapper, names, pad_id)


def check_onnx(path: str, wrapper, names: list[str], pad_id: int) -> None:
    """The exported graph reproduces PyTorch on a batch of another shape (dynamic axes really dynamic)."""
    import onnxruntime as ort

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 40, (3, 13), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    ids[1, 9:] = pad_id
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    with torch.no_grad():
        want = wrapper(*[feeds[n] for n in names]).numpy()
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = sess.run(None, {n: feeds[n].numpy() for n in names})[0]
    if want.ndim == 3:
        keep = mask.numpy().astype(bool)
        want, got = want[keep], got[keep]
    d = float(np.abs(got - want).max())
    if not d <= 1e-4:
        raise RuntimeError(f"{path}: onnxruntime differs from PyTorch by {d}")


# ----------------------------------------------------------------------------------------------
# legacy format


def legacy_rewrite(folder: str, case: dict) -> None:
    """Rewrites a sentence-transformers 6 folder's JSON as sentence-transformers 2.x saved it."""
    mpath = os.path.join(folder, "modules.json")
    modules = json.load(open(mpath))
    for m in modules:
        short = m["type"].rsplit(".", 1)[-1]
        m["type"] = LEGACY_TYPES.get(short, m["type"])
        if short == "Pooling":
            pc_path = os.path.join(folder, m["path"], "config.json")
            pc = json.load(open(pc_path))
            modes = pc.get("pooling_mode")
            modes = [modes] if isinstance(modes, str) else list(modes)
            legacy = {"word_embedding_dimension": pc.get("embedding_dimension", pc.get("word_embedding_dimension"))}
            for mode, key in LEGACY_POOLING_KEYS.items():
                legacy[key] = mode in modes
            legacy["include_prompt"] = pc.get("include_prompt", True)
            json.dump(legacy, open(pc_path, "w"), indent=2)
        if short == "Dense":
            dc_path = os.path.join(folder, m["path"], "config.json")
            dc = json.load(open(dc_path))
            act = dc.get("activation_function", "torch.nn.modules.activation.Tanh")
            json.dump({"in_features": dc["in_features"], "out_features": dc["out_features"], "bias": dc.get("bias", True),
                       "activation_function": act}, open(dc_path, "w"), indent=2)
    json.dump(modules, open(mpath, "w"), indent=2)
    # sentence-transformers 6 keeps max_seq_length as the tokenizer's model_max_length; older versions
    # kept it in sentence_bert_config.json, and the tokenizer said what the positions allow.
    tpath = os.path.join(folder, "tokenizer_config.json")
    tc = json.load(open(tpath))
    tc["model_max_length"] = MAX_POSITIONS
    json.dump(tc, open(tpath, "w"), indent=2)
    json.dump({"max_seq_length": case["maxSeqLength"], "do_lower_case": False}, open(os.path.join(folder, "sentence_bert_config.json"), "w"), indent=2)
    cpath = os.path.join(folder, "config_sentence_transformers.json")
    cst = json.load(open(cpath)) if os.path.exists(cpath) else {}
    json.dump({"__version__": {"sentence_transformers": "2.2.2", "transformers": "4.30.2", "pytorch": "2.0.1"},
               "prompts": cst.get("prompts", {}), "default_prompt_name": None}, open(cpath, "w"), indent=2)


def legacy_cross_rewrite(folder: str) -> None:
    """A CrossEncoder folder as sentence-transformers 2.x/3.x saved it: the transformers folder only,
    with the default activation in config.json and no sentence-transformers files."""
    for f in ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json"):
        if os.path.exists(os.path.join(folder, f)):
            os.remove(os.path.join(folder, f))
    cpath = os.path.join(folder, "config.json")
    cfg = json.load(open(cpath))
    cfg["sbert_ce_default_activation_function"] = "torch.nn.modules.activation.Sigmoid"
    json.dump(cfg, open(cpath, "w"), indent=2)


# ----------------------------------------------------------------------------------------------
# cases


def as_list(x) -> list:
    return np.asarray(x, dtype=np.float32).astype(np.float64).tolist()


def make_bi(case: dict, folder: str, work: str) -> dict:
    seed = seed_of(case["name"])
    torch.manual_seed(seed)
    tok = make_tokenizer(case["arch"], case["tokenizer"], MAX_POSITIONS)
    hf = transformers.AutoModel.from_config(make_config(case["arch"], tok, None)).eval()
    perturb(hf, seed)
    hf_dir = os.path.join(work, case["name"] + "-hf")
    hf.save_pretrained(hf_dir)
    tok.save_pretrained(hf_dir)

    mods = [st_modules.Transformer(hf_dir, max_seq_length=case["maxSeqLength"])]
    # one mode, or several (their outputs concatenated, as sentence-transformers does)
    mods.append(st_modules.Pooling(HIDDEN, pooling_mode=case["pooling"], include_prompt=case.get("includePrompt", True)))
    dim = mods[-1].get_embedding_dimension()
    if case.get("dense"):
        act = torch.nn.Tanh() if case["dense"] == "tanh" else torch.nn.Identity()
        dense = st_modules.Dense(dim, DENSE_OUT, activation_function=act)
        perturb(dense, seed + 7)
        mods.append(dense)
        dim = DENSE_OUT
    if case.get("normalize"):
        mods.append(st_modules.Normalize())
    prompts = E5_PROMPTS if case.get("prompts") else None
    model = SentenceTransformer(modules=mods, prompts=prompts, default_prompt_name=case.get("defaultPromptName"), device="cpu").eval()
    model.save(folder)

    types = transformers_has_types(case["arch"])
    if case["exporter"] != "none":
        export_onnx(model[0].auto_model if hasattr(model[0], "auto_model") else model[0].model,
                    os.path.join(folder, "onnx", "model.onnx"), types, "last_hidden_state", case["exporter"], tok.pad_token_id)
    if case["format"] == "legacy":
        legacy_rewrite(folder, case)

    # What users get: the folder reloaded from disk.
    loaded = SentenceTransformer(folder, device="cpu").eval()
    outputs = {"default": loaded.encode(TEXTS, convert_to_numpy=True, batch_size=4)}
    check_same(case["name"], "reload", outputs["default"], model.encode(TEXTS, convert_to_numpy=True, batch_size=3))
    if loaded.max_seq_length != case["maxSeqLength"]:
        raise RuntimeError(f"{case['name']}: reloaded max_seq_length {loaded.max_seq_length} != {case['maxSeqLength']}")
    if prompts:
        for name, prompt in prompts.items():
            outputs[name] = loaded.encode(TEXTS, prompt_name=name, convert_to_numpy=True, batch_size=4)
            if case.get("includePrompt", True):
                # a prompt is text put in front (with include_prompt false it is also left out of pooling)
                check_same(case["name"], f"prompt {name}", outputs[name], loaded.encode([prompt + t for t in TEXTS], prompt="", convert_to_numpy=True))
    # without any prompt, default_prompt_name included (what a bare token-id forward computes)
    default_prompt, loaded.default_prompt_name = loaded.default_prompt_name, None
    outputs["noprompt"] = loaded.encode(TEXTS, convert_to_numpy=True, batch_size=4)
    loaded.default_prompt_name = default_prompt
    # sentence-transformers' encode_query / encode_document (the query / document prompt, when there is one)
    outputs["encode_query"] = loaded.encode_query(TEXTS, convert_to_numpy=True, batch_size=4)
    outputs["encode_document"] = loaded.encode_document(TEXTS, convert_to_numpy=True, batch_size=4)
    if outputs["default"].shape != (len(TEXTS), dim):
        raise RuntimeError(f"{case['name']}: embeddings {outputs['default'].shape}, expected {(len(TEXTS), dim)}")
    return {"dim": dim, "prompts": prompts, "defaultPromptName": case.get("defaultPromptName"), "hasTokenTypeIds": types, "modules": [type(m).__name__ for m in loaded],
            "outputs": {k: as_list(v) for k, v in outputs.items()}}


def make_cross(case: dict, folder: str, work: str) -> dict:
    seed = seed_of(case["name"])
    torch.manual_seed(seed)
    tok = make_tokenizer(case["arch"], case["tokenizer"], MAX_POSITIONS)
    hf = transformers.AutoModelForSequenceClassification.from_config(make_config(case["arch"], tok, 1)).eval()
    perturb(hf, seed)
    hf_dir = os.path.join(work, case["name"] + "-hf")
    hf.save_pretrained(hf_dir)
    tok.save_pretrained(hf_dir)
    ce = CrossEncoder(hf_dir, max_length=case["maxSeqLength"], device="cpu")
    ce.save(folder)
    if case["format"] == "legacy":
        legacy_cross_rewrite(folder)
    types = transformers_has_types(case["arch"])
    if case["exporter"] != "none":
        export_onnx(hf, os.path.join(folder, "onnx", "model.onnx"), types, "logits", case["exporter"], tok.pad_token_id)

    loaded = CrossEncoder(folder, device="cpu")
    logits = np.asarray(loaded.predict([tuple(p) for p in PAIRS], activation_fn=torch.nn.Identity(), convert_to_numpy=True, batch_size=4), dtype=np.float32).reshape(-1)
    # the same through transformers directly
    auto_tok = transformers.AutoTokenizer.from_pretrained(folder)
    auto = transformers.AutoModelForSequenceClassification.from_pretrained(folder).eval()
    enc = auto_tok([p[0] for p in PAIRS], [p[1] for p in PAIRS], padding=True, truncation=True, max_length=case["maxSeqLength"], return_tensors="pt")
    with torch.no_grad():
        direct = auto(**enc).logits.reshape(-1).numpy()
    check_same(case["name"], "CrossEncoder vs AutoModelForSequenceClassification", logits, direct)
    return {"numLabels": 1, "hasTokenTypeIds": types, "outputs": {"logits": as_list(logits)}}


def transformers_has_types(arch: str) -> bool:
    return arch == "bert"


def check_same(name: str, what: str, a, b, tol: float = 1e-5) -> None:
    d = float(np.abs(np.asarray(a) - np.asarray(b)).max())
    if not d <= tol:
        raise RuntimeError(f"{name}: {what} differs by {d}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--quick", action="store_true", help="only the cases marked quick")
    ap.add_argument("--cases", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.json"))
    ap.add_argument("--only", default=None, help="comma-separated case names")
    a = ap.parse_args()
    cases = json.load(open(a.cases))["cases"]
    if a.quick:
        cases = [c for c in cases if c.get("quick")]
    if a.only:
        want = set(a.only.split(","))
        cases = [c for c in cases if c["name"] in want]
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    manifest = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "sentence_transformers": sentence_transformers.__version__, "tokenizers": tokenizers.__version__},
        "texts": TEXTS,
        "pairs": PAIRS,
        "cases": [],
    }
    with tempfile.TemporaryDirectory(prefix="synthtune-conformance-hf-") as work:
        for case in cases:
            t = time.time()
            folder = os.path.join(a.out, case["name"])
            shutil.rmtree(folder, ignore_errors=True)
            made = make_bi(case, folder, work) if case["kind"] == "bi" else make_cross(case, folder, work)
            manifest["cases"].append({**case, "folder": case["name"], **made})
            log(f"make_models: {case['name']} ({case['kind']}, {case['arch']}, {case['tokenizer']}, onnx {case['exporter']}) {time.time() - t:.1f}s")
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    log(f"make_models: {len(manifest['cases'])} cases in {time.time() - t0:.1f}s -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
