// The model-update requests are validated at the boundary like every StationApi request: a period must end
// after it starts, ids are positive integers, a child's name becomes a folder name (no paths), the bank's growth
// is a share, and unknown fields are refused.
import { describe, expect, it } from 'vitest';
import { parseRequest } from '../../src/common/api';

describe('model update requests', () => {
  it('take a line, an optional period or chosen inspections, and disputed images to include', () => {
    expect(parseRequest('previewModelUpdate', { lineId: 2 })).toEqual({ lineId: 2 });
    expect(
      parseRequest('startModelUpdate', {
        lineId: 2,
        from: '2026-03-01T00:00:00.000Z',
        to: '2026-03-02T00:00:00+01:00',
        includeDisputed: [7],
        name: 'board-u3',
        maxBankGrowth: 0.1,
        epochs: 2,
      }),
    ).toMatchObject({ lineId: 2, name: 'board-u3', maxBankGrowth: 0.1 });
    expect(parseRequest('startModelUpdate', { lineId: 2, inspectionIds: [1, 2, 3] }).inspectionIds).toEqual([
      1, 2, 3,
    ]);
  });

  it('refuse a period that ends before it starts, bad ids, path-like names and out-of-range caps', () => {
    const bad: [Parameters<typeof parseRequest>[0], unknown, RegExp][] = [
      [
        'previewModelUpdate',
        { lineId: 2, from: '2026-03-02T00:00:00Z', to: '2026-03-01T00:00:00Z' },
        /end after it starts/,
      ],
      ['previewModelUpdate', { lineId: 0 }, /lineId/],
      ['previewModelUpdate', { lineId: 2, from: 'yesterday' }, /from/],
      ['startModelUpdate', { lineId: 2, name: '../parent' }, /model name/],
      ['startModelUpdate', { lineId: 2, maxBankGrowth: 3 }, /maxBankGrowth/],
      ['startModelUpdate', { lineId: 2, epochs: 0 }, /epochs/],
      ['startModelUpdate', { lineId: 2, inspectionIds: [] }, /inspectionIds/],
      ['startModelUpdate', { lineId: 2, includeDisputed: [-1] }, /includeDisputed/],
      ['startModelUpdate', { lineId: 2, folder: '/etc' }, /request|folder/],
      ['activateModel', { lineId: 1, modelId: 'x' }, /modelId/],
      ['activateModel', { lineId: 1, modelId: 2, operator: 'someone else' }, /request|operator/],
      ['discardModelUpdate', {}, /modelId/],
      ['cancelModelUpdate', { jobId: 1.5 }, /jobId/],
    ];
    for (const [method, payload, message] of bad)
      expect(() => parseRequest(method, payload), `${method} ${JSON.stringify(payload)}`).toThrow(message);
  });
});
