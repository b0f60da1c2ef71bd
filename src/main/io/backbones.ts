// Where the bundled backbones' weights come from on disk: npm packages installed with the station, read with
// no network access (an offline factory PC can train). Each becomes a truncated, fully convolutional tfjs model
// (src/ml/backbone); a trained model folder then carries its own copy, so scoring never reads these packages.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { backboneSpec, truncateBackbone, type BackboneSpec } from '../../ml/backbone';

const require = createRequire(import.meta.url);

/** The nsfwjs package's root folder (its "exports" hide package.json, so go up from its entry point). */
function nsfwjsRoot(): string {
  let entry: string;
  try {
    entry = require.resolve('nsfwjs');
  } catch {
    throw new Error('the nsfwjs package (MobileNetV2 weights) is not installed: run npm install');
  }
  return join(dirname(entry), '..', '..');
}

/**
 * The tfjs artifacts of a bundled backbone, read from its package. nsfwjs ships each model as CommonJS modules
 * wrapping the model JSON and base64 weight shards (what its own loader imports; no fetch involved).
 */
export function bundledBackboneArtifacts(id: string): tf.io.ModelArtifacts {
  const spec = backboneSpec(id);
  if (spec.id !== 'mobilenet_v2') throw new Error(`no bundled weights for backbone "${id}"`);
  const dir = join(nsfwjsRoot(), 'dist', 'models', 'mobilenet_v2');
  const modelJson = require(join(dir, 'model.min.js')) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  const shards = modelJson.weightsManifest[0].paths.map((p) => {
    const b64 = require(join(dir, `${p}.min.js`)) as string;
    return Buffer.from(b64, 'base64');
  });
  const bytes = Buffer.concat(shards);
  return {
    modelTopology: modelJson.modelTopology,
    weightSpecs: modelJson.weightsManifest.flatMap((m) => m.weights),
    weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
  };
}

/** A bundled backbone cut after its tapped layers, ready for a feature detector. */
export async function loadBundledBackbone(spec: BackboneSpec | string): Promise<tf.LayersModel> {
  const s = typeof spec === 'string' ? backboneSpec(spec) : spec;
  return truncateBackbone(bundledBackboneArtifacts(s.id), s.layers);
}
