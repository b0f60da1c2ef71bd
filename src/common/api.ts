// The contract between the station core and every client: ONE typed interface of request/response methods
// plus an event stream. The Electron preload (IPC), the HTTP/WebSocket server and the in-process transport
// (tests, CLI) all carry exactly this; main, preload and renderer import their types from this file.
// Requests are validated with these zod schemas at every boundary (a renderer is never trusted).
import { z } from 'zod';
import { LANGUAGES } from './languages';
import type { ReportSummary } from './report';

/** The name shown in window titles and the UI. */
export const PRODUCT_NAME = 'Anomaly Station';

/** Which host the renderer runs in: the Electron shell, or a plain browser over HTTP/WebSocket. */
export type StationShell = 'electron' | 'browser';

/** The IPC channels between the Electron preload and main (the only two the preload may use). */
export const IPC_CALL = 'station:call';
export const IPC_EVENT = 'station:event';
/** Custom protocol the Electron renderer loads inspection images from: station://image/<id>/<kind>. */
export const IMAGE_SCHEME = 'station';

/** An IPC reply: Electron drops custom error fields across IPC, so errors travel as data. */
export type IpcReply =
  { ok: true; value: unknown } | { ok: false; error: { code: StationError['code']; message: string } };

export const METHOD_NAMES = [
  'patchcore',
  'ganomaly-features',
  'ganomaly-fusion',
  'ganomaly',
  'egbad',
  'anogan',
] as const;
/** Methods on pretrained-backbone features: `size` is the longest side images are judged at (0 = native). */
export const FEATURE_METHOD_NAMES: readonly (typeof METHOD_NAMES)[number][] = [
  'patchcore',
  'ganomaly-features',
];
/** The GAN methods' network input sizes. */
export const GAN_SIZES = [32, 64, 128, 256] as const;
export const IMAGE_KINDS = ['original', 'overlay', 'heatmap', 'reconstruction', 'thumbnail'] as const;
export type ImageKind = (typeof IMAGE_KINDS)[number];

const id = z.number().int().positive();
const text = (max: number) => z.string().trim().min(1).max(max);
/** Absolute folder paths chosen by the user; the core checks existence and refuses its own data dir. */
const folder = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => !p.includes('\0'), 'path contains a NUL byte');
const isoTime = z.string().datetime({ offset: true });
/** A model's name: it becomes its folder's name in the station's models/. */
const modelName = z
  .string()
  .regex(/^[\w.-]{1,80}$/, 'model name: letters, digits, . _ - (it becomes a folder name)');

/** Whether this JavaScript runtime knows `name` as an IANA time zone (e.g. "Europe/Berlin", "UTC"). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
const timeZone = z.string().min(1).max(64).refine(isTimeZone, 'not a known IANA time zone');

/**
 * A report's period (end exclusive), one line or all, and an optional lot/batch label. Its days are local
 * days of `timeZone` (the client's; the station's own zone when absent); its PDF and CSV are written in
 * `language` (English when absent).
 */
const reportPeriod = z.object({
  from: isoTime,
  to: isoTime,
  lineId: id.optional(),
  lot: text(80).optional(),
  timeZone: timeZone.optional(),
  language: z.enum(LANGUAGES).optional(),
});
/** Report files are named by the station (no folders, no dots before the extension but the one). */
export const REPORT_FILE_NAME = /^[A-Za-z0-9_-]{1,120}\.(pdf|csv)$/;

// ---------- plant outputs (MQTT per line, the station's OPC UA server) ----------

export const MQTT_URL_PROTOCOLS = ['mqtt:', 'mqtts:', 'ws:', 'wss:'] as const;
export const OPCUA_SECURITY_MODES = ['sign-and-encrypt', 'sign', 'none'] as const;
export type OpcuaSecurityMode = (typeof OPCUA_SECURITY_MODES)[number];

/** A broker URL: mqtt(s):// or ws(s)://, a host, and no credentials (those have their own fields). */
const brokerUrl = z
  .string()
  .trim()
  .min(1)
  .max(2048)
  .superRefine((s, ctx) => {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not a URL (e.g. mqtt://broker.plant:1883)' });
      return;
    }
    if (!(MQTT_URL_PROTOCOLS as readonly string[]).includes(u.protocol))
      ctx.addIssue({
        code: 'custom',
        message: 'the broker URL must start with mqtt://, mqtts://, ws:// or wss://',
      });
    else if (!u.hostname) ctx.addIssue({ code: 'custom', message: 'the broker URL needs a host' });
    if (u.username || u.password)
      ctx.addIssue({
        code: 'custom',
        message: 'put the user name and password in their own fields, not in the URL',
      });
  });
/** One or more MQTT topic levels to publish under: no wildcards, no leading $ or /, no trailing /. */
const topicPrefix = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine(
    (s) => !/[+#\0]/.test(s) && !s.startsWith('$') && !s.startsWith('/') && !s.endsWith('/'),
    'topic prefix: no + or #, and no leading $ or /, or trailing /',
  );
/** A password: undefined keeps the stored one, null removes it. Never sent back to a client. */
const secret = z.string().min(1).max(1000).nullable().optional();
const userName = z.string().trim().min(1).max(200).nullable().optional();
const pemFile = folder.nullable().optional();
const listenHost = z
  .string()
  .trim()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.:-]+$/, 'an IP address or host name');

/**
 * Which operators' decisions a model update learns from: one line's false alarms scored in a period (end
 * exclusive; open ends: all), or a chosen set of its inspections (History), plus disputed images the engineer
 * accepts after looking at them.
 */
const updateSelection = z.object({
  lineId: id,
  from: isoTime.optional(),
  to: isoTime.optional(),
  inspectionIds: z.array(id).min(1).max(10_000).optional(),
  includeDisputed: z.array(id).max(10_000).optional(),
});
const periodInOrder = (r: { from?: string; to?: string }) =>
  r.from === undefined || r.to === undefined || Date.parse(r.from) < Date.parse(r.to);

// ---------- request schemas, one per method ----------

export const requestSchemas = {
  getInfo: z.object({}).strict(),
  signIn: z.object({ name: text(80), badge: text(40).optional() }).strict(),
  listModels: z.object({}).strict(),
  registerModel: z.object({ folder }).strict(),
  listLines: z.object({ includeRemoved: z.boolean().optional() }).strict(),
  addLine: z
    .object({
      name: text(80),
      folder,
      modelId: id,
      thresholdOverride: z.number().finite().nullable().optional(),
      recursive: z.boolean().optional(),
    })
    .strict(),
  updateLine: z
    .object({
      id,
      name: text(80).optional(),
      folder: folder.optional(),
      modelId: id.optional(),
      thresholdOverride: z.number().finite().nullable().optional(),
      recursive: z.boolean().optional(),
    })
    .strict(),
  setLineState: z.object({ id, state: z.enum(['active', 'paused']) }).strict(),
  removeLine: z.object({ id }).strict(),
  latestInspections: z.object({ lineId: id.optional(), limit: z.number().int().min(1).max(500) }).strict(),
  /** Inspections scored per line over the last `seconds`, from the database, in 10-second buckets. */
  throughput: z.object({ seconds: z.number().int().min(10).max(3600) }).strict(),
  queryInspections: z
    .object({
      lineId: id.optional(),
      from: isoTime.optional(),
      to: isoTime.optional(),
      verdict: z.enum(['pass', 'flag', 'error']).optional(),
      review: z.enum(['unreviewed', 'defect', 'false_alarm']).optional(),
      minScore: z.number().finite().optional(),
      maxScore: z.number().finite().optional(),
      cursor: z.string().max(200).optional(),
      limit: z.number().int().min(1).max(1000),
    })
    .strict(),
  getInspection: z.object({ id }).strict(),
  reviewQueue: z.object({ limit: z.number().int().min(1).max(500), afterId: id.optional() }).strict(),
  decide: z
    .object({
      inspectionId: id,
      decision: z.enum(['defect', 'false_alarm']),
      comment: z.string().max(2000).optional(),
      correctsDecisionId: id.optional(),
    })
    .strict(),
  getImage: z.object({ inspectionId: id, kind: z.enum(IMAGE_KINDS) }).strict(),
  startTraining: z
    .object({
      name: modelName,
      data: folder,
      method: z.enum(METHOD_NAMES),
      /** GAN methods: the network input (32, 64, 128, 256); feature methods: the longest side, 0 = native. */
      size: z.number().int().min(0).max(8192),
      channels: z.union([z.literal(1), z.literal(3)]),
      epochs: z.number().int().min(1).max(10_000),
      batchSize: z.number().int().min(1).max(256).optional(),
      /** Share of good images held out (half early stopping, half calibration). Default 0.2. */
      holdout: z.number().min(0.05).max(0.6).optional(),
      patch: z
        .object({
          workingSize: z.number().int().min(0).max(8192),
          stepsPerEpoch: z.number().int().optional(),
        })
        .strict()
        .optional(),
      defects: folder.optional(),
      /** The line waiting for this model (e.g. the demo line): the Live view shows it with the job's progress. */
      forLine: text(80).optional(),
    })
    .strict()
    .superRefine((v, ctx) => {
      const feature = FEATURE_METHOD_NAMES.includes(v.method);
      if (!feature && !(GAN_SIZES as readonly number[]).includes(v.size))
        ctx.addIssue({ code: 'custom', path: ['size'], message: `must be one of ${GAN_SIZES.join(', ')}` });
      if (feature && v.size !== 0 && v.size < 32)
        ctx.addIssue({
          code: 'custom',
          path: ['size'],
          message: 'the longest side: 0 (native) or at least 32',
        });
      if (feature && v.patch)
        ctx.addIssue({ code: 'custom', path: ['patch'], message: `${v.method} has no patch mode` });
    }),
  cancelTraining: z.object({ jobId: id }).strict(),
  resumeTraining: z.object({ jobId: id }).strict(),
  listTrainingJobs: z.object({}).strict(),
  verifyAudit: z.object({}).strict(),
  getCalibration: z.object({ modelId: id }).strict(),
  evaluateModel: z
    .object({ modelId: id, data: folder, maxPerType: z.number().int().min(1).max(10_000).optional() })
    .strict(),
  previewReport: reportPeriod.strict(),
  exportReport: reportPeriod
    .extend({ pdf: z.boolean(), csv: z.boolean() })
    .strict()
    .refine((r) => r.pdf || r.csv, 'exportReport: ask for a PDF, a CSV or both'),
  getReportFile: z.object({ name: z.string().regex(REPORT_FILE_NAME, 'not a report file name') }).strict(),
  listOutputs: z.object({}).strict(),
  /** Create or change a line's MQTT output; an omitted field keeps its value (or its default), null clears it. */
  setMqttOutput: z
    .object({
      lineId: id,
      url: brokerUrl,
      topicPrefix: topicPrefix.optional(),
      qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).optional(),
      username: userName,
      password: secret,
      caFile: pemFile,
      certFile: pemFile,
      keyFile: pemFile,
      enabled: z.boolean().optional(),
    })
    .strict(),
  /** Create or change the station's OPC UA server; an omitted field keeps its value (or its default). */
  setOpcuaOutput: z
    .object({
      port: z.number().int().min(0).max(65535),
      host: listenHost.optional(),
      securityMode: z.enum(OPCUA_SECURITY_MODES).optional(),
      allowAnonymous: z.boolean().optional(),
      username: userName,
      password: secret,
      enabled: z.boolean().optional(),
    })
    .strict(),
  removeOutput: z.object({ id }).strict(),
  /** Trust an OPC UA client certificate the server rejected (by its SHA-1 thumbprint, as listOutputs shows it). */
  trustOpcuaClient: z
    .object({ thumbprint: z.string().regex(/^[0-9a-fA-F]{40}$/, 'a SHA-1 thumbprint') })
    .strict(),
  /** What an update of a line's model would learn from (nothing is made). */
  previewModelUpdate: updateSelection.strict().refine(periodInOrder, 'the period must end after it starts'),
  /** Make a child of the line's model from operators' false alarms (a job: progress events, cancel). */
  startModelUpdate: updateSelection
    .extend({
      /** The child's name (default: the parent's name + "-u" + a number). */
      name: modelName.optional(),
      /** Memory banks: at most this share of the bank's rows joins it in one update (default 0.25). */
      maxBankGrowth: z.number().min(0.01).max(1).optional(),
      /** GAN methods: fine-tuning epochs (default 3). */
      epochs: z.number().int().min(1).max(100).optional(),
    })
    .strict()
    .refine(periodInOrder, 'the period must end after it starts'),
  cancelModelUpdate: z.object({ jobId: id }).strict(),
  listModelUpdates: z.object({}).strict(),
  /**
   * Put a model on a line, recorded in the lineage with who did it: a child after its comparison, or its parent
   * again (undo). A line's threshold override is cleared unless kept (it was set on the old model's scores).
   */
  activateModel: z
    .object({ lineId: id, modelId: id, keepThresholdOverride: z.boolean().optional() })
    .strict(),
  /** Set a child aside without using it (recorded; the folder is kept for the record). */
  discardModelUpdate: z.object({ modelId: id }).strict(),
  /** A model's ancestry back to the model trained from a folder, and what happened to it. */
  getLineage: z.object({ modelId: id }).strict(),
} as const;

export type Requests = { [K in keyof typeof requestSchemas]: z.input<(typeof requestSchemas)[K]> };
export type ApiMethod = keyof typeof requestSchemas;
export const API_METHODS = Object.keys(requestSchemas) as ApiMethod[];

// ---------- response types ----------

export interface StationInfo {
  product: string;
  version: string;
  shell: StationShell | 'cli';
  /** e.g. "Electron 45.4.1 (Chrome 142, Node 24.9.0)" or "station served over HTTP (Node 24.9.0)". */
  shellDetail: string;
  /** e.g. "tfjs 4.22.0 (wasm)"; and per model, the scoring engine in ModelSummary.engine. */
  backend: string;
  dataDir: string;
  operator: Operator | null;
}

export interface Operator {
  id: number;
  name: string;
  badge: string | null;
}

export interface ModelSummary {
  id: number;
  name: string;
  folder: string;
  method: string;
  version: string;
  size: number;
  channels: number;
  mode: 'resize' | 'patch' | 'native';
  threshold: number | null;
  calibratedAt: string | null;
  trainingDataHash: string | null;
  trainingImages: number | null;
  metrics: Record<string, unknown> | null;
  /** The model it was made from by a feedback update (null: trained from a folder). */
  parentId: number | null;
  /** 1 for a model trained from a folder, its parent's + 1 for a child. */
  generation: number;
  /** A child's state: waiting for the engineer, discarded, or activated on a line at least once. */
  lineageStatus: 'candidate' | 'activated' | 'discarded' | null;
  /** How training went (from the model folder's meta.json); null for models without that record. */
  training: {
    epochs: number;
    bestEpoch: number;
    /** null for fitted methods (PatchCore: no epochs). */
    bestValidationLoss: number | null;
    seconds: number;
    backend: string;
    dataDir: string | null;
  } | null;
  registeredAt: string;
}

export type LineStatus = 'watching' | 'starting' | 'paused' | 'missing' | 'error' | 'removed';

export interface LineSummary {
  id: number;
  name: string;
  folder: string;
  modelId: number | null;
  modelName: string;
  thresholdOverride: number | null;
  recursive: boolean;
  state: 'active' | 'paused';
  status: LineStatus;
  statusText: string;
  /** Files seen but not yet scored. */
  backlog: number;
  /** Engine scoring this line's model, e.g. "onnxruntime-node 1.30.0 (cpu, 1 thread)"; null while loading. */
  engine: string | null;
  /** Why that engine, e.g. "parity with tfjs 1.1e-6 <= 0.0001" or "AnoGAN's ... needs gradients: tfjs". */
  engineReason: string | null;
  counts: { pass: number; flag: number; error: number };
}

export type Verdict = 'pass' | 'flag' | 'error';

export interface Inspection {
  id: number;
  lineId: number;
  modelId: number | null;
  modelVersion: string;
  filePath: string;
  fileSize: number;
  fileMtime: string;
  sha256: string;
  receivedAt: string;
  scoredAt: string;
  decodeMs: number | null;
  scoreMs: number | null;
  rawScore: number | null;
  normalizedScore: number | null;
  threshold: number | null;
  verdict: Verdict;
  errorText: string | null;
  engine: string | null;
  hasImages: boolean;
  /** False for patch-mode models: their reconstructions are per patch, and no full-image one is kept. */
  hasReconstruction: boolean;
  /** The latest decision, if any. */
  decision: 'defect' | 'false_alarm' | null;
}

export interface Decision {
  id: number;
  inspectionId: number;
  decision: 'defect' | 'false_alarm';
  operator: string;
  comment: string | null;
  decidedAt: string;
  modelVersion: string;
  threshold: number | null;
  correctsDecisionId: number | null;
  hash: string;
}

export interface InspectionDetail extends Inspection {
  decisions: Decision[];
}

export interface TrainingJob {
  id: number;
  state: 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';
  name: string;
  settings: Requests['startTraining'];
  progress: TrainingProgress | null;
  error: string | null;
  modelId: number | null;
  createdAt: string;
  finishedAt: string | null;
}

export interface TrainingProgress {
  phase: string;
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  losses: Record<string, number>;
  imagesPerSecond: number;
  etaSeconds: number | null;
  validationLoss: number | null;
  /** One entry per finished epoch: the loss chart survives a reload of the UI. */
  history: { epoch: number; losses: Record<string, number>; validationLoss: number | null }[];
  /** Latest epoch's held-out samples, each a PNG data URL of input | reconstruction side by side. */
  samples: string[];
  /** What the user should know about this run (e.g. too few calibration images for the target); absent in old jobs. */
  warnings?: string[];
}

/** The held-out scores a model was calibrated on, for the Calibrate view's histogram and threshold slider. */
export interface CalibrationData {
  modelId: number;
  /** The calibrated threshold (raw score); lines may override it. */
  threshold: number | null;
  method: 'quantile' | 'f1' | null;
  targetFalseAlarmRate: number | null;
  goodScores: number[];
  defectScores: number[];
  /** Why there are no scores to plot (a model trained before scores were kept), else null. */
  missingReason: string | null;
}

export interface EvaluationRow {
  type: string;
  images: number;
  auroc: number;
  auprc: number;
  f1: number;
  pixelAuroc: number | null;
}

/** `station eval` on a labelled MVTec-layout folder, run in a worker. Scores let the UI draw the ROC curve. */
export interface Evaluation {
  modelId: number;
  data: string;
  engine: string;
  threshold: number;
  overall: EvaluationRow;
  perType: EvaluationRow[];
  falseAlarmRate: number;
  imagesPerSecond: number;
  scores: { type: string; score: number }[];
  skipped: number;
}

/** Width of a throughput bucket: the station counts inspections per 10 s (ISO time up to the tens of seconds). */
export const THROUGHPUT_BUCKET_MS = 10_000;

/** Inspections scored per line in recent 10-second buckets, counted in the database (the Live view's rate). */
export interface Throughput {
  /** The station's clock when it counted (epoch ms), so a client on another machine can line its clock up. */
  now: number;
  /** Start of the counted span (epoch ms, a bucket boundary). */
  since: number;
  bucketMs: number;
  /** Every line that scored something in the span; a bucket with no inspections is left out. */
  lines: { lineId: number; buckets: { start: number; count: number }[] }[];
}

export interface AuditResult {
  ok: boolean;
  count: number;
  headHash: string | null;
  firstBadId?: number;
  reason?: string;
  /**
   * The model lineage's own chain (children made from feedback, activations, discards, with the images each
   * child was made from). Where present, `ok` is false when either chain is broken.
   */
  lineage?: ChainResult;
}

/** One hash chain's verification: rows verified, the head, and the first row that breaks it. */
export interface ChainResult {
  ok: boolean;
  count: number;
  headHash: string | null;
  firstBadId?: number;
  reason?: string;
}

// ---------- model updates from operators' feedback (src/main/station/lineage/) ----------

export type UpdateMethod = 'bank-extend' | 'fine-tune';

/** An image different operators disagree on: listed for the engineer, never added silently. */
export interface DisputedSample {
  inspectionId: number;
  filePath: string;
  decisions: { operator: string; decision: 'defect' | 'false_alarm'; decidedAt: string }[];
  /** The engineer included it (its latest decision is a false alarm). */
  included: boolean;
}

/** What an update would learn from. */
export interface UpdatePreview {
  lineId: number;
  lineName: string;
  /** The line's model now: the parent. */
  parent: { id: number; name: string; version: string; method: string } | null;
  method: UpdateMethod | null;
  from: string | null;
  to: string | null;
  /** False alarms used: `added` join the good set, `heldOut` calibrate and check the child. */
  falseAlarms: number;
  added: number;
  heldOut: number;
  reviewers: string[];
  decidedFrom: string | null;
  decidedTo: string | null;
  disputed: DisputedSample[];
  excluded: { inspectionId: number; reason: string }[];
  /** The line's confirmed defects the child is checked on, and the period's passed parts sampled. */
  confirmedDefects: number;
  passedParts: number;
  /** The most false alarms one update takes. */
  maxImages: number;
  /** Why no update can start (no model, nothing to add, ...); null when one can. */
  blocked: string | null;
}

/** One model's results in a comparison, each at the threshold it judges the line by. */
export interface ComparisonSide {
  modelId: number;
  name: string;
  threshold: number;
  /** Of the false alarms used (added + held out), how many it passes. */
  falseAlarmsPassed: number;
  /** Of the held-out false alarms (never added to the child), how many it passes: the honest figure. */
  heldOutFalseAlarmsPassed: number;
  /** Confirmed defects it flags (recall = defectsFlagged / defects). */
  defectsFlagged: number;
  /** Passed parts of the period it would flag (a false-alarm estimate on what the line made). */
  passedPartsFlagged: number;
  /** Held-out good images (the child's calibration set) it flags: the false-alarm estimate. */
  heldOutGoodFlagged: number;
}

/** Parent and child on what the station has seen: read before activating the child. */
export interface ModelComparison {
  falseAlarms: number;
  heldOutFalseAlarms: number;
  defects: number;
  passedParts: number;
  heldOutGood: number;
  /** Held-out good scores taken from the parent's kept scores (its images could not be read): upper bounds. */
  heldOutGoodFromParentScores: number;
  parent: ComparisonSide;
  child: ComparisonSide;
}

export interface ModelUpdate {
  /** Stable for the UI: "job-<id>" while it runs (or failed), "model-<child id>" once made. */
  key: string;
  /** The job in this station session (cancel by it); null for updates made before the station started. */
  jobId: number | null;
  state: 'running' | 'ready' | 'activated' | 'discarded' | 'failed' | 'cancelled';
  lineId: number;
  lineName: string;
  parentId: number;
  parentName: string;
  /** The child's name. */
  name: string;
  childId: number | null;
  lineageId: number | null;
  method: UpdateMethod;
  requestedBy: string;
  requestedAt: string;
  finishedAt: string | null;
  progress: {
    phase: string;
    done: number;
    total: number;
    epoch: number | null;
    epochs: number | null;
    etaSeconds: number | null;
  } | null;
  error: string | null;
  selection: {
    from: string | null;
    to: string | null;
    added: number;
    heldOut: number;
    disputed: number;
    excluded: number;
    reviewers: string[];
    decidedFrom: string | null;
    decidedTo: string | null;
  };
  bank: { rowsBefore: number; rowsAdded: number; cap: number } | null;
  epochs: number | null;
  comparison: ModelComparison | null;
  warnings: string[];
}

/** One record of a model's lineage. */
export interface LineageEntry {
  recordId: number;
  kind: 'created' | 'activated' | 'discarded';
  modelId: number;
  modelName: string;
  modelVersion: string;
  generation: number;
  /** created: the parent. */
  parentId: number | null;
  parentName: string | null;
  parentVersion: string | null;
  lineId: number | null;
  lineName: string | null;
  /** Who asked (created, discarded) or switched the line (activated). */
  operator: string;
  at: string;
  /** created: how many false alarms joined the good set and were held out, who reviewed them, when. */
  added: number;
  heldOut: number;
  reviewers: string[];
  decidedFrom: string | null;
  decidedTo: string | null;
  method: UpdateMethod | null;
  /** created: the images (inspection id, camera file sha256, role); empty for other kinds. */
  images: { inspectionId: number; sha256: string; role: 'added' | 'held-out' | 'disputed' | 'excluded' }[];
  /** activated: the model the line had before, and whether its threshold override was cleared. */
  previousModelId: number | null;
}

export interface Lineage {
  modelId: number;
  generation: number;
  /** The created records from this model back to the one trained from a folder (this model's first). */
  chain: LineageEntry[];
  /** Everything recorded about this model (created, activations, discard), oldest first. */
  events: LineageEntry[];
  /** The ancestor trained from a folder. */
  root: { id: number; name: string; version: string; dataDir: string | null };
  /** The lineage chain's verification (the whole station's). */
  audit: ChainResult;
}

export interface ImageData {
  contentType: 'image/png';
  data: Uint8Array;
}

export interface ExportedReport {
  summary: ReportSummary;
  files: {
    format: 'pdf' | 'csv';
    /** File name, for getReportFile and the download URL. */
    name: string;
    /** Where the station saved it (its data folder's reports/). */
    path: string;
    bytes: number;
    /** PDF pages or CSV rows. */
    count: number;
  }[];
}

export interface ReportFileData {
  contentType: 'application/pdf' | 'text/csv';
  data: Uint8Array;
}

/** off: disabled; then per kind: MQTT connecting / connected / disconnected (retrying), OPC UA starting / listening;
 * error: refused or failing in a way a person has to fix (credentials, TLS, port in use). */
export type OutputState =
  'off' | 'starting' | 'connecting' | 'connected' | 'disconnected' | 'listening' | 'error';

interface OutputSummaryBase {
  id: number;
  /** null: every line (the OPC UA server). */
  lineId: number | null;
  lineName: string | null;
  enabled: boolean;
  state: OutputState;
  stateText: string;
  /** Messages committed but not yet delivered (they are delivered, in order, once the output is back). */
  backlog: number;
  /** Delivered since the station started. */
  sent: number;
  lastSentAt: string | null;
}

/** A line's MQTT output. Its password is never sent: only whether one is stored. */
export interface MqttOutputSummary extends OutputSummaryBase {
  kind: 'mqtt';
  mqtt: {
    url: string;
    topicPrefix: string;
    qos: 0 | 1 | 2;
    username: string | null;
    hasPassword: boolean;
    caFile: string | null;
    certFile: string | null;
    keyFile: string | null;
  };
}

/** The station's OPC UA server. Its password is never sent: only whether one is stored. */
export interface OpcuaOutputSummary extends OutputSummaryBase {
  kind: 'opcua';
  opcua: {
    port: number;
    host: string;
    securityMode: OpcuaSecurityMode;
    allowAnonymous: boolean;
    username: string | null;
    hasPassword: boolean;
    /** opc.tcp://host:port while listening. */
    endpointUrl: string | null;
    /** SHA-1 of the station's own certificate, for the PLC side to check before trusting it. */
    certificateThumbprint: string | null;
    /** Client certificates refused because nobody trusted them yet. */
    rejectedClients: { thumbprint: string; subject: string }[];
  };
}

export type OutputSummary = MqttOutputSummary | OpcuaOutputSummary;

export interface Responses {
  getInfo: StationInfo;
  signIn: Operator;
  listModels: ModelSummary[];
  registerModel: ModelSummary;
  listLines: LineSummary[];
  addLine: LineSummary;
  updateLine: LineSummary;
  setLineState: LineSummary;
  removeLine: { removed: number };
  latestInspections: Inspection[];
  throughput: Throughput;
  queryInspections: { rows: Inspection[]; nextCursor: string | null; total: number };
  getInspection: InspectionDetail;
  reviewQueue: Inspection[];
  decide: Decision;
  getImage: ImageData;
  startTraining: TrainingJob;
  cancelTraining: TrainingJob;
  resumeTraining: TrainingJob;
  listTrainingJobs: TrainingJob[];
  verifyAudit: AuditResult;
  getCalibration: CalibrationData;
  evaluateModel: Evaluation;
  previewReport: ReportSummary;
  exportReport: ExportedReport;
  getReportFile: ReportFileData;
  listOutputs: OutputSummary[];
  setMqttOutput: MqttOutputSummary;
  setOpcuaOutput: OpcuaOutputSummary;
  removeOutput: { removed: number };
  trustOpcuaClient: OpcuaOutputSummary;
  previewModelUpdate: UpdatePreview;
  startModelUpdate: ModelUpdate;
  cancelModelUpdate: ModelUpdate;
  listModelUpdates: ModelUpdate[];
  activateModel: LineSummary;
  discardModelUpdate: ModelUpdate;
  getLineage: Lineage;
}

// ---------- events ----------

export type StationEvent =
  | { type: 'inspection'; inspection: Inspection }
  | { type: 'line-status'; line: LineSummary }
  | { type: 'training-progress'; job: TrainingJob }
  | { type: 'output-status'; output: OutputSummary }
  | { type: 'model-update'; update: ModelUpdate }
  | { type: 'error'; message: string; lineId?: number };

/** The API every transport carries: typed methods plus an event subscription (returns unsubscribe). */
export type StationApi = { [K in ApiMethod]: (req: Requests[K]) => Promise<Responses[K]> } & {
  onEvent(listener: (e: StationEvent) => void): () => void;
};

/** Errors a client may show as-is (bad request, unknown id, refused action), carried across transports. */
export class StationError extends Error {
  constructor(
    message: string,
    readonly code: 'invalid' | 'not-found' | 'refused' | 'unauthorized' | 'internal' = 'invalid',
  ) {
    super(message);
    this.name = 'StationError';
  }
}

/** Validate a request for `method`; throws a StationError naming the field that is wrong. */
export function parseRequest<K extends ApiMethod>(method: K, payload: unknown): Requests[K] {
  const schema = requestSchemas[method] as unknown as z.ZodType<Requests[K]>;
  const r = schema.safeParse(payload ?? {});
  if (!r.success) {
    const first = r.error.issues[0];
    const where = first?.path.length ? first.path.join('.') : 'request';
    throw new StationError(`${method}: ${where}: ${first?.message ?? 'invalid'}`, 'invalid');
  }
  return r.data;
}

export function isApiMethod(name: string): name is ApiMethod {
  return Object.prototype.hasOwnProperty.call(requestSchemas, name);
}
