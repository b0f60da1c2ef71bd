// Backend selection on a machine without libtensorflow (CI and these dev machines): the native backends
// are skipped with a reason, wasm runs with the composite kernels, and a bad override is refused.
import { afterEach, expect, it } from 'vitest';
import { describeBackend, resetBackendSelectionForTests, selectBackend } from '../../src/ml/backend';

afterEach(() => resetBackendSelectionForTests());

it('falls through to a working backend and says why the others were skipped', async () => {
  const s = await selectBackend();
  // Whatever the machine has, the chosen backend must come with reasons for every faster one skipped.
  const order = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];
  expect(s.skipped.map((k) => k.name)).toEqual(order.slice(0, order.indexOf(s.name)));
  for (const k of s.skipped) expect(k.reason.length).toBeGreaterThan(10);
  const line = describeBackend(s);
  expect(line).toMatch(new RegExp(`^ML backend: ${s.name}`));
  if (s.name === 'wasm') expect(s.compositeKernels).toContain('Conv2DBackpropFilter');
});

it('honours an override', async () => {
  const s = await selectBackend('cpu');
  expect(s.name).toBe('cpu');
  expect(s.forced).toBe(true);
  expect(s.compositeKernels).toContain('Conv2DBackpropFilter');
});

it('refuses an unknown backend name', async () => {
  await expect(selectBackend('tpu')).rejects.toThrow(/unknown backend "tpu"/);
});
