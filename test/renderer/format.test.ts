// Paths are cut after their separators, so the UI wraps them there and never inside a name.
import { describe, expect, it } from 'vitest';
import { pathParts } from '../../src/renderer/src/format';

describe('pathParts', () => {
  it('cuts after each separator and loses nothing', () => {
    expect(pathParts('/tmp/station-e2e/camera/defect-a.png')).toEqual([
      '/',
      'tmp/',
      'station-e2e/',
      'camera/',
      'defect-a.png',
    ]);
    expect(pathParts('C:\\cams\\line 1\\img.png')).toEqual(['C:\\', 'cams\\', 'line 1\\', 'img.png']);
    expect(pathParts('//share//x/')).toEqual(['//', 'share//', 'x/']);
    for (const p of ['/a/b', 'name.png', '\\\\srv\\share\\f.tif', 'a/b/'])
      expect(pathParts(p).join('')).toBe(p);
  });
});
