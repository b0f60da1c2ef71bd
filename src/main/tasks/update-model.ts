// Make a child model from its parent and operators' false alarms, and measure both on what the station has seen.
//
// - PatchCore (memory bank): the false alarms' patches join a copy of the parent's bank (extendBank: no refit,
//   at most `maxBankGrowth` x the bank's rows), so nothing the parent knew is forgotten.
// - GAN methods: the parent's networks are fine-tuned for a few epochs on its old good images plus the new ones
//   (model selection on the parent's held-out validation images), with the training loop's progress and cancel.
//
// Either way the child is calibrated again on held-out good images: the parent's calibration images (when they
// can still be read; else, for a memory bank, the parent's kept calibration scores, which bound the child's from
// above because a bigger bank only brings every patch nearer) plus the share of the false alarms held out, which
// never join the good set. The parent and the child then score the same images (every false alarm used, the
// line's confirmed defects, a sample of passed parts, the held-out good images), each at the threshold it judges
// by: the comparison the engineer reads before activating the child. The parent's folder is only read; the child
// is a new folder (refused if it exists), written atomically, with the parent's reference images and its own
// lineage.json.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { ModelComparison } from '../../common/api';
import { DEFAULT_MAX_BANK_GROWTH } from '../../common/lineage';
import { LINEAGE_FILE } from '../station/lineage/records';
import {
  calibrate,
  detectorArtifacts,
  scoreImages,
  trainDetector,
  TfjsEngine,
  type BackendStatus,
  type ImageSample,
  type ModelMeta,
  type Patchcore,
  type TrainProgress,
} from '../../ml';
import { exportOnnx, onnxExportable } from '../../ml/onnx';
import { decodeImage } from '../io/images';
import {
  CALIBRATION_SCORES_FILE,
  loadModel,
  REFERENCES_DIR,
  referenceFile,
  saveModel,
  type LoadedModel,
} from '../io/model-store';

/** One image the update reads: a stored inspection image as the model family sees it, or a camera-size file. */
export interface ImageRef {
  /** The inspection id, or -1 for an image of the parent's training folder. */
  id: number;
  file: string;
  /** true: already at the model's working resolution (an inspection's stored original), decoded as is. */
  asSeen: boolean;
}

/** The good images the parent was made from, where they can still be read. */
export interface GoodSets {
  train: ImageRef[];
  validation: ImageRef[];
  calibration: ImageRef[];
}

export type UpdateMethod = 'bank-extend' | 'fine-tune';

export interface UpdateModelOptions {
  parentDir: string;
  out: string;
  /** The child's name (meta.json). */
  name: string;
  /** The threshold the parent judges the line by (the line's override, else its calibrated one). */
  parentThreshold: number;
  /** False alarms joining the good set, and those held out to calibrate and check the child. */
  added: ImageRef[];
  heldOut: ImageRef[];
  /** The parent's good images; null when they cannot be read any more (`oldUnavailable` says why). */
  old: GoodSets | null;
  oldUnavailable?: string;
  /** Confirmed defects (recall) and passed parts (false-alarm estimate) of the line. */
  defects: ImageRef[];
  passed: ImageRef[];
  /** Memory banks: the most one update may grow the bank, as a share of its rows. Default 0.25. */
  maxBankGrowth?: number;
  /** GAN methods: fine-tuning epochs. Default 3. */
  epochs?: number;
  /** Written into the child's folder as lineage.json (exactly these bytes). */
  lineage: Uint8Array;
  backend: BackendStatus;
  signal?: AbortSignal;
  onProgress?: (p: { phase: string; done: number; total: number }) => void;
  onTrainProgress?: (p: TrainProgress) => void;
  onWarning?: (text: string) => void;
}

export interface UpdateModelResult {
  meta: ModelMeta;
  method: UpdateMethod;
  bank: { rowsBefore: number; rowsAdded: number; cap: number } | null;
  epochs: number | null;
  /** Model ids are the station's to fill in (0 here). */
  comparison: ModelComparison;
  skipped: { id: number; file: string; reason: string }[];
  warnings: string[];
  seconds: number;
}

export { DEFAULT_MAX_BANK_GROWTH };
export const DEFAULT_FINE_TUNE_EPOCHS = 3;
export { LINEAGE_FILE };
/** Longest side of the reference images Review shows beside a part (as train-model.ts writes them). */
const REFERENCE_SIDE = 384;

export async function updateModel(o: UpdateModelOptions): Promise<UpdateModelResult> {
  const t0 = performance.now();
  if (existsSync(o.out)) throw new Error(`${o.out} already exists: a child model is always a new folder`);
  if (!o.added.length) throw new Error('no false alarms to add: nothing to update the model with');
  const warnings: string[] = [];
  const warn = (text: string) => {
    warnings.push(text);
    o.onWarning?.(text);
  };
  const check = () => {
    if (o.signal?.aborted) throw new Error('update cancelled');
  };

  let parent: LoadedModel | undefined = await loadModel(o.parentDir);
  const meta = parent.meta;
  const bank = meta.method === 'patchcore';
  if (!bank && !o.old)
    throw new Error(
      `${meta.method} is updated by fine-tuning on its old good images plus the new ones, but the old ones ` +
        `cannot be read: ${o.oldUnavailable ?? 'unknown'}`,
    );

  // ---- images
  const skipped: UpdateModelResult['skipped'] = [];
  const asSeen = { channels: meta.input.channels };
  let loaded = 0;
  const toLoad =
    o.added.length +
    o.heldOut.length +
    o.defects.length +
    o.passed.length +
    (o.old ? o.old.calibration.length + (bank ? 0 : o.old.train.length + o.old.validation.length) : 0);
  const load = async (refs: ImageRef[]): Promise<{ refs: ImageRef[]; samples: ImageSample[] }> => {
    const out = { refs: [] as ImageRef[], samples: [] as ImageSample[] };
    for (const r of refs) {
      check();
      try {
        const bytes = await readFile(r.file);
        out.samples.push(await decodeImage(bytes, r.file, r.asSeen ? asSeen : parent!.load));
        out.refs.push(r);
      } catch (e) {
        skipped.push({ id: r.id, file: r.file, reason: (e as Error).message.split('\n')[0] });
      }
      o.onProgress?.({ phase: 'loading images', done: ++loaded, total: toLoad });
    }
    return out;
  };
  const added = await load(o.added);
  const heldOut = await load(o.heldOut);
  const defects = await load(o.defects);
  const passed = await load(o.passed);
  const oldCal = o.old ? await load(o.old.calibration) : { refs: [], samples: [] };
  const oldTrain = !bank && o.old ? await load(o.old.train) : { refs: [], samples: [] };
  const oldVal = !bank && o.old ? await load(o.old.validation) : { refs: [], samples: [] };
  if (skipped.length)
    warn(
      `${skipped.length} images could not be read and were left out (first: ${skipped[0].file}: ${skipped[0].reason})`,
    );
  if (!added.samples.length) throw new Error('none of the false alarms to add could be read');

  // The parent's calibration images, rescored; or (memory banks only) its kept scores as upper bounds.
  let keptScores: number[] = [];
  if (!oldCal.samples.length) {
    if (!bank)
      throw new Error(
        `the parent's held-out calibration images cannot be read: ${o.oldUnavailable ?? 'none'}`,
      );
    try {
      const kept = JSON.parse(await readFile(join(o.parentDir, CALIBRATION_SCORES_FILE), 'utf8')) as {
        good?: unknown;
      };
      keptScores = Array.isArray(kept.good)
        ? kept.good.filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
        : [];
    } catch {
      keptScores = [];
    }
    warn(
      `the parent's calibration images cannot be read (${o.oldUnavailable ?? 'unknown'}): the child is ` +
        `calibrated on the parent's ${keptScores.length} kept held-out scores (its own can only be lower) ` +
        `plus ${heldOut.samples.length} held-out false alarms`,
    );
  }

  // ---- the parent's scores
  const sets = { added, heldOut, defects, passed, oldCal };
  const scoreAll = async (m: LoadedModel, who: string) => {
    const engine = new TfjsEngine(m.detector);
    const total = Object.values(sets).reduce((a, s) => a + s.samples.length, 0);
    let done = 0;
    const out: Record<keyof typeof sets, number[]> = {
      added: [],
      heldOut: [],
      defects: [],
      passed: [],
      oldCal: [],
    };
    for (const [k, s] of Object.entries(sets) as [keyof typeof sets, { samples: ImageSample[] }][]) {
      const base = done;
      out[k] = (
        await scoreImages(engine, s.samples, m.input, {
          batchSize: 8,
          onProgress: (n) => {
            check();
            o.onProgress?.({ phase: `scoring with the ${who}`, done: base + n, total });
          },
        })
      ).map((r) => r.score);
      done += s.samples.length;
    }
    return out;
  };
  const parentScores = await scoreAll(parent, 'parent');
  parent.detector.dispose();
  parent = undefined;
  check();

  // ---- the child
  const child = await loadModel(o.parentDir);
  try {
    let bankInfo: UpdateModelResult['bank'] = null;
    let epochs: number | null = null;
    let oldTrainImages = meta.training?.images ?? 0;
    if (bank) {
      const pc = child.detector as Patchcore;
      const rowsBefore = pc.config.bankSources?.length ?? 0;
      const cap = Math.max(1, Math.floor(rowsBefore * (o.maxBankGrowth ?? DEFAULT_MAX_BANK_GROWTH)));
      oldTrainImages = pc.config.trainImages ?? oldTrainImages;
      const rowsAdded = await pc.extendBank(added.samples, cap, {
        batchSize: 1,
        signal: o.signal,
        onProgress: (p) => o.onProgress?.({ ...p, phase: `adding to the memory bank: ${p.phase}` }),
      });
      check();
      bankInfo = { rowsBefore, rowsAdded, cap };
      if (rowsAdded >= cap)
        warn(
          `the bank grew by its cap (${cap} rows, ${Math.round((o.maxBankGrowth ?? DEFAULT_MAX_BANK_GROWTH) * 100)}% of ` +
            `${rowsBefore}): some of the new parts' patches were left out; a later update can add more`,
        );
    } else {
      epochs = o.epochs ?? DEFAULT_FINE_TUNE_EPOCHS;
      const batchSize = meta.training?.batchSize ?? 32;
      const result = await trainDetector(child.detector, [...oldTrain.samples, ...added.samples], {
        epochs,
        batchSize,
        patchSize: meta.input.mode === 'patch' ? meta.input.size : undefined,
        validation: oldVal.samples,
        patience: 0,
        signal: o.signal,
        onProgress: o.onTrainProgress,
        onFitProgress: (p) => o.onProgress?.(p),
      });
      if (result.cancelled) throw new Error('update cancelled');
    }
    const childScores = await scoreAll(child, 'child');

    // ---- calibration on held-out good images
    o.onProgress?.({ phase: 'calibrating', done: 0, total: 1 });
    const childGood = oldCal.samples.length ? childScores.oldCal : keptScores;
    const parentGood = oldCal.samples.length ? parentScores.oldCal : keptScores;
    const goodScores = [...childGood, ...childScores.heldOut];
    const calibration = calibrate(goodScores, {
      targetFalseAlarmRate: meta.calibration?.targetFalseAlarmRate,
    });
    if (meta.calibration?.method === 'f1')
      warn(
        'the parent was calibrated F1-optimally on labelled defects; the child is calibrated on held-out good ' +
          'images for the same false-alarm target (check its recall on confirmed defects below)',
      );

    const flagged = (scores: number[], t: number) => scores.filter((s) => s > t).length;
    const side = (s: typeof childScores, good: number[], heldOutGood: number[], t: number, name: string) => ({
      modelId: 0,
      name,
      threshold: t,
      falseAlarmsPassed: s.added.length + s.heldOut.length - flagged([...s.added, ...s.heldOut], t),
      heldOutFalseAlarmsPassed: s.heldOut.length - flagged(s.heldOut, t),
      defectsFlagged: flagged(s.defects, t),
      passedPartsFlagged: flagged(s.passed, t),
      heldOutGoodFlagged: flagged([...good, ...heldOutGood], t),
    });
    const comparison: ModelComparison = {
      falseAlarms: added.samples.length + heldOut.samples.length,
      heldOutFalseAlarms: heldOut.samples.length,
      defects: defects.samples.length,
      passedParts: passed.samples.length,
      heldOutGood: goodScores.length,
      heldOutGoodFromParentScores: oldCal.samples.length ? 0 : keptScores.length,
      parent: side(parentScores, parentGood, parentScores.heldOut, o.parentThreshold, meta.name),
      child: side(childScores, childGood, childScores.heldOut, calibration.threshold, o.name),
    };

    // ---- the child's folder
    check();
    o.onProgress?.({ phase: 'saving', done: 0, total: 1 });
    const addedHash = createHash('sha256').update(meta.training?.dataHash ?? '');
    for (const r of added.refs) addedHash.update(`\n${r.id}:${basename(r.file)}`);
    const childMeta: ModelMeta = {
      ...meta,
      name: o.name,
      createdAt: new Date().toISOString(),
      config: child.detector.config as unknown as Record<string, unknown>,
      networks: Object.keys(child.detector.networks()),
      calibration,
      training: meta.training && {
        ...meta.training,
        // The data is the parent's plus the added images: a new hash names that set.
        dataHash: addedHash.digest('hex'),
        images: oldTrainImages + added.samples.length,
        calibrationImages: goodScores.length,
        epochs: meta.training.epochs + (epochs ?? 0),
        seconds: (performance.now() - t0) / 1000,
        backend: o.backend.name,
      },
    };
    delete childMeta.metrics;
    const extra: Record<string, Uint8Array> = { [LINEAGE_FILE]: o.lineage };
    Object.assign(extra, await parentReferences(o.parentDir));
    if (bank)
      Object.assign(extra, await newReferences(child.detector as Patchcore, oldTrainImages, added.samples));
    await saveModel(
      o.out,
      childMeta,
      await detectorArtifacts(child.detector),
      onnxExportable(childMeta.method as Parameters<typeof onnxExportable>[0])
        ? exportOnnx(child.detector)
        : undefined,
      { good: goodScores, defect: [] },
      extra,
    );
    return {
      meta: childMeta,
      method: bank ? 'bank-extend' : 'fine-tune',
      bank: bankInfo,
      epochs,
      comparison,
      skipped,
      warnings,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    child.detector.dispose();
  }
}

/** The parent's reference images, carried into the child under the same numbers. */
async function parentReferences(parentDir: string): Promise<Record<string, Uint8Array>> {
  const dir = join(parentDir, REFERENCES_DIR);
  if (!existsSync(dir)) return {};
  const out: Record<string, Uint8Array> = {};
  for (const f of await readdir(dir))
    if (/^\d+\.jpg$/.test(f)) out[join(REFERENCES_DIR, f)] = await readFile(join(dir, f));
  return out;
}

/** The new images the extended bank holds rows of (numbered from `first`), as Review's reference JPEGs. */
async function newReferences(
  d: Patchcore,
  first: number,
  images: ImageSample[],
): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const i of new Set((d.config.bankSources ?? []).filter((s) => s >= first))) {
    const s = images[i - first];
    if (!s) continue;
    out[referenceFile(i)] = await sharp(Buffer.from(s.data.buffer, s.data.byteOffset, s.data.byteLength), {
      raw: { width: s.width, height: s.height, channels: s.channels },
    })
      .resize(REFERENCE_SIDE, REFERENCE_SIDE, { fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: 85 })
      .toBuffer();
  }
  return out;
}
