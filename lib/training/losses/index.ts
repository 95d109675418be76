/**
 * The losses fit() trains with, behind one interface (TrainingLoss): the loss turns a slice of
 * the epoch's items into a batch of groups of inputs, each group forwarded by the student on one
 * side (queries or documents), and then turns the groups' embeddings into the loss value and
 * ∂loss/∂embedding for each group (null for a group the student does not train, e.g. documents of
 * a query-only adapter).
 *
 *   MarginMSELoss                          synthesized rows (query, positive, negatives, margins)
 *   MultipleNegativesRankingLoss           (anchor, positive) pairs, in-batch negatives
 *   MultipleNegativesSymmetricRankingLoss  the same, both directions
 *   CoSENTLoss, CosineSimilarityLoss       scored pairs (left, right, score)
 *   SupConLoss                             labeled items (supervised contrastive), with a sampler
 *                                          that puts several items of one label in each batch
 */
import type { Example, Side } from '../student';
import { normalizeExample } from '../student';
import { epochPermutation } from '../rng';
import { cosent } from './cosent';
import { cosineSimilarityLoss } from './cosine-similarity';
import { marginMse } from './margin-mse';
import { mnrl } from './mnrl';
import type { Score, Vec } from './similarity';
import { labelBatchOrder, supCon } from './supcon';
import { InputTypeError, OptionsError } from '../../util/errors';

export const LOSS_NAMES = [
  'MarginMSELoss', 'MultipleNegativesRankingLoss', 'MultipleNegativesSymmetricRankingLoss', 'CoSENTLoss', 'CosineSimilarityLoss', 'SupConLoss',
] as const;
export type LossName = (typeof LOSS_NAMES)[number];

/** A query–document pair (MultipleNegativesRankingLoss); rows of one group are not negatives of each other. */
export interface PairItem<I> {
  anchor: I;
  positive: I;
  group?: number | string;
}

/** Two texts and a similarity score (CoSENTLoss, CosineSimilarityLoss). */
export interface ScoredItem<I> {
  left: I;
  right: I;
  score: number;
}

/** A labeled item: `item` is its document-side input, `query` its query-side input (default: item). */
export interface LabeledItem<I> {
  item: I;
  query?: I;
  label: number | string;
}

export type TrainItem<I> = Example<I> | PairItem<I> | ScoredItem<I> | LabeledItem<I>;

export interface LossGroup<I> {
  side: Side;
  inputs: I[];
}

export interface LossValue {
  loss: number;
  /** ∂loss/∂embeddings of each group, (rows, D); null where not wanted. */
  grads: (Vec | null)[];
}

export interface LossBatch<I> {
  groups: LossGroup<I>[];
  /** outputs: the (rows, D) embeddings of each group; trainable: which groups need gradients. */
  compute(outputs: Float32Array[], dim: number, score: Score, trainable: boolean[]): LossValue;
}

export interface LossSettings {
  /** Similarity scale of the in-batch losses and CoSENT (default 20 on cosine, 1 on dot). */
  scale?: number;
  /** SupConLoss sampler: items of one label placed together (default 4). */
  perLabel?: number;
}

export interface TrainingLoss<I, E = unknown> {
  readonly name: LossName;
  /** Validates one training item (index for the message) and brings it to the loss's form. */
  normalize(item: unknown, index: number): E;
  /** Feeds every input and number of an item to the run's fingerprint. */
  hash(item: E, add: (x: unknown) => void): void;
  /** The order of the items in an epoch (default: epochPermutation). */
  order?(items: E[], seed: number, epoch: number, shuffle: boolean): Int32Array;
  batch(items: E[], order: Int32Array, start: number, end: number): LossBatch<I>;
  /** What beyond the name identifies the loss (part of the checkpoint fingerprint). */
  settings(): Record<string, unknown>;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null;
}

function need(item: unknown, index: number, fields: string[], what: string): Record<string, unknown> {
  if (!isObject(item)) throw new InputTypeError(`examples[${index}]: not an object (${what} expected)`);
  for (const f of fields) if (item[f] === undefined) throw new InputTypeError(`examples[${index}]: ${f} is required for ${what}`);
  return item;
}

// ---------------------------------------------------------------------------------------------

export interface MarginBatch<I> {
  queries: I[];
  /** B positives, then T negatives. */
  docs: I[];
  owner: Int32Array;
  margin: Float64Array;
}

/** The Margin-MSE layout of a batch as loss groups: queries, then positives and negatives. */
export function marginLossBatch<I>(b: MarginBatch<I>): LossBatch<I> {
  return {
    groups: [{ side: 'query', inputs: b.queries }, { side: 'document', inputs: b.docs }],
    compute(out, D, score, trainable) {
      const B = b.queries.length;
      const frozenDocs = !trainable[1];
      const { loss, dq, dp, dn } = marginMse({
        q: out[0], p: out[1].subarray(0, B * D), n: out[1].subarray(B * D), owner: b.owner, margin: b.margin, dim: D, score, queryGradOnly: frozenDocs,
      });
      let dDocs: Float32Array | null = null;
      if (!frozenDocs) {
        dDocs = new Float32Array(out[1].length);
        dDocs.set(dp);
        dDocs.set(dn, B * D);
      }
      return { loss, grads: [trainable[0] ? dq : null, dDocs] };
    },
  };
}

type NormalMargin<I> = ReturnType<typeof normalizeExample<I>>;

/** Examples order[start..end) as a Margin-MSE batch: B queries, B positives then T negatives with owners and margins. */
export function assembleMargins<I>(data: NormalMargin<I>[], order: Int32Array, start: number, end: number): MarginBatch<I> {
  const queries: I[] = [];
  const positives: I[] = [];
  const negatives: I[] = [];
  const owner: number[] = [];
  const margin: number[] = [];
  for (let i = start; i < end; i++) {
    const e = data[order[i]];
    const b = queries.length;
    queries.push(e.query);
    positives.push(e.positive);
    for (let j = 0; j < e.negatives.length; j++) {
      negatives.push(e.negatives[j]);
      owner.push(b);
      margin.push(e.margins[j]);
    }
  }
  return { queries, docs: positives.concat(negatives), owner: Int32Array.from(owner), margin: Float64Array.from(margin) };
}

export function marginMseLoss<I>(): TrainingLoss<I, NormalMargin<I>> {
  return {
    name: 'MarginMSELoss',
    normalize: (item, i) => normalizeExample(item as Example<I>, i),
    hash(e, add) {
      add(e.query);
      add(e.positive);
      for (const n of e.negatives) add(n);
      add(Float64Array.from(e.margins));
    },
    batch: (data, order, start, end) => marginLossBatch(assembleMargins(data, order, start, end)),
    settings: () => ({}),
  };
}

export function mnrlLoss<I>(opts: LossSettings & { symmetric?: boolean } = {}): TrainingLoss<I, PairItem<I>> {
  return {
    name: opts.symmetric ? 'MultipleNegativesSymmetricRankingLoss' : 'MultipleNegativesRankingLoss',
    normalize(item, i) {
      const r = need(item, i, ['anchor', 'positive'], 'a (anchor, positive) pair');
      return { anchor: r.anchor as I, positive: r.positive as I, group: (r.group as number | string | undefined) ?? `#${i}` };
    },
    hash(e, add) {
      add(e.anchor);
      add(e.positive);
      add(String(e.group));
    },
    batch(items, order, start, end) {
      const rows = Array.from(order.subarray(start, end), (k) => items[k]);
      return {
        groups: [{ side: 'query', inputs: rows.map((r) => r.anchor) }, { side: 'document', inputs: rows.map((r) => r.positive) }],
        compute(out, D, score, trainable) {
          const r = mnrl({
            anchors: out[0], positives: out[1], dim: D, score, scale: opts.scale, symmetric: opts.symmetric,
            groups: rows.map((x) => x.group as number | string), want: { anchors: trainable[0], positives: trainable[1] },
          });
          return { loss: r.loss, grads: [r.dAnchors, r.dPositives] };
        },
      };
    },
    settings: () => ({ scale: opts.scale ?? null }),
  };
}

export function scoredLoss<I>(name: 'CoSENTLoss' | 'CosineSimilarityLoss', opts: LossSettings = {}): TrainingLoss<I, ScoredItem<I>> {
  return {
    name,
    normalize(item, i) {
      const r = need(item, i, ['left', 'right', 'score'], 'a scored pair (left, right, score)');
      if (typeof r.score !== 'number' || !Number.isFinite(r.score)) throw new InputTypeError(`examples[${i}]: score must be a finite number`);
      return { left: r.left as I, right: r.right as I, score: r.score };
    },
    hash(e, add) {
      add(e.left);
      add(e.right);
      add(Float64Array.of(e.score));
    },
    batch(items, order, start, end) {
      const rows = Array.from(order.subarray(start, end), (k) => items[k]);
      return {
        groups: [{ side: 'query', inputs: rows.map((r) => r.left) }, { side: 'document', inputs: rows.map((r) => r.right) }],
        compute(out, D, score, trainable) {
          const input = { left: out[0], right: out[1], labels: rows.map((r) => r.score), dim: D, want: { left: trainable[0], right: trainable[1] } };
          const r = name === 'CoSENTLoss' ? cosent({ ...input, score, scale: opts.scale }) : cosineSimilarityLoss(input);
          return { loss: r.loss, grads: [r.dLeft, r.dRight] };
        },
      };
    },
    settings: () => ({ scale: name === 'CoSENTLoss' ? opts.scale ?? null : null }),
  };
}

export function supConLoss<I>(opts: LossSettings = {}): TrainingLoss<I, LabeledItem<I>> {
  const perLabel = opts.perLabel ?? 4;
  return {
    name: 'SupConLoss',
    normalize(item, i) {
      const r = need(item, i, ['item', 'label'], 'a labeled item (item, label)');
      if (typeof r.label !== 'string' && typeof r.label !== 'number') throw new InputTypeError(`examples[${i}]: label must be a string or a number`);
      return { item: r.item as I, query: (r.query as I | undefined) ?? (r.item as I), label: r.label };
    },
    hash(e, add) {
      add(e.item);
      add(e.query);
      add(String(e.label));
    },
    order: (items, seed, epoch, shuffle) => labelBatchOrder(items.map((x) => x.label), seed, epoch, perLabel, shuffle),
    batch(items, order, start, end) {
      const rows = Array.from(order.subarray(start, end), (k) => items[k]);
      return {
        groups: [{ side: 'query', inputs: rows.map((r) => r.query as I) }, { side: 'document', inputs: rows.map((r) => r.item) }],
        compute(out, D, score, trainable) {
          const r = supCon({
            anchors: out[0], candidates: out[1], labels: rows.map((x) => x.label), dim: D, score, scale: opts.scale,
            want: { anchors: trainable[0], candidates: trainable[1] },
          });
          return { loss: r.loss, grads: [r.dAnchors, r.dCandidates] };
        },
      };
    },
    settings: () => ({ scale: opts.scale ?? null, perLabel }),
  };
}

/** The loss of a name. */
export function lossByName<I>(name: LossName, opts: LossSettings = {}): TrainingLoss<I, unknown> {
  switch (name) {
    case 'MarginMSELoss':
      return marginMseLoss<I>() as TrainingLoss<I, unknown>;
    case 'MultipleNegativesRankingLoss':
      return mnrlLoss<I>(opts) as TrainingLoss<I, unknown>;
    case 'MultipleNegativesSymmetricRankingLoss':
      return mnrlLoss<I>({ ...opts, symmetric: true }) as TrainingLoss<I, unknown>;
    case 'CoSENTLoss':
    case 'CosineSimilarityLoss':
      return scoredLoss<I>(name, opts) as TrainingLoss<I, unknown>;
    case 'SupConLoss':
      return supConLoss<I>(opts) as TrainingLoss<I, unknown>;
    default:
      throw new OptionsError(`unknown loss '${String(name)}' (${LOSS_NAMES.join(', ')})`);
  }
}

export function defaultOrder(n: number, seed: number, epoch: number, shuffle: boolean): Int32Array {
  return epochPermutation(n, seed, epoch, shuffle);
}
