/**
 * synthesize(): Finetuner's synthesize() without the cloud. Mines relations for each query with
 * one or more miners (bi-encoders, or BM25), pseudo-labels them with a teacher (cross-encoder, or
 * BM25) and writes Margin-MSE examples {query, positive, negative, margin, ...} into a run folder.
 *
 *   const run = await synthesize({ queries, corpus, miner, scorer, numRelations: 10, out: 'runs/x' });
 *   for await (const line of run.streamLogs()) console.log(line.message);
 *   await run.wait();            // run.trainData → runs/x/train.jsonl
 *
 * synthesize() validates everything first (bad arguments throw right away), claims the folder,
 * then works in the background; the returned Run reports status and logs, also from other
 * processes via getRun(). Calling it again with the same arguments on the same folder resumes a
 * killed or failed run from its checkpoints (or returns the finished run unchanged).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { exists, readJson, writeAtomic, writeJsonAtomic } from './fsutil';
import { execute } from './pipeline';
import { loadMiner, loadScorer, modelIdentity, resolvePreset } from './models';
import { plan, resolveParams, synthesisDocuments, type PlanInput, type RunConfig } from './prepare';
import { dataGuidance, FEW_EXAMPLES, FEW_QUERIES, generateModelQueries } from './pseudo-queries';
import { Progress } from './progress';
import { getRun, Run, RUN_FILES, RunWriter, runsDir } from './run';
import type { MinerSpec, ScorerSpec, SynthesizeOptions } from './types';
import { InputTypeError, RunError } from '../util/errors';
import { clearFolder, foreign, ForeignFolderError, readStatus, removeTempsRecursive, RUN_FORMAT, runFileError } from '../util/run-folder';

export { getRun, Run, runsDir } from './run';
export type * from './types';
export { toHalf, fromHalf } from './store';
export { dataGuidance, FEW_EXAMPLES, FEW_QUERIES, generatePseudoQueries, generateModelQueries, PSEUDO_QUERY_METHODS, type Doc2QueryOptions, type PseudoQuery, type PseudoQueryMethod, type PseudoQueryOptions } from './pseudo-queries';

function outFolder(o: SynthesizeOptions): string {
  if (o.out) return path.resolve(o.out);
  const name = o.name ?? `synthesis-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  return path.join(runsDir(), name);
}

type FolderState = 'fresh' | 'resume' | 'finished';

/** What differs between the run asked for and the folder's, in words: data, model, options (names). */
function differences(a: RunConfig, b: RunConfig): string[] {
  const opts: string[] = [];
  const pa = a.parameters as unknown as Record<string, unknown>;
  const pb = (b.parameters ?? {}) as unknown as Record<string, unknown>;
  // both sides' keys: an optional parameter (generateQueries) may be on one side only
  for (const k of new Set([...Object.keys(pa), ...Object.keys(pb)])) if (JSON.stringify(pa[k]) !== JSON.stringify(pb[k])) opts.push(k);
  const out: string[] = [];
  if (JSON.stringify(a.inputs) !== JSON.stringify(b.inputs)) out.push('data');
  if (JSON.stringify(a.models) !== JSON.stringify(b.models)) out.push('model');
  if (opts.length) out.push(`options (${opts.join(', ')})`);
  // the same data, models and options under another key: the known positives differ, or the
  // recorded key itself was edited or damaged
  return out.length ? out : ['known positives, or the run key recorded in config.json (edited or damaged)'];
}

/**
 * What the folder holds for this synthesis: nothing yet (fresh), a run of the same fingerprint to
 * resume or return (resume / finished). The other command's run folder or a folder of other files
 * is refused (ForeignFolderError), even with restart. Anything of ours that cannot be resumed — a
 * damaged config.json, another format version, another synthesis — is a RunError naming the file
 * and the way out; `restart` discards the folder's run state in every case, `overwrite` whenever it
 * cannot be resumed.
 */
async function folderState(folder: string, config: RunConfig, o: { overwrite: boolean; restart: boolean; csv: boolean }): Promise<FolderState> {
  const cfgFile = path.join(folder, RUN_FILES.config);
  const hasConfig = await exists(cfgFile);
  if (!hasConfig && !(await exists(path.join(folder, RUN_FILES.status)))) {
    const entries = (await fs.promises.readdir(folder)).filter((e) => e !== RUN_FILES.lock && !e.endsWith('.tmp'));
    if (entries.length) throw foreign(folder, 'synthesis', `is not empty and is not a synthesis run folder (no ${RUN_FILES.config})`);
    return 'fresh';
  }
  try {
    const state = await resumeState(folder, cfgFile, hasConfig, config, o.csv);
    if (!o.restart) return state;
  } catch (e) {
    if (e instanceof ForeignFolderError || !(e instanceof RunError) || !(o.restart || o.overwrite)) throw e;
  }
  await clearRun(folder);
  return 'fresh';
}

/** The state of a folder of ours that holds this very synthesis; RunErrors for everything else. */
async function resumeState(folder: string, cfgFile: string, hasConfig: boolean, config: RunConfig, csv: boolean): Promise<FolderState> {
  const status = await readStatus(folder, 'synthesis', { tolerateDamaged: true });
  if (!hasConfig) throw runFileError(cfgFile, 'is missing (the folder has a status.json): the run folder is damaged');
  const old = await readJson<RunConfig & { format?: unknown; kind?: unknown }>(cfgFile);
  if (!old || typeof old !== 'object' || Array.isArray(old)) throw runFileError(cfgFile, 'damaged: not a JSON object');
  if (old.kind !== undefined && old.kind !== 'synthesis') throw foreign(cfgFile, 'synthesis', `is the config.json of a ${String(old.kind)} run`);
  if (old.format === undefined) {
    if (typeof old.key === 'string') throw runFileError(cfgFile, `written by an older synthtune (run-folder format 1, raw checkpoint files; this version reads format ${RUN_FORMAT})`);
    throw foreign(cfgFile, 'synthesis', 'is not the config.json of a synthesis run (no key, no format)');
  }
  if (old.format !== RUN_FORMAT) throw runFileError(cfgFile, `written in run-folder format ${JSON.stringify(old.format)}, this synthtune reads format ${RUN_FORMAT}`);
  if (old.key !== config.key) throw runFileError(cfgFile, `holds another synthesis run (differs in: ${differences(config, old).join('; ')})`);
  // a deleted output (or a CSV asked for now) is written again from the checkpoints
  const outputs = [RUN_FILES.train, ...(csv ? [RUN_FILES.csv] : [])];
  for (const f of outputs) if (!(await exists(path.join(folder, f)))) return 'resume';
  return status?.state === 'FINISHED' ? 'finished' : 'resume';
}

async function clearRun(folder: string): Promise<void> {
  await clearFolder(folder, [RUN_FILES.lock]);
}

type Release = () => Promise<void>;

/** Loads models given by reference (folders, hub ids, presets); objects and 'bm25' pass through. */
async function resolveModels(o: SynthesizeOptions): Promise<{ miner: MinerSpec[]; scorer: ScorerSpec; releases: Release[] }> {
  const preset = o.models !== undefined ? await resolvePreset(o.models) : undefined;
  const minerRefs = o.miner ?? preset?.relationMiner;
  const scorerRef = o.scorer ?? preset?.crossEncoder;
  if (minerRefs === undefined) throw new InputTypeError('synthesize needs a miner (or a models preset)');
  if (scorerRef === undefined) throw new InputTypeError('synthesize needs a scorer (or a models preset)');
  const releases: Release[] = [];
  const miner: MinerSpec[] = [];
  try {
    for (const ref of Array.isArray(minerRefs) ? minerRefs : [minerRefs]) {
      const m = await loadMiner(ref, { modelOptions: o.modelOptions, log: o.log });
      if (m.release) releases.push(m.release);
      miner.push(m.miner);
    }
    const s = await loadScorer(scorerRef, { modelOptions: o.modelOptions, log: o.log });
    if (s.release) releases.push(s.release);
    return { miner, scorer: s.scorer, releases };
  } catch (e) {
    await releaseAll(releases);
    throw e;
  }
}

async function releaseAll(releases: Release[]): Promise<void> {
  for (const r of releases) await r().catch(() => undefined);
}

/**
 * doc2query pseudo-queries when generateQueries.generator is set: the generator runs on the
 * documents the synthesis uses, with a seed per batch, so a rerun (resume) generates the same.
 */
async function doc2query(opts: SynthesizeOptions): Promise<PlanInput['pregenerated'] | undefined> {
  const params = resolveParams(opts);
  const g = params.generateQueries;
  if (!g?.generator) return undefined;
  const { loadQueryGenerator } = await import('../models/seq2seq.js');
  const gen = await loadQueryGenerator(g.generator.ref, { ...(opts.modelOptions as object), log: opts.log });
  try {
    const docs = synthesisDocuments(opts, params);
    const t0 = Date.now();
    const queries = await generateModelQueries(docs, gen, {
      perDocument: g.perDocument, seed: params.seed, sampleDocuments: g.sampleDocuments ?? undefined,
      maxNewTokens: g.generator.maxNewTokens, topK: g.generator.topK, topP: g.generator.topP, temperature: g.generator.temperature,
      onProgress: (done, total) => opts.log?.(`doc2query: ${done}/${total} documents`),
    });
    opts.log?.(`doc2query: ${queries.length} queries from ${gen.modelDir} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return { queries, generatorId: await modelIdentity(gen.modelDir) };
  } finally {
    await gen.release();
  }
}

/** Starts (or resumes) a synthesis run; resolves once the run folder is claimed. */
export async function synthesize(opts: SynthesizeOptions): Promise<Run> {
  resolveParams(opts); // cheap argument errors before any model is loaded
  const models = await resolveModels(opts);
  let p: ReturnType<typeof plan>;
  try {
    // the similarity the dense miners declare, unless the caller chose one (cosine when they disagree or say nothing)
    const declared = [...new Set(models.miner.flatMap((m) => (typeof m === 'object' && m.similarity ? [m.similarity] : [])))];
    const similarity = opts.similarity ?? (declared.length === 1 ? declared[0] : undefined);
    const pregenerated = await doc2query(opts);
    p = plan({ ...opts, ...models, similarity, ...(pregenerated ? { pregenerated } : {}) });
  } catch (e) {
    await releaseAll(models.releases);
    throw e;
  }
  const run = await start(opts, p).catch(async (e) => {
    await releaseAll(models.releases);
    throw e;
  });
  if (models.releases.length) {
    const done = run.wait().catch(() => undefined);
    void done.then(() => releaseAll(models.releases));
  }
  return run;
}

/** Lines and SHA-256 of a file (streamed). */
async function digestLines(file: string): Promise<{ lines: number; sha256: string }> {
  const h = createHash('sha256');
  let lines = 0;
  for await (const chunk of fs.createReadStream(file)) {
    h.update(chunk as Buffer);
    for (const b of chunk as Buffer) if (b === 10) lines++;
  }
  return { lines, sha256: h.digest('hex') };
}

/**
 * A finished run is returned as it is only if its train.jsonl is the one it wrote: same SHA-256
 * (or, for runs written before the checksum, the same number of lines as its examples). A deleted
 * train.jsonl makes the run resume (folderState), which writes it again from the checkpoints.
 */
async function checkFinishedTrain(folder: string): Promise<void> {
  const status = await readStatus(folder, 'synthesis');
  if (!status) return;
  const how = `delete it to have it written again from the run's checkpoints (${path.join(folder, RUN_FILES.checkpoints)}), use --restart to start over, or another --out`;
  const file = path.join(folder, RUN_FILES.train);
  const got = await digestLines(file).catch(() => null);
  if (got && (status.trainSha256 ? got.sha256 !== status.trainSha256 : status.examples !== undefined && got.lines !== status.examples)) {
    throw runFileError(file, `holds ${got.lines} line(s) but the finished run wrote ${String(status.examples)} example(s)${status.trainSha256 ? ` (its SHA-256 differs from the one in ${RUN_FILES.status})` : ''}: it was changed or truncated after the run finished`, how);
  }
  const csv = path.join(folder, RUN_FILES.csv);
  const gotCsv = typeof status.csvSha256 === 'string' ? await digestLines(csv).catch(() => null) : null;
  if (gotCsv && gotCsv.sha256 !== status.csvSha256) throw runFileError(csv, `its SHA-256 differs from the one the finished run recorded in ${RUN_FILES.status}: it was changed or truncated after the run finished`, how);
}

async function start(opts: SynthesizeOptions, p: ReturnType<typeof plan>): Promise<Run> {
  const folder = outFolder(opts);
  const name = opts.name ?? path.basename(folder);
  await fs.promises.mkdir(folder, { recursive: true });
  const progress = new Progress(opts.progress ?? 'none');
  const writer = new RunWriter(folder);
  await writer.lock();
  let state: FolderState;
  try {
    state = await folderState(folder, p.config, { overwrite: opts.overwrite ?? false, restart: opts.restart ?? false, csv: opts.csv ?? false });
  } catch (e) {
    await writer.unlock();
    throw e;
  }
  if (state === 'finished') {
    try {
      await checkFinishedTrain(folder);
    } finally {
      await writer.unlock();
    }
    return getRun(folder);
  }
  await removeTempsRecursive(folder);
  if (state === 'fresh') {
    await writeJsonAtomic(path.join(folder, RUN_FILES.config), { format: RUN_FORMAT, kind: 'synthesis', name, ...p.config, createdAt: new Date().toISOString() });
    await writer.setStatus({ status: 'CREATED', progress: 0 });
  } else {
    const dropped = await writer.loadLogs();
    if (dropped) await writer.log('warn', `dropped ${dropped} damaged line(s) of ${RUN_FILES.logs}`, { dropped });
  }
  // deterministic, so rewriting it on a resume gives the same bytes (and repairs a kill before it was written)
  if (p.generated.length) await writeAtomic(path.join(folder, RUN_FILES.generatedQueries), p.generated.map((g) => JSON.stringify(g) + '\n'));
  const completion = runInBackground(writer, progress, p, opts, state === 'resume');
  return new Run(folder, name, completion);
}

async function runInBackground(writer: RunWriter, progress: Progress, p: ReturnType<typeof plan>, opts: SynthesizeOptions, resumed: boolean): Promise<void> {
  try {
    await writer.setStatus({ status: 'STARTED', progress: 0, error: undefined });
    const { numRelations, index } = p.params;
    await writer.log('info', resumed ? 'resumed synthesis from checkpoints' : 'started synthesis', { queries: p.qids.length, documents: p.docIds.length, numRelations, index, models: p.config.models });
    progress.message(`${resumed ? 'resuming' : 'starting'}: ${p.qids.length} queries, ${p.docIds.length} documents, ${numRelations} relations`);
    if (p.generated.length) {
      const byMethod: Record<string, number> = {};
      for (const g of p.generated) byMethod[g.method] = (byMethod[g.method] ?? 0) + 1;
      await writer.log('info', `generated ${p.generated.length} pseudo-queries from the corpus`, { generated: p.generated.length, byMethod, file: RUN_FILES.generatedQueries });
    }
    const advice = dataGuidance(p.qids.length * (numRelations - 1), p.qids.length, p.scorer === 'bm25' ? 'bm25' : 'cross-encoder');
    if (advice) {
      await writer.log('warn', advice, { examples: p.qids.length * (numRelations - 1), queries: p.qids.length, fewExamples: FEW_EXAMPLES, fewQueries: FEW_QUERIES });
      progress.message(`warning: ${advice}`);
    }
    const n = await execute({ plan: p, writer, progress, hook: opts.onCheckpoint, ckpt: writer.file(RUN_FILES.checkpoints) }, opts.csv ?? false);
    const { sha256 } = await digestLines(writer.file(RUN_FILES.train));
    const csvSha256 = opts.csv ? (await digestLines(writer.file(RUN_FILES.csv))).sha256 : undefined;
    await writer.setStatus({ status: 'FINISHED', stage: 'done', progress: 1, examples: n, trainSha256: sha256, csvSha256, done: undefined, total: undefined });
    progress.message(`wrote ${n} examples to ${writer.file(RUN_FILES.train)}`);
  } catch (e) {
    const msg = (e as Error)?.message ?? String(e);
    await writer.log('error', msg, { stack: (e as Error)?.stack });
    await writer.setStatus({ status: 'FAILED', error: msg });
    throw e;
  } finally {
    await writer.flush().catch(() => undefined);
    await writer.unlock();
  }
}
