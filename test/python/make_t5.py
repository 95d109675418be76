"""
A seeded random-weight tiny T5 (doc2query-shaped) for test/seq2seq.test.ts, in the folder layout of
an optimum / transformers.js export, plus Hugging Face reference outputs.

    python3 test/python/make_t5.py OUT

OUT/ gets:
  config.json, generation_config.json, tokenizer.json, tokenizer_config.json  (save_pretrained)
  onnx/encoder_model.onnx            input_ids, attention_mask -> last_hidden_state
  onnx/decoder_model.onnx            input_ids, encoder_attention_mask, encoder_hidden_states
                                     -> logits, present.{i}.{decoder,encoder}.{key,value}
  onnx/decoder_with_past_model.onnx  input_ids, encoder_attention_mask,
                                     past_key_values.{i}.{decoder,encoder}.{key,value}
                                     -> logits, present.{i}.decoder.{key,value}
  merged/  the same folder with onnx/decoder_model_merged.onnx instead of the two decoders
           (an If on use_cache_branch, as optimum's merge_decoders builds it)
  reference.json  texts, HF input ids, HF generate() greedy ids (batched and one by one),
                  and HF's Temperature/TopK/TopP warpers applied to fixed logits vectors.

The tokenizer is a Unigram model whose vocabulary is built deterministically from substring counts
of a small corpus (ties broken by the string). The decoder graphs are small hand-written wrappers
around the HF module's weights (T5 attention: no 1/sqrt(d) scaling, relative position buckets,
RMS norm, tied-embedding output scaling); they are checked against HF's own forward before export.
Shapes: B batch, S source length, T decoder positions so far, H heads, K head dim (d_kv), V vocab.
"""
import json
import math
import os
import sys

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

OUT = sys.argv[1]
EOS_SCALE = 2.0  # the </s> embedding row is scaled so some sequences end before max_new_tokens
WSTD = 0.5  # weight std: HF's T5 init gives near-constant greedy outputs on a model this small
os.makedirs(os.path.join(OUT, 'onnx'), exist_ok=True)
torch.manual_seed(1234)

# ---------------------------------------------------------------- tokenizer
CORPUS = [
    'the quick brown fox jumps over the lazy dog',
    'a query generator writes questions about a passage',
    'synthetic queries train dense retrieval models',
    'what is the capital of france paris is the capital',
    'how do neural networks learn from data',
    'the encoder reads the document and the decoder writes the query',
    'greedy decoding picks the most likely token at each step',
]
counts = {}
for line in CORPUS:
    for word in line.split():
        w = '\u2581' + word
        for i in range(len(w)):
            for j in range(i + 1, min(len(w), i + 5) + 1):
                p = w[i:j]
                if p == '\u2581':
                    continue
                counts[p] = counts.get(p, 0) + 1
chars = sorted({c for line in CORPUS for c in line.replace(' ', '')} | {'\u2581'})
ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
total = sum(counts.values())
pieces = []
seen = set()
for c in chars:  # every character stays reachable (low score)
    pieces.append((c, math.log(1 / total) - 5.0))
    seen.add(c)
for p, c in ranked:
    if len(pieces) >= 180:
        break
    if p in seen:
        continue
    seen.add(p)
    pieces.append((p, math.log(c / total)))
pieces.sort(key=lambda pc: (-pc[1], pc[0]))
vocab = [('<pad>', 0.0), ('</s>', 0.0), ('<unk>', 0.0)] + pieces
tok = Tokenizer(models.Unigram(vocab, unk_id=2, byte_fallback=False))
tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement='\u2581', prepend_scheme='always')
tok.decoder = decoders.Metaspace(replacement='\u2581', prepend_scheme='always')
tok.post_processor = processors.TemplateProcessing(single='$A </s>', pair='$A </s> $B </s>', special_tokens=[('</s>', 1)])
from tokenizers import AddedToken

tok.add_special_tokens([AddedToken('<pad>', special=True), AddedToken('</s>', special=True), AddedToken('<unk>', special=True)])
hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token='<pad>', eos_token='</s>', unk_token='<unk>', padding_side='right', model_max_length=512)

# ---------------------------------------------------------------- model
V = tok.get_vocab_size()
cfg = T5Config(vocab_size=V, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
               relative_attention_num_buckets=8, relative_attention_max_distance=20, dropout_rate=0.0,
               feed_forward_proj='relu', tie_word_embeddings=False, decoder_start_token_id=0, eos_token_id=1, pad_token_id=0)
model = T5ForConditionalGeneration(cfg).eval()
model.requires_grad_(False)  # the export wrappers close over the weights as constants
# Wider weights than HF's init (WSTD) and a larger </s> row (EOS_SCALE): varied greedy outputs, some ending early.
with torch.no_grad():
    for name, w in model.named_parameters():
        if 'layer_norm' not in name:
            w.normal_(0.0, WSTD if 'lm_head' not in name else 1.0)
    model.shared.weight[1] *= EOS_SCALE
model.save_pretrained(OUT)
hf_tok.save_pretrained(OUT)

H, K, D = cfg.num_heads, cfg.d_kv, cfg.d_model
L = cfg.num_decoder_layers
dec = model.decoder
bucket_fn = dec.block[0].layer[0].SelfAttention._relative_position_bucket


def rms(norm, x):
    var = x.pow(2).mean(-1, keepdim=True)
    return norm.weight * (x * torch.rsqrt(var + norm.variance_epsilon))


def heads(x):  # [B, T, H*K] -> [B, H, T, K]
    return x.view(x.shape[0], x.shape[1], H, K).transpose(1, 2)


def attend(q, k, v, bias):  # T5: no scaling
    w = torch.softmax(torch.matmul(q, k.transpose(2, 3)) + bias, dim=-1)
    o = torch.matmul(w, v).transpose(1, 2)
    return o.reshape(o.shape[0], o.shape[1], H * K)


def decoder_step(input_ids, enc_mask, past_dec, enc_kv):
    """input_ids [B, T_new]; past_dec: per layer (k, v) [B, H, P, K]; enc_kv per layer (k, v) [B, H, S, K]."""
    x = dec.embed_tokens(input_ids)
    t_new = input_ids.shape[1]
    p = past_dec[0][0].shape[2]
    q_pos = torch.arange(t_new)[:, None] + p
    k_pos = torch.arange(p + t_new)[None, :]
    rel = k_pos - q_pos
    sa0 = dec.block[0].layer[0].SelfAttention
    bias = sa0.relative_attention_bias(bucket_fn(rel, bidirectional=False, num_buckets=cfg.relative_attention_num_buckets,
                                                 max_distance=cfg.relative_attention_max_distance)).permute(2, 0, 1).unsqueeze(0)
    causal = torch.where(rel > 0, torch.tensor(torch.finfo(torch.float32).min), torch.tensor(0.0))
    self_bias = bias + causal
    cross_bias = ((1.0 - enc_mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min)
    presents = []
    for i, block in enumerate(dec.block):
        sa = block.layer[0].SelfAttention
        h = rms(block.layer[0].layer_norm, x)
        k = torch.cat([past_dec[i][0], heads(sa.k(h))], dim=2)
        v = torch.cat([past_dec[i][1], heads(sa.v(h))], dim=2)
        x = x + sa.o(attend(heads(sa.q(h)), k, v, self_bias))
        ca = block.layer[1].EncDecAttention
        h = rms(block.layer[1].layer_norm, x)
        x = x + ca.o(attend(heads(ca.q(h)), enc_kv[i][0], enc_kv[i][1], cross_bias))
        ff = block.layer[2]
        h = rms(ff.layer_norm, x)
        x = x + ff.DenseReluDense.wo(torch.relu(ff.DenseReluDense.wi(h)))
        presents.append((k, v))
    x = rms(dec.final_layer_norm, x)
    if cfg.scale_decoder_outputs:
        x = x * (D ** -0.5)
    return model.lm_head(x), presents


def encoder_kv(enc_hidden):
    out = []
    for block in dec.block:
        ca = block.layer[1].EncDecAttention
        out.append((heads(ca.k(enc_hidden)), heads(ca.v(enc_hidden))))
    return out


class Encoder(torch.nn.Module):
    def forward(self, input_ids, attention_mask):
        return model.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


class Decoder(torch.nn.Module):
    def forward(self, input_ids, encoder_attention_mask, encoder_hidden_states):
        b = input_ids.shape[0]
        empty = torch.zeros(b, H, 0, K)
        ekv = encoder_kv(encoder_hidden_states)
        logits, pres = decoder_step(input_ids, encoder_attention_mask, [(empty, empty)] * L, ekv)
        flat = []
        for i in range(L):
            flat += [pres[i][0], pres[i][1], ekv[i][0], ekv[i][1]]
        return (logits, *flat)


class DecoderWithPast(torch.nn.Module):
    def forward(self, input_ids, encoder_attention_mask, *past):
        pd = [(past[4 * i], past[4 * i + 1]) for i in range(L)]
        pe = [(past[4 * i + 2], past[4 * i + 3]) for i in range(L)]
        logits, pres = decoder_step(input_ids, encoder_attention_mask, pd, pe)
        flat = []
        for i in range(L):
            flat += [pres[i][0], pres[i][1]]
        return (logits, *flat)


def kv_names(prefix, kinds=('decoder', 'encoder')):
    names = []
    for i in range(L):
        for kind in ('decoder', 'encoder'):
            if kind in kinds:
                names += [f'{prefix}.{i}.{kind}.key', f'{prefix}.{i}.{kind}.value']
    return names


# ---------------------------------------------------------------- reference inputs
TEXTS = [
    'the quick brown fox jumps over the lazy dog',
    'dense retrieval',
    'what is the capital of france',
    'a query generator writes questions about a passage and the decoder writes the query',
]
enc = hf_tok(TEXTS, padding=True, return_tensors='pt')

# wrappers equal HF's forward (teacher-forced) before anything is exported
with torch.no_grad():
    dec_in = torch.tensor([[0, 5, 9, 7, 1, 12]] * len(TEXTS))
    ref = model(input_ids=enc.input_ids, attention_mask=enc.attention_mask, decoder_input_ids=dec_in).logits
    eh = Encoder()(enc.input_ids, enc.attention_mask)
    full = Decoder()(dec_in, enc.attention_mask, eh)
    assert (full[0] - ref).abs().max() < 1e-4, float((full[0] - ref).abs().max())
    first = Decoder()(dec_in[:, :3], enc.attention_mask, eh)
    past = list(first[1:])
    step = DecoderWithPast()(dec_in[:, 3:4], enc.attention_mask, *past)
    assert (step[0][:, 0] - ref[:, 3]).abs().max() < 1e-4

# ---------------------------------------------------------------- export
B, S, T, P = 'batch', 'src', 'tgt', 'past'
export_kw = dict(opset_version=17, dynamo=False, do_constant_folding=True)
with torch.no_grad():
    torch.onnx.export(Encoder(), (enc.input_ids, enc.attention_mask), os.path.join(OUT, 'onnx', 'encoder_model.onnx'),
                      input_names=['input_ids', 'attention_mask'], output_names=['last_hidden_state'],
                      dynamic_axes={'input_ids': {0: B, 1: S}, 'attention_mask': {0: B, 1: S}, 'last_hidden_state': {0: B, 1: S}}, **export_kw)
    present_all = kv_names('present')
    dyn = {'input_ids': {0: B, 1: T}, 'encoder_attention_mask': {0: B, 1: S}, 'encoder_hidden_states': {0: B, 1: S}, 'logits': {0: B, 1: T}}
    for n in present_all:
        dyn[n] = {0: B, 2: T if '.decoder.' in n else S}
    torch.onnx.export(Decoder(), (dec_in[:, :3], enc.attention_mask, eh), os.path.join(OUT, 'onnx', 'decoder_model.onnx'),
                      input_names=['input_ids', 'encoder_attention_mask', 'encoder_hidden_states'], output_names=['logits'] + present_all,
                      dynamic_axes=dyn, **export_kw)
    past_names = kv_names('past_key_values')
    present_dec = kv_names('present', ('decoder',))
    dyn = {'input_ids': {0: B, 1: T}, 'encoder_attention_mask': {0: B, 1: S}, 'logits': {0: B, 1: T}}
    for n in past_names:
        dyn[n] = {0: B, 2: P if '.decoder.' in n else S}
    for n in present_dec:
        dyn[n] = {0: B, 2: 'past_plus_tgt'}
    torch.onnx.export(DecoderWithPast(), (dec_in[:, 3:4], enc.attention_mask, *past), os.path.join(OUT, 'onnx', 'decoder_with_past_model.onnx'),
                      input_names=['input_ids', 'encoder_attention_mask'] + past_names, output_names=['logits'] + present_dec,
                      dynamic_axes=dyn, **export_kw)

# ---------------------------------------------------------------- merged decoder (optimum layout)
import onnx
from onnx import TensorProto, helper


def merged_decoder(no_past_path, with_past_path, out_path):
    """optimum's decoder_model_merged: inputs = union (+ use_cache_branch bool[1]); an If picks the graph.
    The cache branch passes the encoder past through as present.*.encoder.* (optimum outputs them in both)."""
    def out_shape(name):
        return ['batch', 'tgt', V] if name == 'logits' else ['batch', H, f'len_{name}', K]

    g0 = onnx.load(no_past_path).graph
    g1 = onnx.load(with_past_path).graph

    def branch(g, tag, extra_identity):
        for node in g.node:
            node.name = f'{tag}/{node.name}'
        rename = {}
        for init in g.initializer:
            rename[init.name] = f'{tag}/{init.name}'
            init.name = rename[init.name]
        outs = {o.name for o in g.output}
        ins = {i.name for i in g.input}
        for node in g.node:
            node.input[:] = [rename.get(n, n) for n in node.input]
            for j, n in enumerate(node.output):
                if n not in outs and n not in ins:
                    node.output[j] = f'{tag}/{n}'
            node.input[:] = [n if (n in ins or n in outs or n.startswith(f'{tag}/') or n == '') else f'{tag}/{n}' for n in node.input]
        nodes = list(g.node)
        for src, dst in extra_identity:
            nodes.append(helper.make_node('Identity', [src], [dst], name=f'{tag}/id_{dst}'))
        # branch outputs: logits + all presents, renamed so both branches declare the same names, untyped shapes
        out_names = ['logits'] + present_all
        for n in nodes:
            n.output[:] = [f'{tag}:{o}' if o in out_names else o for o in n.output]
            n.input[:] = [f'{tag}:{i}' if i in out_names else i for i in n.input]
        outputs = [helper.make_tensor_value_info(f'{tag}:{o}', TensorProto.FLOAT, out_shape(o)) for o in out_names]
        return helper.make_graph(nodes, f'{tag}_graph', [], outputs, initializer=list(g.initializer))

    then_g = branch(g1, 'with_past', [(n.replace('present', 'past_key_values'), n) for n in present_all if '.encoder.' in n])
    else_g = branch(g0, 'no_past', [])
    inputs = [helper.make_tensor_value_info('input_ids', TensorProto.INT64, ['batch', 'tgt']),
              helper.make_tensor_value_info('encoder_attention_mask', TensorProto.INT64, ['batch', 'src']),
              helper.make_tensor_value_info('encoder_hidden_states', TensorProto.FLOAT, ['batch', 'src', D])]
    for n in past_names:
        inputs.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, ['batch', H, 'past' if '.decoder.' in n else 'src_past', K]))
    inputs.append(helper.make_tensor_value_info('use_cache_branch', TensorProto.BOOL, [1]))
    out_names = ['logits'] + present_all
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, out_shape(n)) for n in out_names]
    if_node = helper.make_node('If', ['use_cache_branch'], out_names, then_branch=then_g, else_branch=else_g, name='optimum::if')
    graph = helper.make_graph([if_node], 'decoder_model_merged', inputs, outputs)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, out_path)


mdir = os.path.join(OUT, 'merged')
os.makedirs(os.path.join(mdir, 'onnx'), exist_ok=True)
for f in ('config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'):
    if os.path.exists(os.path.join(OUT, f)):
        with open(os.path.join(OUT, f), 'rb') as a, open(os.path.join(mdir, f), 'wb') as b:
            b.write(a.read())
with open(os.path.join(OUT, 'onnx', 'encoder_model.onnx'), 'rb') as a, open(os.path.join(mdir, 'onnx', 'encoder_model.onnx'), 'wb') as b:
    b.write(a.read())
merged_decoder(os.path.join(OUT, 'onnx', 'decoder_model.onnx'), os.path.join(OUT, 'onnx', 'decoder_with_past_model.onnx'),
               os.path.join(mdir, 'onnx', 'decoder_model_merged.onnx'))

# ---------------------------------------------------------------- HF references
MAX_NEW = 12


def strip(seq):
    """HF output row -> generated ids after decoder_start, through the first </s>, without padding."""
    out = []
    for t in seq[1:]:
        out.append(int(t))
        if t == cfg.eos_token_id:
            break
    return out


with torch.no_grad():
    g = model.generate(input_ids=enc.input_ids, attention_mask=enc.attention_mask, max_new_tokens=MAX_NEW, do_sample=False, num_beams=1,
                       output_scores=True, return_dict_in_generate=True)
    batched = [strip(r.tolist()) for r in g.sequences]
    # the smallest top-1 / top-2 logit gap over all steps (a tiny gap would make parity fragile)
    gap = min(float((s.topk(2).values[:, 0] - s.topk(2).values[:, 1]).min()) for s in g.scores)
    single = []
    for t in TEXTS:
        e = hf_tok([t], return_tensors='pt')
        single.append(strip(model.generate(**e, max_new_tokens=MAX_NEW, do_sample=False, num_beams=1)[0].tolist()))
    decoded = [hf_tok.decode(ids, skip_special_tokens=True) for ids in batched]

rng = np.random.default_rng(7)
warp_cases = []
for temperature, top_k, top_p in [(1.0, 5, 1.0), (1.0, 0, 0.9), (0.7, 10, 0.8), (1.3, 3, 0.5), (1.0, 50, 0.95), (0.5, 0, 0.3)]:
    logits = (rng.standard_normal(V) * 2.0).astype(np.float32)
    scores = torch.tensor(logits)[None, :]
    ids = torch.zeros(1, 1, dtype=torch.long)
    if temperature != 1.0:
        scores = TemperatureLogitsWarper(temperature)(ids, scores)
    if top_k:
        scores = TopKLogitsWarper(top_k=top_k)(ids, scores)
    if top_p < 1.0:
        scores = TopPLogitsWarper(top_p=top_p)(ids, scores)
    w = scores[0]
    warp_cases.append({'temperature': temperature, 'topK': top_k, 'topP': top_p, 'logits': logits.tolist(),
                       'kept': [i for i in range(V) if math.isfinite(float(w[i]))],
                       'warped': [float(w[i]) if math.isfinite(float(w[i])) else None for i in range(V)]})

with open(os.path.join(OUT, 'reference.json'), 'w') as f:
    json.dump({'texts': TEXTS, 'inputIds': [[int(t) for t, m in zip(r, mk) if m] for r, mk in zip(enc.input_ids.tolist(), enc.attention_mask.tolist())],
               'maxNewTokens': MAX_NEW, 'greedyBatched': batched, 'greedySingle': single, 'decoded': decoded, 'minTop2Gap': gap,
               'vocabSize': V, 'warp': warp_cases}, f)
print(json.dumps({'vocab': V, 'greedy': batched, 'minTop2Gap': gap}))
