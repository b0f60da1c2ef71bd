// Model updates from operators' feedback, the station's side: what an update would learn from (preview), the
// update itself as a job in its own worker thread (progress events, cancel), the child's registration together
// with its lineage record (one transaction), activation and discard (recorded with who did it), a model's
// lineage, and the lineage chain's verification (including each child folder's lineage.json).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { basename, join } from 'node:path';
import {
  StationError,
  type ChainResult,
  type Lineage,
  type LineageEntry,
  type ModelComparison,
  type ModelUpdate,
  type Requests,
  type UpdatePreview,
} from '../../../common/api';
import { FEATURE_METHODS, type Method } from '../../../ml';
import { readModelMeta } from '../../io/model-store';
import type { ImageRef, UpdateModelResult } from '../../tasks/update-model';
import type { ArtifactStore } from '../artifacts';
import type { ModelRow, StationDatabase } from '../database';
import { workerUrl } from '../scorer-pool';
import type { FromUpdateWorker, ToUpdateWorker } from '../update-worker';
import { collectFeedback, type Feedback } from './feedback';
import { goodSets, inspectionImage } from './images';
import { LineageStore, type LineageImage, type LineageRecord } from './store';
import { lineageEntry, verifyLineage, type CreatedDetails } from './records';

// Kept importable from here (the report and the CLI read records through './records', which loads no ML).
export { lineageEntry, verifyLineage, type CreatedDetails } from './records';

export interface ModelUpdatesOptions {
  db: StationDatabase;
  artifacts: ArtifactStore;
  modelsDir: string;
  backend?: string;
  emit: (u: ModelUpdate) => void;
  /** Limits for the comparison's past images (tests use small ones). */
  maxDefects?: number;
  maxPassed?: number;
}

interface Job {
  update: ModelUpdate;
  worker?: Worker;
}

const methodOf = (m: string): ModelUpdate['method'] =>
  FEATURE_METHODS.includes(m as Method) ? 'bank-extend' : 'fine-tune';

export class ModelUpdates {
  readonly lineage: LineageStore;
  private readonly jobs = new Map<number, Job>();
  private nextJob = 1;

  constructor(private readonly o: ModelUpdatesOptions) {
    this.lineage = new LineageStore(o.db);
  }

  // ---------------------------------------------------------------------------------------- preview

  private parentOf(lineId: number): {
    line: NonNullable<ReturnType<StationDatabase['getLine']>>;
    parent?: ModelRow;
  } {
    const line = this.o.db.getLine(lineId);
    if (!line || line.removedAt) throw new StationError(`line ${lineId} not found`, 'not-found');
    return { line, parent: line.modelId === null ? undefined : this.o.db.getModel(line.modelId) };
  }

  private feedback(req: Requests['previewModelUpdate']): Feedback {
    try {
      return collectFeedback(this.o.db, {
        lineId: req.lineId,
        from: req.from && new Date(req.from).toISOString(),
        to: req.to && new Date(req.to).toISOString(),
        inspectionIds: req.inspectionIds,
        includeDisputed: req.includeDisputed,
        maxDefects: this.o.maxDefects,
        maxPassed: this.o.maxPassed,
      });
    } catch (e) {
      throw new StationError((e as Error).message, 'invalid');
    }
  }

  preview(req: Requests['previewModelUpdate']): UpdatePreview {
    const { line, parent } = this.parentOf(req.lineId);
    const f = this.feedback(req);
    const added = f.falseAlarms.filter((x) => x.role === 'added').length;
    const blocked = !parent
      ? `${line.name} has no model to update`
      : !added
        ? 'no false alarms to learn from in this selection'
        : null;
    return {
      lineId: line.id,
      lineName: line.name,
      parent: parent
        ? { id: parent.id, name: parent.name, version: parent.version, method: parent.method }
        : null,
      method: parent ? methodOf(parent.method) : null,
      from: req.from ?? null,
      to: req.to ?? null,
      falseAlarms: f.falseAlarms.length,
      added,
      heldOut: f.falseAlarms.length - added,
      reviewers: f.reviewers,
      decidedFrom: f.decidedFrom,
      decidedTo: f.decidedTo,
      disputed: f.disputed.map((d) => ({
        inspectionId: d.inspectionId,
        filePath: d.filePath,
        decisions: d.decisions,
        included: d.included,
      })),
      excluded: f.excluded.map((e) => ({ inspectionId: e.inspectionId, reason: e.reason })),
      confirmedDefects: f.defects.length,
      passedParts: f.passed.length,
      maxImages: f.maxImages,
      blocked,
    };
  }

  // ----------------------------------------------------------------------------------------- start

  /** The first free "<parent>-u<n>" (folder and registry). */
  private childName(parent: ModelRow): string {
    const base = parent.name.replace(/-u\d+$/, '');
    for (let n = 1; ; n++) {
      const name = `${base}-u${n}`;
      if (
        !existsSync(join(this.o.modelsDir, name)) &&
        ![...this.jobs.values()].some((j) => j.update.name === name && j.update.state === 'running')
      )
        return name;
    }
  }

  /** Start an update; `folder` (the CLI's --out) puts the child elsewhere than the station's models/. */
  async start(req: Requests['startModelUpdate'], operator: string, folder?: string): Promise<ModelUpdate> {
    const { line, parent } = this.parentOf(req.lineId);
    if (!parent) throw new StationError(`${line.name} has no model to update`, 'refused');
    const name = folder ? basename(folder) : (req.name ?? this.childName(parent));
    const out = folder ?? join(this.o.modelsDir, name);
    if (
      existsSync(out) ||
      [...this.jobs.values()].some((j) => j.update.name === name && j.update.state === 'running')
    )
      throw new StationError(
        `a model named ${name} already exists: a child is always a new model`,
        'refused',
      );
    const f = this.feedback(req);
    if (parent.threshold === null && line.thresholdOverride === null)
      throw new StationError(
        `${parent.name} has no threshold to compare a child with: calibrate it first`,
        'refused',
      );
    const parentMeta = await readModelMeta(parent.folder).catch((e: Error) => {
      throw new StationError(`the parent model cannot be read: ${e.message}`, 'invalid');
    });

    // Every image as the parent sees it; a false alarm whose image cannot be had is left out, and said so.
    const images: LineageImage[] = [];
    const refs = {
      added: [] as ImageRef[],
      heldOut: [] as ImageRef[],
      defects: [] as ImageRef[],
      passed: [] as ImageRef[],
    };
    for (const fa of f.falseAlarms) {
      const got = await inspectionImage(this.o.db, this.o.artifacts, parentMeta, fa);
      const key = 'key' in got ? got.key : null;
      images.push({
        inspectionId: fa.inspectionId,
        decisionId: fa.decisionId,
        sha256: fa.sha256,
        imageKey: key,
        role: key ? fa.role : 'excluded',
        note: key ? fa.note : `image not available: ${(got as { reason: string }).reason}`,
      });
      if (key)
        refs[fa.role === 'added' ? 'added' : 'heldOut'].push({
          id: fa.inspectionId,
          file: this.o.artifacts.pathOf(key),
          asSeen: true,
        });
    }
    for (const d of f.disputed)
      if (!d.included)
        images.push({
          inspectionId: d.inspectionId,
          decisionId: d.decisionId,
          sha256: d.sha256,
          imageKey: null,
          role: 'disputed',
          note: `operators disagree: ${d.decisions.map((x) => `${x.operator} ${x.decision}`).join(', ')}`,
        });
    for (const e of f.excluded)
      if (e.decisionId !== null && !images.some((i) => i.inspectionId === e.inspectionId))
        images.push({
          inspectionId: e.inspectionId,
          decisionId: e.decisionId,
          sha256: e.sha256,
          imageKey: null,
          role: 'excluded',
          note: e.reason,
        });
    if (!refs.added.length)
      throw new StationError('no false alarms to learn from in this selection', 'refused');
    for (const [list, past] of [
      [refs.defects, f.defects],
      [refs.passed, f.passed],
    ] as const)
      for (const p of past) {
        const got = await inspectionImage(this.o.db, this.o.artifacts, parentMeta, p);
        if ('key' in got)
          list.push({ id: p.inspectionId, file: this.o.artifacts.pathOf(got.key), asSeen: true });
      }
    const old = await goodSets(this.o.db, this.lineage, this.o.artifacts, parent.id);

    const requestedAt = new Date().toISOString();
    const used = images.filter((i) => i.role === 'added' || i.role === 'held-out');
    const reviewers = [
      ...new Set(
        f.falseAlarms
          .filter((x) => used.some((u) => u.inspectionId === x.inspectionId))
          .flatMap((x) => x.reviewers),
      ),
    ].sort();
    const decided = f.falseAlarms
      .filter((x) => used.some((u) => u.inspectionId === x.inspectionId))
      .map((x) => x.decidedAt)
      .sort();
    const selection: CreatedDetails['selection'] = {
      from: req.from ?? null,
      to: req.to ?? null,
      inspectionIds: req.inspectionIds ?? null,
      added: refs.added.length,
      heldOut: refs.heldOut.length,
      disputed: images.filter((i) => i.role === 'disputed').length,
      excluded: images.filter((i) => i.role === 'excluded').length,
      reviewers,
      decidedFrom: decided[0] ?? null,
      decidedTo: decided.at(-1) ?? null,
    };
    // The child's own record of where it came from (its sha256 goes into the station's lineage record).
    const lineageJson = new TextEncoder().encode(
      JSON.stringify(
        {
          format: 'anomaly-station-lineage',
          formatVersion: 1,
          model: name,
          parent: { id: parent.id, name: parent.name, version: parent.version, folder: parent.folder },
          line: { id: line.id, name: line.name },
          requestedBy: operator,
          requestedAt,
          selection,
          images: [...images].sort((a, b) => a.inspectionId - b.inspectionId),
        },
        null,
        2,
      ),
    );

    const id = this.nextJob++;
    const update: ModelUpdate = {
      key: `job-${id}`,
      jobId: id,
      state: 'running',
      lineId: line.id,
      lineName: line.name,
      parentId: parent.id,
      parentName: parent.name,
      name,
      childId: null,
      lineageId: null,
      method: methodOf(parent.method),
      requestedBy: operator,
      requestedAt,
      finishedAt: null,
      progress: { phase: 'starting', done: 0, total: 0, epoch: null, epochs: null, etaSeconds: null },
      error: null,
      selection,
      bank: null,
      epochs: null,
      comparison: null,
      warnings: old.sets ? [] : [`the parent's good images cannot be read: ${old.reason}`],
    };
    const job: Job = { update };
    this.jobs.set(id, job);
    const start: ToUpdateWorker = {
      type: 'start',
      backend: this.o.backend,
      options: {
        parentDir: parent.folder,
        out,
        name,
        parentThreshold: (line.thresholdOverride ?? parent.threshold)!,
        added: refs.added,
        heldOut: refs.heldOut,
        old: old.sets,
        oldUnavailable: old.reason,
        defects: refs.defects,
        passed: refs.passed,
        maxBankGrowth: req.maxBankGrowth,
        epochs: req.epochs,
        lineage: lineageJson,
      },
    };
    this.launch(job, start, { out, images, lineageSha256: sha256(lineageJson), operator });
    return { ...update };
  }

  private launch(
    job: Job,
    start: ToUpdateWorker,
    rec: { out: string; images: LineageImage[]; lineageSha256: string; operator: string },
  ): void {
    const { url, execArgv } = workerUrl('update-worker');
    const w = new Worker(url, { execArgv, name: `model update ${job.update.name}` });
    job.worker = w;
    const u = job.update;
    const changed = () => this.o.emit({ ...u });
    let settled = false;
    const finish = (state: 'failed' | 'cancelled' | 'ready', error: string | null = null) => {
      if (settled) return;
      settled = true;
      u.state = state;
      u.error = error;
      u.progress = null;
      u.finishedAt = new Date().toISOString();
      job.worker = undefined;
      changed();
      void w.terminate();
    };
    w.on('message', (m: FromUpdateWorker) => {
      if (m.type === 'progress') {
        u.progress = m.progress;
        changed();
      } else if (m.type === 'warning') {
        u.warnings = [...u.warnings, m.text];
        changed();
      } else if (m.type === 'done') {
        try {
          this.register(u, m.result, rec);
          finish('ready');
        } catch (e) {
          finish('failed', `the child was made but could not be registered: ${(e as Error).message}`);
        }
      } else if (m.type === 'cancelled') finish('cancelled');
      else finish('failed', m.message);
    });
    w.on('error', (e) => finish('failed', e.message));
    w.on('exit', (code) => finish('failed', `update worker exited (code ${code})`));
    w.postMessage(start);
    changed();
  }

  /** The child and its lineage record in one durable transaction: a registered child always has its record. */
  private register(
    u: ModelUpdate,
    r: UpdateModelResult,
    rec: { out: string; images: LineageImage[]; lineageSha256: string; operator: string },
  ): void {
    const { db } = this.o;
    const record = db.transaction(() => {
      const child = db.registerModel({ folder: rec.out, meta: r.meta });
      const parent = db.getModel(u.parentId)!;
      const comparison: ModelComparison = {
        ...r.comparison,
        parent: { ...r.comparison.parent, modelId: parent.id },
        child: { ...r.comparison.child, modelId: child.id },
      };
      const details: CreatedDetails = {
        method: r.method,
        childName: child.name,
        childFolder: rec.out,
        childVersion: child.version,
        parentName: parent.name,
        parentVersion: parent.version,
        lineageSha256: rec.lineageSha256,
        requestedAt: u.requestedAt,
        selection: { ...(u.selection as CreatedDetails['selection']) },
        bank: r.bank,
        epochs: r.epochs,
        comparison,
        warnings: [...u.warnings.filter((w) => !r.warnings.includes(w)), ...r.warnings],
        seconds: r.seconds,
      };
      return this.lineage.append({
        kind: 'created',
        modelId: child.id,
        parentModelId: parent.id,
        lineId: u.lineId,
        operator: rec.operator,
        details: details as unknown as Record<string, unknown>,
        images: rec.images,
      });
    }, true);
    Object.assign(u, { ...this.fromRecord(record), jobId: u.jobId });
  }

  cancel(jobId: number): ModelUpdate {
    const job = this.jobs.get(jobId);
    if (!job) throw new StationError(`model update job ${jobId} not found`, 'not-found');
    if (!job.worker) throw new StationError(`model update job ${jobId} is ${job.update.state}`, 'refused');
    const m: ToUpdateWorker = { type: 'cancel' };
    job.worker.postMessage(m);
    return { ...job.update };
  }

  // ------------------------------------------------------------------------------------ list, records

  private fromRecord(r: LineageRecord): ModelUpdate {
    const d = r.details as unknown as CreatedDetails;
    const status = this.lineage.status(r.modelId);
    const job = [...this.jobs.values()].find((j) => j.update.childId === r.modelId);
    return {
      key: `model-${r.modelId}`,
      jobId: job?.update.jobId ?? null,
      state: status === 'activated' ? 'activated' : status === 'discarded' ? 'discarded' : 'ready',
      lineId: r.lineId!,
      lineName: this.o.db.getLine(r.lineId!)?.name ?? `#${r.lineId}`,
      parentId: r.parentModelId!,
      parentName: d.parentName,
      name: d.childName,
      childId: r.modelId,
      lineageId: r.id,
      method: d.method,
      requestedBy: r.operator,
      requestedAt: d.requestedAt,
      finishedAt: r.at,
      progress: null,
      error: null,
      selection: { ...d.selection },
      bank: d.bank,
      epochs: d.epochs,
      comparison: d.comparison,
      warnings: d.warnings,
    };
  }

  /** Updates of this session that did not make a child (running, failed, cancelled), then every child made. */
  list(): ModelUpdate[] {
    const open = [...this.jobs.values()]
      .filter((j) => j.update.childId === null)
      .map((j) => ({ ...j.update }));
    const made = this.lineage
      .records()
      .filter((r) => r.kind === 'created')
      .map((r) => this.fromRecord(r));
    return [...open.reverse(), ...made.reverse()];
  }

  /** The update that made `childId` (after a discard or an activation). */
  updateOf(childId: number): ModelUpdate {
    const r = this.lineage.createdRecord(childId);
    if (!r) throw new StationError(`model ${childId} was not made by a model update`, 'not-found');
    return this.fromRecord(r);
  }

  /**
   * Put a model on a line and record who did it, in one durable transaction (the caller restarts the line).
   * A threshold override, set on the old model's scores, is cleared unless kept.
   */
  activate(req: Requests['activateModel'], operator: string): void {
    const { db } = this.o;
    const line = db.getLine(req.lineId);
    if (!line || line.removedAt) throw new StationError(`line ${req.lineId} not found`, 'not-found');
    if (!db.getModel(req.modelId)) throw new StationError(`model ${req.modelId} not found`, 'not-found');
    if (line.modelId === req.modelId)
      throw new StationError(`${line.name} already uses model ${req.modelId}`, 'refused');
    if (this.lineage.status(req.modelId) === 'discarded')
      throw new StationError(`model ${req.modelId} was discarded`, 'refused');
    const clear = !req.keepThresholdOverride && line.thresholdOverride !== null;
    db.transaction(() => {
      db.updateLine(line.id, { modelId: req.modelId, ...(clear ? { thresholdOverride: null } : {}) });
      this.lineage.append({
        kind: 'activated',
        modelId: req.modelId,
        lineId: line.id,
        operator,
        details: {
          previousModelId: line.modelId,
          thresholdOverrideCleared: clear ? line.thresholdOverride : null,
          // Undo: the line goes back to an ancestor of the model it had.
          undo:
            line.modelId !== null &&
            this.lineage.ancestry(line.modelId).some((r) => r.parentModelId === req.modelId),
        },
      });
    }, true);
    if (this.lineage.status(req.modelId)) this.o.emit(this.updateOf(req.modelId));
  }

  discard(modelId: number, operator: string, inUse: boolean): ModelUpdate {
    const status = this.lineage.status(modelId);
    if (status === null)
      throw new StationError(`model ${modelId} was not made by a model update`, 'not-found');
    if (status !== 'candidate')
      throw new StationError(
        `model ${modelId} was already ${status}; only a child nobody used is discarded`,
        'refused',
      );
    if (inUse) throw new StationError(`model ${modelId} is in use on a line`, 'refused');
    this.lineage.append({ kind: 'discarded', modelId, operator, details: {} });
    const u = this.updateOf(modelId);
    this.o.emit(u);
    return u;
  }

  /** Lineage facts for the model registry. */
  summary(modelId: number): {
    parentId: number | null;
    generation: number;
    lineageStatus: 'candidate' | 'activated' | 'discarded' | null;
  } {
    const ancestry = this.lineage.ancestry(modelId);
    return {
      parentId: ancestry[0]?.parentModelId ?? null,
      generation: ancestry.length + 1,
      lineageStatus: this.lineage.status(modelId),
    };
  }

  entry(r: LineageRecord): LineageEntry {
    return lineageEntry(this.o.db, this.lineage, r);
  }

  lineageOf(modelId: number): Lineage {
    const model = this.o.db.getModel(modelId);
    if (!model) throw new StationError(`model ${modelId} not found`, 'not-found');
    const chain = this.lineage.ancestry(modelId).map((r) => this.entry(r));
    const rootId = chain.at(-1)?.parentId ?? modelId;
    const root = this.o.db.getModel(rootId) ?? model;
    return {
      modelId,
      generation: chain.length + 1,
      chain,
      events: this.lineage.records(modelId).map((r) => this.entry(r)),
      root: {
        id: root.id,
        name: root.name,
        version: root.version,
        dataDir: root.meta.training?.dataDir ?? null,
      },
      audit: this.verify(),
    };
  }

  verify(): ChainResult {
    return verifyLineage(this.lineage);
  }

  /** Station shutdown: running updates stop; nothing of them is kept. */
  async close(): Promise<void> {
    const workers = [...this.jobs.values()].flatMap((j) => (j.worker ? [j.worker] : []));
    for (const w of workers) w.removeAllListeners();
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
