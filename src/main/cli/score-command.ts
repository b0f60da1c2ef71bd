// `station score`: score image files with a model; print raw score, normalised score and verdict per file,
// and with --heatmap write the overlay (and reconstruction) PNGs the operator would see. A model that gives
// no reconstruction (patch mode, feature-based methods) gets one line saying so, not a missing or blank file.
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { normaliseScore, overlayRgba, scoreImages, TfjsEngine, verdict } from '../../ml';
import { encodePng, ImageError, loadImage, unitToBytes } from '../io/images';
import { loadModel } from '../io/model-store';
import { checkParity, exportOnnx, OnnxEngine } from '../../ml/onnx';
import { probeBatch } from '../station/engine-choice';

export async function runScore(modelDir: string, files: string[], heatmapDir?: string): Promise<number> {
  const { meta, detector, input, load } = await loadModel(modelDir);
  const cal = meta.calibration;
  if (heatmapDir) await mkdir(heatmapDir, { recursive: true });
  let failures = 0;
  const said = new Set<string>();
  /** A note on stderr (stdout is the table), once per run. */
  const sayOnce = (note: string) => {
    if (!said.has(note)) console.error(note);
    said.add(note);
  };
  // Output names: the image's name, or folder-name when two files of the run share one (test/good/000.png
  // and test/dent/000.png), with the file's position added if even that repeats, so none overwrites another.
  const stems = files.map((f) => basename(f, extname(f)));
  const repeats = (xs: string[], i: number) => xs.indexOf(xs[i]) !== xs.lastIndexOf(xs[i]);
  const named = stems.map((s, i) => (repeats(stems, i) ? `${basename(dirname(files[i]))}-${s}` : s));
  const outName = (i: number) => (repeats(named, i) ? `${named[i]}-${i + 1}` : named[i]);
  const what = `${meta.method}${meta.input.mode === 'patch' ? ', patch mode' : ''}`;
  try {
    console.log(['file', 'score', 'normalised', 'verdict'].join('\t'));
    for (const [i, file] of files.entries()) {
      let sample;
      try {
        sample = await loadImage(file, load);
      } catch (e) {
        failures += 1;
        console.log([file, '-', '-', `error: ${e instanceof ImageError ? e.message : String(e)}`].join('\t'));
        continue;
      }
      const [r] = await scoreImages(new TfjsEngine(detector), [sample], input, {
        maps: Boolean(heatmapDir),
        reconstructions: Boolean(heatmapDir),
      });
      const norm = cal ? normaliseScore(r.score, cal) : NaN;
      console.log(
        [
          file,
          r.score.toPrecision(6),
          cal ? norm.toFixed(3) : '-',
          cal ? verdict(r.score, cal) : 'uncalibrated',
        ].join('\t'),
      );
      if (heatmapDir && !r.map) sayOnce(`no heatmaps: this model (${what}) gives no anomaly map`);
      if (heatmapDir && r.map) {
        const stem = outName(i);
        // The colour scale the station's Review uses (a feature model's runs from the good parts to the threshold).
        const vmax = meta.heatmap?.vmax ?? r.map.reduce((m, v) => Math.max(m, v), -Infinity);
        const vmin = meta.heatmap?.vmin ?? 0;
        const overlay = overlayRgba(sample.data, r.map, r.width, r.height, { vmin, vmax, opacity: 0.5 });
        await writeFile(
          join(heatmapDir, `${stem}.heatmap.png`),
          await encodePng(overlay, r.width, r.height, 4),
        );
        if (r.reconstruction) {
          await writeFile(
            join(heatmapDir, `${stem}.reconstruction.png`),
            await encodePng(unitToBytes(r.reconstruction), r.width, r.height, meta.input.channels),
          );
        } else sayOnce(`no reconstruction PNGs: this model (${what}) gives no reconstruction; heatmaps only`);
      }
    }
  } finally {
    detector.dispose();
  }
  return failures ? 1 : 0;
}

/** `station export`: write MODEL's ONNX graph to FILE after checking ONNX Runtime reproduces tfjs on it. */
export async function runExport(modelDir: string, file: string): Promise<number> {
  const { meta, detector } = await loadModel(modelDir);
  try {
    const bytes = exportOnnx(detector);
    const onnx = await OnnxEngine.create(bytes);
    const p = await checkParity(
      onnx,
      new TfjsEngine(detector),
      probeBatch(meta.input.size, meta.input.channels),
    );
    await onnx.dispose();
    const worst = Math.max(p.score, p.error, p.map, p.reconstruction);
    await writeFile(file, bytes);
    console.log(
      `wrote ${file} (${(bytes.length / 1e6).toFixed(1)} MB, ${meta.method} ${meta.input.size}x${meta.input.size}x${meta.input.channels}); ` +
        `ONNX Runtime vs tfjs: max relative error ${worst.toExponential(1)} (${p.ok ? 'parity OK' : 'PARITY FAILED'})`,
    );
    return p.ok ? 0 : 1;
  } finally {
    detector.dispose();
  }
}
