// The station core: lines (watched folder + model), the inspection queue, scoring workers, training jobs, the
// database, and the StationApi every shell drives. Plain Node: no Electron import, so the CLI, the HTTP
// server and the tests run exactly this code.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { basename, join, resolve, sep } from 'node:path';
import {
  PRODUCT_NAME,
  StationError,
  THROUGHPUT_BUCKET_MS,
  type AuditResult,
  type CalibrationData,
  type Evaluation,
  type ExportedReport,
  type ReportFileData,
  type Decision,
  type Inspection,
  type LineSummary,
  type Lineage,
  type ModelSummary,
  type ModelUpdate,
  type MqttOutputSummary,
  type OpcuaOutputSummary,
  type Operator,
  type OutputSummary,
  type Requests,
  type Responses,
  type StationApi,
  type StationEvent,
  type StationShell,
  type TrainingJob,
} from '../../common/api';
import { CALIBRATION_SCORES_FILE, readModelMeta } from '../io/model-store';
import { ArtifactStore } from './artifacts';
import {
  DuplicateInspectionError,
  openDatabase,
  type DecisionRow,
  type InspectionRow,
  type LineRow,
  type ModelRow,
  type StationDatabase,
} from './database';
import type { ReportSummary } from '../../common/report';
import { localDate, reportSummary, systemTimeZone, writeReport, type ReportOptions } from '../reports';
import type { EnginePreference } from './engine-choice';
import {
  inspect,
  isStorageFailure,
  readCameraFile,
  renderOverlay,
  StorageError,
  type InspectionRecord,
  type LineContext,
  type StageTimes,
} from './inspector';
import { LineWatcher, type WatchStatus } from './line-watcher';
import { Outputs } from './outputs/outputs';
import { ModelUpdates } from './lineage/updates';
import type { EvaluationRequest, FromEvaluationWorker } from './evaluation-worker';
import { ScorerPool, ScorerUnavailableError, workerUrl } from './scorer-pool';
import { TrainingJobs } from './training-jobs';

/** Images a scoring worker takes at once. Twice as many are kept in flight, so one batch is decoded while
 * the previous one scores (with only one batch in flight the worker would idle during decode and writing). */
const SCORE_BATCH = 16;

export interface StationOptions {
  dataDir: string;
  shell?: StationShell | 'cli';
  engine?: EnginePreference;
  /** ONNX Runtime threads per scoring worker. Default: half the cores (at least 1): the other half decodes,
   * hashes and writes PNGs, which on a 2-core machine already costs a quarter of the model's rate. */
  threads?: number;
  /** tfjs backend for workers (default: the best available). */
  backend?: string;
  /** Inspections in flight at once (decoded images held in memory): bounds memory in a burst. Default 32. */
  concurrency?: number;
  /** awaitWriteFinish window for camera files (ms). Default 400. */
  settleMs?: number;
  /** Retry delay after a storage failure (ms). Default 5000. */
  retryMs?: number;
  version?: string;
  /** How the shell describes itself in Settings, e.g. "Electron 45.4.1 (Chrome 142, Node 24.9.0)". */
  shellDetail?: string;
  /** The station's name on audit reports. Default: the machine's host name. */
  stationName?: string;
}

interface Queued {
  lineId: number;
  file: string;
  receivedAt: Date;
}

interface LineRuntime {
  row: LineRow;
  watcher?: LineWatcher;
  status: WatchStatus | 'paused' | 'removed';
  statusText: string;
  context?: Promise<LineContext>;
  engine: string | null;
  engineReason: string | null;
  backlog: number;
  backlogTimer?: NodeJS.Timeout;
}

export class Station implements StationApi {
  readonly dataDir: string;
  readonly db: StationDatabase;
  readonly artifacts: ArtifactStore;
  readonly modelsDir: string;
  readonly reportsDir: string;
  private readonly pool: ScorerPool;
  private readonly jobs: TrainingJobs;
  /** MQTT and OPC UA: fed from the outbox that the database fills with each inspection and decision. */
  readonly outputs: Outputs;
  /** Children of models made from operators' false alarms, and their hash-chained lineage (lineage/). */
  readonly updates: ModelUpdates;
  private readonly events = new EventEmitter();
  private readonly lines = new Map<number, LineRuntime>();
  private readonly queue: Queued[] = [];
  /** lineId + path of every file queued or in flight: a burst of watcher events queues a file once. */
  private readonly pending = new Set<string>();
  private active = 0;
  private operator: Operator | null = null;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private readonly evaluations = new Set<Worker>();
  /** Cumulative stage times, for the station benchmark. */
  readonly stageTimes: StageTimes = { read: 0, decode: 0, score: 0, write: 0 };

  private constructor(private readonly o: StationOptions) {
    this.dataDir = resolve(o.dataDir);
    mkdirSync(this.dataDir, { recursive: true });
    this.modelsDir = join(this.dataDir, 'models');
    this.reportsDir = join(this.dataDir, 'reports');
    mkdirSync(this.modelsDir, { recursive: true });
    this.db = openDatabase(join(this.dataDir, 'station.db'));
    this.artifacts = new ArtifactStore(join(this.dataDir, 'images'));
    this.pool = new ScorerPool({
      engine: o.engine ?? 'auto',
      threads: o.threads ?? Math.max(1, Math.floor(availableParallelism() / 2)),
      maxBatch: SCORE_BATCH,
      backend: o.backend,
    });
    this.events.setMaxListeners(100);
    this.jobs = new TrainingJobs({
      db: this.db,
      modelsDir: this.modelsDir,
      backend: o.backend,
      onUpdate: (job) => this.emit({ type: 'training-progress', job }),
      onModel: (folder) => this.registerModelFolder(folder),
    });
    this.updates = new ModelUpdates({
      db: this.db,
      artifacts: this.artifacts,
      modelsDir: this.modelsDir,
      backend: o.backend,
      emit: (update) => this.emit({ type: 'model-update', update }),
    });
    this.outputs = new Outputs({
      db: this.db,
      dataDir: this.dataDir,
      stationName: o.stationName,
      emit: (e) => this.emit(e),
      line: (id) => (this.db.getLine(id) ? this.lineSummary(id) : undefined),
      lines: () => this.db.listLines().map((l) => this.lineSummary(l.id)),
    });
  }

  /** Open (or create) the station in `dataDir`, start every active line, and catch up. */
  static async open(o: StationOptions): Promise<Station> {
    const s = new Station(o);
    s.jobs.markInterrupted();
    for (const row of s.db.listLines()) s.startLine(row);
    await s.outputs.start();
    return s;
  }

  // ---------- events ----------

  onEvent(listener: (e: StationEvent) => void): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }

  private emit(e: StationEvent): void {
    this.events.emit('event', e);
    this.outputs.onStationEvent(e);
  }

  // ---------- lines ----------

  private lineKey(lineId: number, file: string): string {
    return `${lineId}\0${file}`;
  }

  private startLine(row: LineRow): void {
    const rt: LineRuntime = {
      row,
      status: row.state === 'paused' ? 'paused' : 'starting',
      statusText: row.state === 'paused' ? 'paused' : 'starting',
      engine: null,
      engineReason: null,
      backlog: 0,
    };
    this.lines.set(row.id, rt);
    if (row.state === 'paused') return;
    rt.context = this.loadContext(rt);
    rt.watcher = new LineWatcher({
      folder: row.folder,
      recursive: row.recursive,
      exclude: [this.dataDir],
      settleMs: this.o.settleMs,
      onFile: (file) => this.enqueue(row.id, file),
      onStatus: (status, text) => {
        // A model that failed to load keeps the line in error, whatever the folder does.
        if (rt.status === 'error' && status === 'watching' && rt.statusText.startsWith('model')) return;
        this.setLineStatus(rt, status, text);
      },
    });
    rt.watcher.start();
  }

  /** Load (or reload) a line's model in its scoring worker; the line says which engine, or why it failed. */
  private loadContext(rt: LineRuntime): Promise<LineContext> {
    const p = this.lineContext(rt.row).then(
      (ctx) => {
        rt.engine = ctx.model.engine;
        rt.engineReason = ctx.model.engineReason;
        if (rt.status === 'starting' && rt.watcher?.state === 'watching') {
          rt.status = 'watching';
          rt.statusText = 'watching';
        }
        this.emit({ type: 'line-status', line: this.lineSummary(rt.row.id) });
        return ctx;
      },
      (e: Error) => {
        this.setLineStatus(rt, 'error', `model cannot be loaded: ${e.message}`);
        throw e;
      },
    );
    p.catch(() => undefined);
    return p;
  }

  private async lineContext(row: LineRow): Promise<LineContext> {
    const model = row.modelId === null ? undefined : this.db.getModel(row.modelId);
    if (!model) throw new Error(`line ${row.name} has no registered model`);
    const scorer = this.pool.get(model.folder);
    const info = await scorer.ready;
    return {
      lineId: row.id,
      modelId: model.id,
      modelVersion: model.version,
      thresholdOverride: row.thresholdOverride,
      scorer,
      model: info,
    };
  }

  private async stopLine(id: number): Promise<void> {
    const rt = this.lines.get(id);
    if (!rt) return;
    this.lines.delete(id);
    clearTimeout(rt.backlogTimer);
    await rt.watcher?.close();
  }

  private async restartLine(id: number): Promise<LineSummary> {
    await this.stopLine(id);
    const row = this.db.getLine(id);
    if (!row) throw new StationError(`line ${id} not found`, 'not-found');
    this.startLine(row);
    return this.lineSummary(id);
  }

  private setLineStatus(rt: LineRuntime, status: LineRuntime['status'], text: string): void {
    rt.status = status;
    rt.statusText = text;
    if (status === 'error')
      this.emit({ type: 'error', message: `${rt.row.name}: ${text}`, lineId: rt.row.id });
    this.emit({ type: 'line-status', line: this.lineSummary(rt.row.id) });
  }

  private lineSummary(id: number): LineSummary {
    const row = this.db.getLine(id);
    if (!row) throw new StationError(`line ${id} not found`, 'not-found');
    const rt = this.lines.get(id);
    const model = row.modelId === null ? undefined : this.db.getModel(row.modelId);
    const today = new Date();
    today.setHours(0, 0, 0, 0);
    const { pass, flag, error } = this.db.lineStats(id, today);
    return {
      id: row.id,
      name: row.name,
      folder: row.folder,
      modelId: row.modelId,
      modelName: model?.name ?? '(no model)',
      thresholdOverride: row.thresholdOverride,
      recursive: row.recursive,
      state: row.state,
      status: row.removedAt ? 'removed' : (rt?.status ?? (row.state === 'paused' ? 'paused' : 'starting')),
      statusText: row.removedAt ? 'removed' : (rt?.statusText ?? ''),
      backlog: rt?.backlog ?? 0,
      engine: rt?.engine ?? null,
      engineReason: rt?.engineReason ?? null,
      counts: { pass, flag, error },
    };
  }

  /** A line's folder must exist and must not be (inside) the station's data dir or contain it. */
  private checkFolder(folder: string): string {
    const abs = resolve(folder);
    let isDir: boolean;
    try {
      isDir = statSync(abs).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) throw new StationError(`folder not found: ${abs}`, 'invalid');
    const d = this.dataDir;
    if (abs === d || abs.startsWith(d + sep) || d.startsWith(abs + sep))
      throw new StationError(`a line cannot watch the station's data dir (${d})`, 'refused');
    return abs;
  }

  // ---------- the queue ----------

  private enqueue(lineId: number, file: string): void {
    if (this.closed) return;
    const key = this.lineKey(lineId, file);
    if (this.pending.has(key)) return;
    this.pending.add(key);
    this.queue.push({ lineId, file, receivedAt: new Date() });
    const rt = this.lines.get(lineId);
    if (rt) {
      rt.backlog += 1;
      this.backlogChanged(rt);
    }
    this.pump();
  }

  private pump(): void {
    const limit = this.o.concurrency ?? 2 * SCORE_BATCH;
    while (this.active < limit && this.queue.length) {
      const job = this.queue.shift()!;
      this.active += 1;
      void this.process(job)
        .catch((e: Error) => {
          // Never an unhandled rejection (it would stop the station); the file is retried later.
          if (!this.closed) {
            this.emit({ type: 'error', message: `${basename(job.file)}: ${e.message}`, lineId: job.lineId });
            this.retryLater(job);
          }
        })
        .finally(() => {
          this.active -= 1;
          this.pending.delete(this.lineKey(job.lineId, job.file));
          const rt = this.lines.get(job.lineId);
          if (rt) {
            rt.backlog = Math.max(0, rt.backlog - 1);
            this.backlogChanged(rt);
          }
          if (!this.active && !this.queue.length) this.idleWaiters.splice(0).forEach((w) => w());
          this.pump();
        });
    }
  }

  /** Backlog changes reach clients as line-status events, at most twice a second per line (a burst of
   * 1,000 files must not become 2,000 events), and always once the backlog is back to 0. */
  private backlogChanged(rt: LineRuntime): void {
    if (rt.backlogTimer) return;
    rt.backlogTimer = setTimeout(() => {
      rt.backlogTimer = undefined;
      if (!this.closed && this.lines.get(rt.row.id) === rt)
        this.emit({ type: 'line-status', line: this.lineSummary(rt.row.id) });
    }, 500);
  }

  /** Scoring batches sent so far, over every model (benchmarks). */
  scoringBatches(): { batches: number; images: number } {
    return this.pool.sent();
  }

  /** Resolves when nothing is queued or in flight (tests and benchmarks). */
  idle(): Promise<void> {
    if (!this.active && !this.queue.length) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private async process(job: Queued): Promise<void> {
    const rt = this.lines.get(job.lineId);
    if (!rt || rt.status === 'paused' || this.closed) return;
    let ctx: LineContext;
    const ctxPromise = rt.context;
    try {
      ctx = await rt.context!;
    } catch {
      return; // the line is in error (model); the file stays unscored and is caught up after a fix
    }
    const t0 = performance.now();
    const read = await readCameraFile(job.file);
    this.stageTimes.read += performance.now() - t0;
    // The same file (path, size, mtime) is never scored twice; a changed file is.
    if (this.db.findInspectionByFile(job.lineId, job.file, read.size, read.mtimeMs)) return;
    let record: InspectionRecord;
    try {
      record = await inspect(ctx, job.file, read, job.receivedAt, this.artifacts, this.stageTimes);
    } catch (e) {
      if (e instanceof ScorerUnavailableError) {
        if (this.closed) return;
        // The worker died: load the model in a fresh one and retry the file (it is not the image's fault).
        this.setLineStatus(rt, 'starting', `${e.message}; restarting the scoring worker`);
        if (rt.context === ctxPromise) rt.context = this.loadContext(rt);
        this.retryLater(job);
        return;
      }
      this.storageFailure(rt, job, e);
      return;
    }
    if (this.closed) return;
    let row: InspectionRow | undefined;
    try {
      const { images, ...fields } = record;
      const id = this.db.insertInspection({
        ...fields,
        originalKey: images?.original ?? null,
        heatmapKey: images?.heatmap ?? null,
        reconstructionKey: images?.reconstruction ?? null,
        thumbnailKey: images?.thumbnail ?? null,
      });
      row = this.db.getInspection(id);
    } catch (e) {
      // Scored meanwhile by an overlapping event: the unique key kept exactly one row.
      if (e instanceof DuplicateInspectionError) return;
      this.storageFailure(rt, job, e);
      return;
    }
    if (!row) return;
    if (rt.status === 'error' && rt.statusText.startsWith('data dir'))
      this.setLineStatus(rt, 'watching', 'watching');
    this.emit({ type: 'inspection', inspection: toInspection(row) });
  }

  private storageFailure(rt: LineRuntime, job: Queued, e: unknown): void {
    const storage = e instanceof StorageError || isStorageFailure(e);
    const message = `data dir: ${storage ? 'cannot store results' : 'unexpected failure'} (${(e as Error).message}); ${basename(job.file)} will be retried`;
    this.setLineStatus(rt, 'error', message);
    this.retryLater(job);
  }

  private retryLater(job: Queued): void {
    const t = setTimeout(() => this.enqueue(job.lineId, job.file), this.o.retryMs ?? 5000);
    t.unref();
  }

  // ---------- models ----------

  private async registerModelFolder(folder: string): Promise<ModelSummary> {
    const abs = resolve(folder);
    let meta;
    try {
      meta = await readModelMeta(abs);
    } catch (e) {
      throw new StationError((e as Error).message, 'invalid');
    }
    const row = this.db.registerModel({ folder: abs, meta });
    return toModelSummary(row, this.updates.summary(row.id));
  }

  // ---------- StationApi ----------

  async getInfo(): Promise<Responses['getInfo']> {
    return {
      product: PRODUCT_NAME,
      version: this.o.version ?? '0.0.0',
      shell: this.o.shell ?? 'cli',
      shellDetail: this.o.shellDetail ?? defaultShellDetail(this.o.shell ?? 'cli'),
      backend: this.o.backend ?? 'auto',
      dataDir: this.dataDir,
      operator: this.operator,
    };
  }

  async signIn(req: Requests['signIn']): Promise<Operator> {
    const op = this.db.upsertOperator(req.name, req.badge ?? null);
    this.operator = { id: op.id, name: op.name, badge: op.badge };
    return this.operator;
  }

  async listModels(): Promise<ModelSummary[]> {
    return this.db.listModels().map((r) => toModelSummary(r, this.updates.summary(r.id)));
  }

  registerModel(req: Requests['registerModel']): Promise<ModelSummary> {
    return this.registerModelFolder(req.folder);
  }

  async listLines(req: Requests['listLines'] = {}): Promise<LineSummary[]> {
    return this.db.listLines({ includeRemoved: req.includeRemoved }).map((l) => this.lineSummary(l.id));
  }

  async addLine(req: Requests['addLine']): Promise<LineSummary> {
    if (!this.db.getModel(req.modelId)) throw new StationError(`model ${req.modelId} not found`, 'not-found');
    const folder = this.checkFolder(req.folder);
    const row = this.db.addLine({
      name: req.name,
      folder,
      modelId: req.modelId,
      thresholdOverride: req.thresholdOverride ?? null,
      recursive: req.recursive ?? false,
    });
    this.startLine(row);
    return this.lineSummary(row.id);
  }

  async updateLine(req: Requests['updateLine']): Promise<LineSummary> {
    const cur = this.db.getLine(req.id);
    if (!cur || cur.removedAt) throw new StationError(`line ${req.id} not found`, 'not-found');
    if (req.modelId !== undefined && !this.db.getModel(req.modelId))
      throw new StationError(`model ${req.modelId} not found`, 'not-found');
    this.db.updateLine(req.id, {
      name: req.name,
      folder: req.folder !== undefined ? this.checkFolder(req.folder) : undefined,
      modelId: req.modelId,
      thresholdOverride: req.thresholdOverride,
      recursive: req.recursive,
    });
    return this.restartLine(req.id);
  }

  async setLineState(req: Requests['setLineState']): Promise<LineSummary> {
    const cur = this.db.getLine(req.id);
    if (!cur || cur.removedAt) throw new StationError(`line ${req.id} not found`, 'not-found');
    this.db.setLineState(req.id, req.state);
    const s = await this.restartLine(req.id);
    this.emit({ type: 'line-status', line: s });
    return s;
  }

  async removeLine(req: Requests['removeLine']): Promise<{ removed: number }> {
    const cur = this.db.getLine(req.id);
    if (!cur || cur.removedAt) throw new StationError(`line ${req.id} not found`, 'not-found');
    await this.stopLine(req.id);
    this.db.removeLine(req.id);
    this.emit({ type: 'line-status', line: this.lineSummary(req.id) });
    return { removed: req.id };
  }

  async latestInspections(req: Requests['latestInspections']): Promise<Inspection[]> {
    if (req.lineId !== undefined) return this.db.latestInspections(req.lineId, req.limit).map(toInspection);
    return this.db.queryInspections({}, { limit: req.limit }).rows.map(toInspection);
  }

  /** Inspections scored per line over the last `seconds`, counted in the database per 10-second bucket. */
  async throughput(req: Requests['throughput']): Promise<Responses['throughput']> {
    const now = Date.now();
    const since = Math.floor((now - req.seconds * 1000) / THROUGHPUT_BUCKET_MS) * THROUGHPUT_BUCKET_MS;
    const lines = new Map<number, { start: number; count: number }[]>();
    for (const r of this.db.scoredPerTenSeconds(since)) {
      const buckets = lines.get(r.lineId) ?? [];
      // "2026-01-05T06:00:1" + "0Z" is the bucket's first instant.
      buckets.push({ start: Date.parse(`${r.bucket}0Z`), count: r.n });
      lines.set(r.lineId, buckets);
    }
    return {
      now,
      since,
      bucketMs: THROUGHPUT_BUCKET_MS,
      lines: [...lines].map(([lineId, buckets]) => ({ lineId, buckets })),
    };
  }

  async queryInspections(req: Requests['queryInspections']): Promise<Responses['queryInspections']> {
    const filters = {
      lineId: req.lineId,
      from: req.from,
      to: req.to,
      verdict: req.verdict,
      decision: req.review,
      minScore: req.minScore,
      maxScore: req.maxScore,
    };
    const page = this.db.queryInspections(filters, { cursor: req.cursor ?? null, limit: req.limit });
    return {
      rows: page.rows.map(toInspection),
      nextCursor: page.nextCursor,
      total: this.db.countInspections(filters),
    };
  }

  async getInspection(req: Requests['getInspection']): Promise<Responses['getInspection']> {
    const row = this.db.getInspection(req.id);
    if (!row) throw new StationError(`inspection ${req.id} not found`, 'not-found');
    return { ...toInspection(row), decisions: this.db.decisionsFor(req.id).map(toDecision) };
  }

  async reviewQueue(req: Requests['reviewQueue']): Promise<Inspection[]> {
    return this.db.unreviewedFlags(req.limit, req.afterId).map(toInspection);
  }

  async decide(req: Requests['decide']): Promise<Decision> {
    if (!this.operator)
      throw new StationError('sign in first: every decision carries the operator', 'refused');
    const insp = this.db.getInspection(req.inspectionId);
    if (!insp) throw new StationError(`inspection ${req.inspectionId} not found`, 'not-found');
    if (req.correctsDecisionId !== undefined) {
      const prior = this.db.decisionsFor(req.inspectionId).find((d) => d.id === req.correctsDecisionId);
      if (!prior)
        throw new StationError(
          `decision ${req.correctsDecisionId} does not belong to inspection ${req.inspectionId}`,
          'invalid',
        );
    }
    try {
      const row = this.db.appendDecision({
        inspectionId: req.inspectionId,
        decision: req.decision,
        operator: this.operator.name,
        comment: req.comment ?? null,
        correctsDecisionId: req.correctsDecisionId ?? null,
      });
      this.outputs.kick(); // the decision's outbox rows were committed with it
      return toDecision(row);
    } catch (e) {
      throw new StationError((e as Error).message, 'refused');
    }
  }

  async getImage(req: Requests['getImage']): Promise<Responses['getImage']> {
    const row = this.db.getInspection(req.inspectionId);
    if (!row) throw new StationError(`inspection ${req.inspectionId} not found`, 'not-found');
    let data: Buffer;
    if (req.kind === 'overlay' && !row.overlayKey && row.originalKey && row.heatmapKey) {
      data = await this.overlay(row.originalKey, row.heatmapKey);
    } else {
      const key = artifactKey(row, req.kind);
      if (!key)
        throw new StationError(`inspection ${req.inspectionId} has no ${req.kind} image`, 'not-found');
      data = await this.artifacts.read(key);
    }
    return { contentType: 'image/png', data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  }

  /** Overlays are rendered on first request and kept under a key derived from their two inputs. */
  private async overlay(originalKey: string, heatmapKey: string): Promise<Buffer> {
    const key = createHash('sha256').update(`overlay:0.5:${originalKey}:${heatmapKey}`).digest('hex');
    try {
      return await this.artifacts.read(key);
    } catch {
      const png = await renderOverlay(
        await this.artifacts.read(originalKey),
        await this.artifacts.read(heatmapKey),
      );
      await this.artifacts.putAs(key, png);
      return png;
    }
  }

  async startTraining(req: Requests['startTraining']): Promise<TrainingJob> {
    if (!existsSync(req.data)) throw new StationError(`folder not found: ${req.data}`, 'invalid');
    if (existsSync(join(this.modelsDir, req.name)))
      throw new StationError(`a model named ${req.name} already exists`, 'refused');
    return this.jobs.start(req);
  }

  async cancelTraining(req: Requests['cancelTraining']): Promise<TrainingJob> {
    return this.jobs.cancel(req.jobId);
  }

  async resumeTraining(req: Requests['resumeTraining']): Promise<TrainingJob> {
    return this.jobs.resume(req.jobId);
  }

  async listTrainingJobs(): Promise<TrainingJob[]> {
    return this.jobs.list();
  }

  // ---------- plant outputs (src/main/station/outputs/) ----------

  listOutputs(): Promise<OutputSummary[]> {
    return this.outputs.list();
  }

  setMqttOutput(req: Requests['setMqttOutput']): Promise<MqttOutputSummary> {
    return this.outputs.setMqtt(req);
  }

  setOpcuaOutput(req: Requests['setOpcuaOutput']): Promise<OpcuaOutputSummary> {
    return this.outputs.setOpcua(req);
  }

  removeOutput(req: Requests['removeOutput']): Promise<{ removed: number }> {
    return this.outputs.remove(req);
  }

  trustOpcuaClient(req: Requests['trustOpcuaClient']): Promise<OpcuaOutputSummary> {
    return this.outputs.trustOpcuaClient(req);
  }

  /** The decisions' chain and the model lineage's chain: broken when either is. */
  async verifyAudit(): Promise<AuditResult> {
    const decisions = this.db.verifyAuditChain();
    const lineage = this.updates.verify();
    return { ...decisions, ok: decisions.ok && lineage.ok, lineage };
  }

  // ---------- model updates from operators' feedback (src/main/station/lineage/) ----------

  private signedIn(why: string): Operator {
    if (!this.operator) throw new StationError(`sign in first: ${why}`, 'refused');
    return this.operator;
  }

  async previewModelUpdate(req: Requests['previewModelUpdate']): Promise<Responses['previewModelUpdate']> {
    return this.updates.preview(req);
  }

  startModelUpdate(req: Requests['startModelUpdate']): Promise<ModelUpdate> {
    return this.updates.start(req, this.signedIn('a model update records who asked for it').name);
  }

  async cancelModelUpdate(req: Requests['cancelModelUpdate']): Promise<ModelUpdate> {
    return this.updates.cancel(req.jobId);
  }

  async listModelUpdates(): Promise<ModelUpdate[]> {
    return this.updates.list();
  }

  /** Switch a line's model and record who did it in the lineage, in one transaction (undo = the parent). */
  async activateModel(req: Requests['activateModel']): Promise<LineSummary> {
    this.updates.activate(req, this.signedIn('activating a model is recorded with who did it').name);
    const s = await this.restartLine(req.lineId);
    this.emit({ type: 'line-status', line: s });
    return s;
  }

  async discardModelUpdate(req: Requests['discardModelUpdate']): Promise<ModelUpdate> {
    const operator = this.signedIn('discarding a model is recorded with who did it');
    const inUse = this.db.listLines().some((l) => l.modelId === req.modelId);
    return this.updates.discard(req.modelId, operator.name, inUse);
  }

  async getLineage(req: Requests['getLineage']): Promise<Lineage> {
    return this.updates.lineageOf(req.modelId);
  }

  async getCalibration(req: Requests['getCalibration']): Promise<CalibrationData> {
    const model = this.db.getModel(req.modelId);
    if (!model) throw new StationError(`model ${req.modelId} not found`, 'not-found');
    const cal = model.calibration;
    const base = {
      modelId: model.id,
      threshold: cal?.threshold ?? null,
      method: cal?.method ?? null,
      targetFalseAlarmRate: cal?.targetFalseAlarmRate ?? null,
    };
    try {
      const kept = JSON.parse(await readFile(join(model.folder, CALIBRATION_SCORES_FILE), 'utf8')) as {
        good?: unknown;
        defect?: unknown;
      };
      const numbers = (v: unknown) =>
        Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)) : [];
      return {
        ...base,
        goodScores: numbers(kept.good),
        defectScores: numbers(kept.defect),
        missingReason: null,
      };
    } catch {
      return {
        ...base,
        goodScores: [],
        defectScores: [],
        missingReason: `${model.name} keeps no held-out scores (${CALIBRATION_SCORES_FILE} is missing: trained before the station kept them); retrain it to see the histogram`,
      };
    }
  }

  // ---------- audit reports ----------

  private reportOptions(req: Requests['previewReport'], generatedBy: string): ReportOptions {
    if (req.lineId !== undefined && !this.db.getLine(req.lineId))
      throw new StationError(`line ${req.lineId} not found`, 'not-found');
    if (Date.parse(req.to) <= Date.parse(req.from))
      throw new StationError('the report period must end after it starts', 'invalid');
    return { ...req, generatedBy, stationName: this.o.stationName ?? hostname() };
  }

  /** The numbers a report would show, without writing it (the Reports view's preview). */
  async previewReport(req: Requests['previewReport']): Promise<ReportSummary> {
    return reportSummary(this.db, this.reportOptions(req, this.operator?.name ?? '(preview)'));
  }

  /** Write the PDF and/or CSV into the data folder's reports/; the signed-in user is named as their author. */
  async exportReport(req: Requests['exportReport']): Promise<ExportedReport> {
    if (!this.operator) throw new StationError('sign in first: a report names who generated it', 'refused');
    const { pdf, csv, ...period } = req;
    const options = this.reportOptions(period, this.operator.name);
    await mkdir(this.reportsDir, { recursive: true });
    // Named by the report's local days (its per-day figures are those days).
    const day = (iso: string) => localDate(Date.parse(iso), options.timeZone ?? systemTimeZone());
    // e.g. report-2026-11-17-to-2026-11-24-line2-20261123T071502123Z: sortable, one file per export.
    const made = new Date().toISOString().replace(/[-:.]/g, '');
    const stem = `report-${day(req.from)}-to-${day(req.to)}${req.lineId ? `-line${req.lineId}` : ''}-${made}`;
    const files = {
      pdf: pdf ? join(this.reportsDir, `${stem}.pdf`) : undefined,
      csv: csv ? join(this.reportsDir, `${stem}.csv`) : undefined,
    };
    const written = await writeReport(this.db, this.artifacts, options, files);
    const out: ExportedReport['files'] = [];
    for (const format of ['pdf', 'csv'] as const) {
      const path = files[format];
      if (!path) continue;
      out.push({
        format,
        name: basename(path),
        path,
        bytes: (await stat(path)).size,
        count: (format === 'pdf' ? written.pdfPages : written.csvRows) ?? 0,
      });
    }
    return { summary: written.summary, files: out };
  }

  /** A report written earlier, by file name only (never a path from a client). */
  async getReportFile(req: Requests['getReportFile']): Promise<ReportFileData> {
    const file = join(this.reportsDir, basename(req.name));
    try {
      const data = await readFile(file);
      return {
        contentType: file.endsWith('.pdf') ? 'application/pdf' : 'text/csv',
        data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      };
    } catch {
      throw new StationError(`no report named ${req.name}`, 'not-found');
    }
  }

  /** Evaluate a registered model on a labelled folder in a worker thread; lines keep scoring meanwhile. */
  async evaluateModel(req: Requests['evaluateModel']): Promise<Evaluation> {
    const model = this.db.getModel(req.modelId);
    if (!model) throw new StationError(`model ${req.modelId} not found`, 'not-found');
    if (!existsSync(req.data)) throw new StationError(`folder not found: ${req.data}`, 'invalid');
    const { url, execArgv } = workerUrl('evaluation-worker');
    const workerData: EvaluationRequest = {
      modelId: model.id,
      modelName: model.name,
      modelDir: model.folder,
      data: resolve(req.data),
      maxPerType: req.maxPerType,
      backend: this.o.backend,
      engine: this.o.engine ?? 'auto',
      threads: this.o.threads ?? Math.max(1, Math.floor(availableParallelism() / 2)),
    };
    const w = new Worker(url, { execArgv, workerData, name: `evaluate ${model.name}` });
    this.evaluations.add(w);
    try {
      const m = await new Promise<FromEvaluationWorker>((res, rej) => {
        w.once('message', res);
        w.once('error', rej);
        w.once('exit', (code) => rej(new Error(`evaluation stopped (worker exit ${code})`)));
      });
      if (m.type === 'failed') throw new StationError(`evaluation failed: ${m.message}`, 'invalid');
      return m.evaluation;
    } finally {
      this.evaluations.delete(w);
      await w.terminate();
    }
  }

  /** Stop watching, scoring and training; close the database. In-flight files stay unscored (caught up later). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.lines.keys()].map((id) => this.stopLine(id)));
    await this.outputs.close();
    await this.jobs.close();
    await this.updates.close();
    await Promise.all([...this.evaluations].map((w) => w.terminate()));
    await this.pool.close();
    this.db.close();
  }
}

function defaultShellDetail(shell: StationShell | 'cli'): string {
  const node = `Node ${process.versions.node}`;
  if (shell === 'browser') return `a web browser; the station serves it over HTTP + WebSocket (${node})`;
  return `${shell} (${node})`;
}

// ---------- row -> API shapes ----------

function artifactKey(row: InspectionRow, kind: string): string | null {
  switch (kind) {
    case 'original':
      return row.originalKey;
    case 'overlay':
      return row.overlayKey;
    case 'heatmap':
      return row.heatmapKey;
    case 'reconstruction':
      return row.reconstructionKey;
    case 'thumbnail':
      return row.thumbnailKey;
    default:
      return null;
  }
}

export function toInspection(r: InspectionRow): Inspection {
  return {
    id: r.id,
    lineId: r.lineId,
    modelId: r.modelId,
    modelVersion: r.modelVersion ?? '',
    filePath: r.filePath,
    fileSize: r.fileSize,
    fileMtime: new Date(r.fileMtimeMs).toISOString(),
    sha256: r.sha256 ?? '',
    receivedAt: r.receivedAt,
    scoredAt: r.scoredAt,
    decodeMs: r.decodeMs,
    scoreMs: r.scoreMs,
    rawScore: r.rawScore,
    normalizedScore: r.normalizedScore,
    threshold: r.threshold,
    verdict: r.verdict,
    errorText: r.errorText,
    engine: r.engine,
    hasImages: r.originalKey !== null,
    hasReconstruction: r.reconstructionKey !== null,
    decision: r.decision,
  };
}

function toDecision(r: DecisionRow): Decision {
  return {
    id: r.id,
    inspectionId: r.inspectionId,
    decision: r.decision,
    operator: r.operator,
    comment: r.comment,
    decidedAt: r.decidedAt,
    modelVersion: r.modelVersion ?? '',
    threshold: r.threshold,
    correctsDecisionId: r.correctsDecisionId,
    hash: r.hash,
  };
}

function toModelSummary(
  r: ModelRow,
  lineage: Pick<ModelSummary, 'parentId' | 'generation' | 'lineageStatus'>,
): ModelSummary {
  const meta = r.meta;
  return {
    id: r.id,
    name: r.name,
    folder: r.folder,
    method: r.method,
    version: r.version,
    size: meta.input.size,
    channels: meta.input.channels,
    mode: meta.input.mode,
    threshold: r.threshold,
    calibratedAt: meta.calibration ? meta.createdAt : null,
    trainingDataHash: r.dataHash,
    trainingImages: meta.training?.images ?? null,
    metrics: meta.metrics ?? null,
    ...lineage,
    training: meta.training
      ? {
          epochs: meta.training.epochs,
          bestEpoch: meta.training.bestEpoch,
          bestValidationLoss: meta.training.bestValidationLoss ?? null,
          seconds: meta.training.seconds,
          backend: meta.training.backend,
          dataDir: meta.training.dataDir ?? null,
        }
      : null,
    registeredAt: r.registeredAt,
  };
}
