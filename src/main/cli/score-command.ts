// `station score`: score image files with a model; print raw score, normalised score and verdict per file,
// and with --heatmap write the overlay (and reconstruction) PNGs the operator would see.
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { normaliseScore, overlayRgba, scoreImages, TfjsEngine, verdict } from '../../ml';
import { encodePng, ImageError, loadImage, unitToBytes } from '../io/images';
import { loadModel } from '../io/model-store';

export async function runScore(modelDir: string, files: string[], heatmapDir?: string): Promise<number> {
  const { meta, detector, input, load } = await loadModel(modelDir);
  const cal = meta.calibration;
  if (heatmapDir) await mkdir(heatmapDir, { recursive: true });
  let failures = 0;
  try {
    console.log(['file', 'score', 'normalised', 'verdict'].join('\t'));
    for (const file of files) {
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
      if (heatmapDir && r.map) {
        const stem = basename(file, extname(file));
        const vmax = meta.heatmap?.vmax ?? Math.max(...r.map);
        const overlay = overlayRgba(sample.data, r.map, r.width, r.height, { vmin: 0, vmax, opacity: 0.5 });
        await writeFile(
          join(heatmapDir, `${stem}.heatmap.png`),
          await encodePng(overlay, r.width, r.height, 4),
        );
        if (r.reconstruction) {
          await writeFile(
            join(heatmapDir, `${stem}.reconstruction.png`),
            await encodePng(unitToBytes(r.reconstruction), r.width, r.height, meta.input.channels),
          );
        }
      }
    }
  } finally {
    detector.dispose();
  }
  return failures ? 1 : 0;
}
