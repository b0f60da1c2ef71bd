// ONNX export and the ONNX Runtime scoring engine (Node only: onnxruntime-node is a native addon, so this
// is not re-exported from src/ml/index.ts, which must stay usable in a browser or worker).
export * from './export';
export * from './runtime';
export * from './backbone-source';
