// Where an update finds its images. A past inspection's image is its stored original (the image as its
// scoring model saw it) when that model prepared images exactly as the parent does; otherwise the camera file,
// if it is still there unchanged (same sha256), prepared the parent's way and stored, so the lineage can name it.
// A model's old good images are its training folder's split (reproduced from the folder while its contents
// still hash to what the model recorded) plus, for a child, the images its ancestors' updates added.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { ModelMeta } from '../../../ml';
import { hashFiles, splitGoodImages, trainingImages } from '../../io/datasets';
import { decodeImage, encodePng } from '../../io/images';
import { inputHandling } from '../../io/model-store';
import type { GoodSets, ImageRef } from '../../tasks/update-model';
import type { ArtifactStore } from '../artifacts';
import type { StationDatabase } from '../database';
import type { LineageStore } from './store';

/** Whether two models prepare images identically (then one's stored originals are the other's input). */
export function sameInput(a: ModelMeta['input'], b: ModelMeta['input']): boolean {
  const canon = (i: ModelMeta['input']) =>
    JSON.stringify(
      Object.entries(i)
        .filter(([, v]) => v !== undefined)
        .sort(([x], [y]) => x.localeCompare(y)),
    );
  return canon(a) === canon(b);
}

export interface PastInspectionImage {
  inspectionId: number;
  sha256: string;
  originalKey: string | null;
  modelId: number | null;
  filePath: string;
}

/**
 * The image of a past inspection as `parent` sees it, as a stored artifact (its key), or why there is none.
 * Never reads a camera file whose content changed since it was scored.
 */
export async function inspectionImage(
  db: StationDatabase,
  artifacts: ArtifactStore,
  parent: ModelMeta,
  p: PastInspectionImage,
): Promise<{ key: string } | { reason: string }> {
  const scoredBy = p.modelId === null ? undefined : db.getModel(p.modelId);
  if (p.originalKey && scoredBy && sameInput(scoredBy.meta.input, parent.input)) {
    if (existsSync(artifacts.pathOf(p.originalKey))) return { key: p.originalKey };
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(p.filePath);
  } catch {
    return { reason: 'its stored image was made for another input size and the camera file is gone' };
  }
  if (createHash('sha256').update(bytes).digest('hex') !== p.sha256)
    return { reason: 'the camera file changed since it was scored' };
  try {
    const s = await decodeImage(bytes, p.filePath, inputHandling(parent.input).load);
    return { key: await artifacts.put(await encodePng(s.data, s.width, s.height, s.channels)) };
  } catch (e) {
    return { reason: `the camera file cannot be read: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** The holdout fractions training may have used (meta.json does not record it): the default first. */
const HOLDOUTS = [0.2, ...Array.from({ length: 12 }, (_, i) => Math.round((0.05 + i * 0.05) * 100) / 100)];

/**
 * A model's good images: train (what it learnt from), validation (model selection) and calibration (held out
 * for the threshold). `null` with the reason when the model trained from a folder that is gone or changed.
 */
export async function goodSets(
  db: StationDatabase,
  lineage: LineageStore,
  artifacts: ArtifactStore,
  modelId: number,
): Promise<{ sets: GoodSets | null; reason?: string }> {
  const made = lineage.createdRecord(modelId);
  if (made) {
    const base = await goodSets(db, lineage, artifacts, made.parentModelId!);
    if (!base.sets) return base;
    const sets: GoodSets = {
      train: [...base.sets.train],
      validation: [...base.sets.validation],
      calibration: [...base.sets.calibration],
    };
    for (const i of lineage.images(made.id)) {
      if (!i.imageKey || (i.role !== 'added' && i.role !== 'held-out')) continue;
      const ref: ImageRef = { id: i.inspectionId, file: artifacts.pathOf(i.imageKey), asSeen: true };
      (i.role === 'added' ? sets.train : sets.calibration).push(ref);
    }
    return { sets };
  }
  const model = db.getModel(modelId);
  if (!model) return { sets: null, reason: `model #${modelId} is not registered` };
  const t = model.meta.training;
  if (!t?.dataDir)
    return { sets: null, reason: `${model.name} does not record the folder it was trained on` };
  if (!existsSync(t.dataDir)) return { sets: null, reason: `its training folder ${t.dataDir} is gone` };
  let files: string[];
  try {
    files = await trainingImages(t.dataDir);
  } catch (e) {
    return { sets: null, reason: (e as Error).message };
  }
  if ((await hashFiles(files)) !== t.dataHash)
    return {
      sets: null,
      reason: `its training folder ${t.dataDir} changed since it was trained (hash differs)`,
    };
  for (const h of HOLDOUTS) {
    const s = splitGoodImages(files, h);
    if (
      s.train.length === t.images &&
      s.validation.length === t.validationImages &&
      s.calibration.length === t.calibrationImages
    ) {
      const ref = (file: string): ImageRef => ({ id: -1, file, asSeen: false });
      return {
        sets: {
          train: s.train.map(ref),
          validation: s.validation.map(ref),
          calibration: s.calibration.map(ref),
        },
      };
    }
  }
  return {
    sets: null,
    reason: `its training split of ${t.dataDir} cannot be reproduced (some images were unreadable, or a --limit was used)`,
  };
}
