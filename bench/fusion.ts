// `npm run bench:fusion`: which image score to take from a trained GANomaly, measured on the models that
// `npm run bench:detect` trained (.tmp/detect/models/ganomaly-<set>) without retraining. Besides GANomaly's
// latent distance and the reconstruction error, it scores nearest-neighbour distances (mean cosine distance to
// the k = 5 nearest training images; Bergman, Cohen, Hoshen 2020, "Deep Nearest Neighbor Anomaly Detection")
// in the generator encoder's latent space and in the discriminator's feature space, and z-score fusions.
// Every fusion is standardised on the model's held-out CALIBRATION good images (never on the test set), so a
// fused score is as legitimate as the single ones.
//   npm run bench:fusion -- [--sets fmnist0,...,fmnist9] [--work .tmp/detect] [--max-test 50]
import * as tf from '@tensorflow/tfjs';
import { writeFileSync } from 'node:fs';
import { cpus, availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { describeBackend, selectBackend } from '../src/ml';
import { toBatch, type ImageSample } from '../src/ml/data';
import { auroc } from '../src/ml/metrics';
import type { Ganomaly } from '../src/ml/models/ganomaly';
import { loadModel } from '../src/main/io/model-store';
import { mvtecTestSet, splitGoodImages, trainingImages } from '../src/main/io/datasets';
import { loadImages } from '../src/main/io/images';

const { values } = parseArgs({
  options: {
    sets: { type: 'string', default: Array.from({ length: 10 }, (_, i) => `fmnist${i}`).join(',') },
    work: { type: 'string', default: '.tmp/detect' },
    'max-test': { type: 'string', default: '50' },
    out: { type: 'string', default: 'bench/results/fusion.md' },
  },
});

interface Features {
  latent: number[][];
  dfeat: number[][];
  latentScore: number[];
  recon: number[];
}

async function features(g: Ganomaly, samples: ImageSample[]): Promise<Features> {
  const f: Features = { latent: [], dfeat: [], latentScore: [], recon: [] };
  for (let i = 0; i < samples.length; i += 64) {
    const x = toBatch(samples.slice(i, i + 64));
    const o = tf.tidy(() => {
      const { latentI: li, xHat: xh, latentO: lo } = g.infer(x);
      const d = (g.discriminator.apply(x, { training: false }) as tf.Tensor[])[1];
      return [
        li.reshape([li.shape[0], -1]),
        d.reshape([d.shape[0], -1]),
        tf.squaredDifference(li, lo).mean([1, 2, 3]),
        tf.abs(tf.sub(x, xh)).mean([1, 2, 3]),
      ];
    });
    f.latent.push(...(o[0].arraySync() as number[][]));
    f.dfeat.push(...(o[1].arraySync() as number[][]));
    f.latentScore.push(...o[2].dataSync());
    f.recon.push(...o[3].dataSync());
    tf.dispose([x, ...o]);
  }
  return f;
}

/** Mean cosine distance to the k nearest bank rows. */
function knn(bank: number[][], queries: number[][], k = 5): number[] {
  return tf.tidy(() => {
    const unit = (m: tf.Tensor2D) => m.div(m.norm('euclidean', 1, true));
    const sim = tf.matMul(unit(tf.tensor2d(queries)), unit(tf.tensor2d(bank)), false, true);
    return [...tf.topk(sim, k).values.mean(1).dataSync()].map((s) => 1 - s);
  });
}

/** Standardise by the held-out good images' mean and standard deviation. */
function z(values: number[], good: number[]): number[] {
  const mu = good.reduce((a, b) => a + b, 0) / good.length;
  const sd = Math.sqrt(good.reduce((a, b) => a + (b - mu) ** 2, 0) / good.length) || 1;
  return values.map((v) => (v - mu) / sd);
}
const add = (...xs: number[][]) => xs[0].map((_, i) => xs.reduce((a, x) => a + x[i], 0));

const backend = await selectBackend();
console.error(`${describeBackend(backend)}\nshell: bench (node ${process.versions.node})`);
const rows: Record<string, Record<string, number>> = {};
for (const set of values.sets.split(',')) {
  // Where bench:detect took the set from: its Fashion-MNIST export, or ../shared/data for MVTec-layout sets.
  const data = set.startsWith('fmnist')
    ? `${values.work}/data/${set}-t${values['max-test']}`
    : `../shared/data/${set}`;
  const model = await loadModel(`${values.work}/models/ganomaly-${set}`);
  const g = model.detector as unknown as Ganomaly;
  // The same split training used: the bank is the training images, the statistics the calibration half.
  const split = splitGoodImages(await trainingImages(data));
  const cal = split.calibration;
  const tests = await mvtecTestSet(data);
  const load = async (files: string[]) => (await loadImages(files, model.load)).samples;
  const tr = await features(g, await load(split.train));
  const ca = await features(g, await load(cal));
  const te = await features(g, await load(tests.map((t) => t.file)));
  const labels = tests.map((t) => t.label);
  const kl = knn(tr.latent, te.latent);
  const klGood = knn(tr.latent, ca.latent);
  const kd = knn(tr.dfeat, te.dfeat);
  const kdGood = knn(tr.dfeat, ca.dfeat);
  const zl = z(te.latentScore, ca.latentScore);
  const zr = z(te.recon, ca.recon);
  const zkl = z(kl, klGood);
  const zkd = z(kd, kdGood);
  rows[set] = {
    'latent (GANomaly)': auroc(te.latentScore, labels),
    'reconstruction L1': auroc(te.recon, labels),
    'kNN latent': auroc(kl, labels),
    'kNN D-features': auroc(kd, labels),
    'z(latent+recon)': auroc(add(zl, zr), labels),
    'z(latent+recon+kNN latent)': auroc(add(zl, zr, zkl), labels),
    'z(latent+recon+kNN D)': auroc(add(zl, zr, zkd), labels),
    'z(all four)': auroc(add(zl, zr, zkl, zkd), labels),
  };
  console.error(
    set,
    Object.entries(rows[set])
      .map(([k, v]) => `${k} ${v.toFixed(3)}`)
      .join(' | '),
  );
  model.detector.dispose();
}

const sets = Object.keys(rows);
const keys = Object.keys(rows[sets[0]]);
const mean = (k: string) => sets.reduce((a, s) => a + rows[s][k], 0) / sets.length;
const md = [
  '# Score fusion on trained GANomaly models (image AUROC)',
  '',
  `Written by \`npm run bench:fusion\` on the models \`npm run bench:detect\` trained; ${describeBackend(backend).split('\n')[0]}; ${cpus()[0]?.model} (${availableParallelism()} cores).`,
  'kNN = mean cosine distance to the 5 nearest training images; z() = standardised on held-out calibration good images.',
  '',
  `| data set | ${keys.join(' | ')} |`,
  `|---|${keys.map(() => '---').join('|')}|`,
  ...sets.map((s) => `| ${s} | ${keys.map((k) => rows[s][k].toFixed(3)).join(' | ')} |`),
  `| **mean (${sets.length})** | ${keys.map((k) => `**${mean(k).toFixed(3)}**`).join(' | ')} |`,
  '',
];
writeFileSync(values.out, md.join('\n'));
console.log(md.join('\n'));
