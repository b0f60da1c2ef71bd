// src/ml: the models and the maths, on the tfjs API only (no fs, no Electron), usable in a worker thread,
// in Node or in a browser. The station's main process and the CLI build on these exports.
export * from './backend';
export * from './models';
export * from './data';
export * from './residual';
export * from './patch';
export * from './train';
export * from './format';
export * from './score';
export * from './metrics';
export * from './calibration';
export * from './colormap';
export * from './engine';
