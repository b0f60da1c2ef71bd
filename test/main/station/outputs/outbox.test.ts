// The outbox on a real SQLite file: a message row is committed in the same transaction as the inspection or
// decision it announces (and rolled back with it), only for the outputs that serve that line, in commit order,
// also when another connection writes the row; a sender marks a delivered prefix sent, never more; passwords
// stay out of every configuration query; the messages and topics rendered from the rows.
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  openDatabase,
  type NewInspection,
  type StationDatabase,
} from '../../../../src/main/station/database';
import { renderMessage, topicFor, topicLevel } from '../../../../src/main/station/outputs/messages';
import { OutboxStore, type OutboxMessage } from '../../../../src/main/station/outputs/outbox-store';
import { OutboxSender, type Transport } from '../../../../src/main/station/outputs/sender';
import { tempDir } from '../../../helpers/fixtures';
import { waitFor } from '../../../helpers/station-fixtures';

const T0 = Date.parse('2025-03-01T06:00:00.000Z');

function inspection(lineId: number, i: number, over: Partial<NewInspection> = {}): NewInspection {
  return {
    lineId,
    modelId: null,
    modelVersion: 'v1',
    filePath: `/camera/line${lineId}/img-${i}.png`,
    fileSize: 10_000 + i,
    fileMtimeMs: T0 + i,
    sha256: 'ab'.repeat(32),
    receivedAt: T0 + i * 1000,
    scoredAt: T0 + i * 1000 + 40,
    rawScore: 0.9,
    normalizedScore: 0.7,
    threshold: 0.8125,
    verdict: 'flag',
    ...over,
  };
}

let tmp: ReturnType<typeof tempDir>;
let db: StationDatabase;
let store: OutboxStore;

beforeEach(() => {
  tmp = tempDir();
  db = openDatabase(`${tmp.dir}/station.db`);
  store = new OutboxStore(db);
});
afterEach(() => {
  db.close();
  tmp.cleanup();
});

const mqttConfig = { url: 'mqtt://127.0.0.1:1883', topicPrefix: 'plant/a', qos: 1 };

describe('outbox', () => {
  it('commits a message with each inspection and decision, for the outputs serving that line, in order', () => {
    const l1 = db.addLine({ name: 'Line 1', folder: '/camera/1' });
    const l2 = db.addLine({ name: 'Line 2', folder: '/camera/2' });
    // Nothing configured: no rows at all.
    db.insertInspection(inspection(l1.id, 0));
    const mqtt1 = store.saveOutput({
      kind: 'mqtt',
      lineId: l1.id,
      enabled: true,
      decisions: true,
      config: mqttConfig,
    });
    const opcua = store.saveOutput({
      kind: 'opcua',
      lineId: null,
      enabled: true,
      decisions: false,
      config: {},
    });
    const ids = [1, 2, 3].map((i) => db.insertInspection(inspection(l1.id, i)));
    const other = db.insertInspection(inspection(l2.id, 1));
    const d = db.appendDecision({
      inspectionId: ids[1],
      decision: 'defect',
      operator: 'anna',
      comment: 'scratch',
    });

    expect(store.rows(mqtt1.id).map((r) => [r.kind, r.inspectionId])).toEqual([
      ['inspection', ids[0]],
      ['inspection', ids[1]],
      ['inspection', ids[2]],
      ['decision', ids[1]],
    ]);
    // The station-wide output (decisions off) gets every line's inspections and no decisions.
    expect(store.rows(opcua.id).map((r) => r.inspectionId)).toEqual([...ids, other]);
    expect(store.backlog(mqtt1.id)).toBe(4);

    const pending = store.pending(mqtt1.id, 10);
    expect(pending.map((m) => m.seq)).toEqual([...pending.map((m) => m.seq)].sort((a, b) => a - b));
    expect(renderMessage(pending[3])).toEqual({
      v: 1,
      type: 'decision',
      id: d.id,
      inspectionId: ids[1],
      line: 'Line 1',
      lineId: l1.id,
      file: '/camera/line1/img-2.png',
      decision: 'defect',
      operator: 'anna',
      comment: 'scratch',
      corrects: null,
      time: d.decidedAt,
    });
    expect(renderMessage(pending[0])).toEqual({
      v: 1,
      type: 'inspection',
      id: ids[0],
      line: 'Line 1',
      lineId: l1.id,
      file: '/camera/line1/img-1.png',
      sha256: 'ab'.repeat(32),
      score: 0.9,
      normalizedScore: 0.7,
      threshold: 0.8125,
      verdict: 'flag',
      error: null,
      modelVersion: 'v1',
      time: '2025-03-01T06:00:01.040Z',
      receivedAt: '2025-03-01T06:00:01.000Z',
    });
  });

  it('rolls the message back with its row, and a disabled output collects nothing', () => {
    const l1 = db.addLine({ name: 'L1', folder: '/camera/1' });
    const out = store.saveOutput({
      kind: 'mqtt',
      lineId: l1.id,
      enabled: true,
      decisions: true,
      config: mqttConfig,
    });
    expect(() =>
      db.transaction(() => {
        db.insertInspection(inspection(l1.id, 1));
        expect(store.backlog(out.id)).toBe(1); // inside: the row and its message together
        throw new Error('crash before commit');
      }),
    ).toThrow('crash before commit');
    expect(db.countInspections()).toBe(0);
    expect(store.rows(out.id)).toEqual([]);

    // A duplicate file (the unique key refuses the row) leaves no message either.
    db.insertInspection(inspection(l1.id, 2));
    expect(() => db.insertInspection(inspection(l1.id, 2))).toThrow(/already inspected/);
    expect(store.rows(out.id)).toHaveLength(1);

    store.saveOutput({ kind: 'mqtt', lineId: l1.id, enabled: false, decisions: true, config: mqttConfig });
    db.insertInspection(inspection(l1.id, 3));
    expect(store.rows(out.id)).toHaveLength(1);
  });

  it('announces rows another connection writes (a decision taken elsewhere)', () => {
    const l1 = db.addLine({ name: 'L1', folder: '/camera/1' });
    const out = store.saveOutput({
      kind: 'mqtt',
      lineId: l1.id,
      enabled: true,
      decisions: true,
      config: mqttConfig,
    });
    const id = db.insertInspection(inspection(l1.id, 1));
    const side = openDatabase(db.file);
    side.appendDecision({ inspectionId: id, decision: 'false_alarm', operator: 'ben' });
    side.close();
    expect(store.pending(out.id, 10).map((m) => [m.kind, m.decision?.decision ?? null])).toEqual([
      ['inspection', null],
      ['decision', 'false_alarm'],
    ]);
  });

  it('marks only a delivered prefix sent; pending resumes after it; prune removes old sent rows only', () => {
    const l1 = db.addLine({ name: 'L1', folder: '/camera/1' });
    const out = store.saveOutput({
      kind: 'mqtt',
      lineId: l1.id,
      enabled: true,
      decisions: true,
      config: mqttConfig,
    });
    for (let i = 0; i < 5; i++) db.insertInspection(inspection(l1.id, i));
    const all = store.pending(out.id, 100);
    expect(store.markSent(out.id, all[1].seq)).toBe(2);
    expect(store.backlog(out.id)).toBe(3);
    expect(store.pending(out.id, 100).map((m) => m.seq)).toEqual(all.slice(2).map((m) => m.seq));
    expect(store.pending(out.id, 1, all[2].seq).map((m) => m.seq)).toEqual([all[3].seq]);
    expect(store.pruneSent(new Date(Date.now() - 60_000))).toBe(0); // sent just now: kept
    expect(store.pruneSent(new Date(Date.now() + 60_000))).toBe(2);
    expect(store.rows(out.id).map((r) => r.sentAt)).toEqual([null, null, null]);
  });

  it('keeps passwords out of configurations, keeps them on update unless cleared, and removes an output with its messages', () => {
    const l1 = db.addLine({ name: 'L1', folder: '/camera/1' });
    const out = store.saveOutput({
      kind: 'mqtt',
      lineId: l1.id,
      enabled: true,
      decisions: true,
      config: { ...mqttConfig, username: 'station' },
      secrets: { password: 's3cret-pw' },
    });
    expect(JSON.stringify(store.listOutputs())).not.toContain('s3cret-pw');
    expect(JSON.stringify(store.getOutput(out.id))).not.toContain('s3cret-pw');
    expect(store.secrets(out.id)).toEqual({ password: 's3cret-pw' });
    store.saveOutput({ kind: 'mqtt', lineId: l1.id, enabled: true, decisions: true, config: mqttConfig });
    expect(store.secrets(out.id)).toEqual({ password: 's3cret-pw' });
    store.saveOutput({
      kind: 'mqtt',
      lineId: l1.id,
      enabled: true,
      decisions: true,
      config: mqttConfig,
      secrets: { password: null },
    });
    expect(store.secrets(out.id)).toEqual({});
    // One MQTT output per line: saving again changed the same row.
    expect(store.listOutputs()).toHaveLength(1);

    db.insertInspection(inspection(l1.id, 1));
    expect(store.removeOutput(out.id)).toBe(true);
    expect(store.listOutputs()).toEqual([]);
    const raw = new Database(db.file, { readonly: true });
    expect(raw.prepare('SELECT count(*) AS n FROM outbox').get()).toEqual({ n: 0 });
    raw.close();
    expect(db.integrityCheck()).toBe('ok');
  });

  it('topics: the prefix, the line name as one level (no /, + or #), the message kind', () => {
    expect(topicFor('plant/a', 'Line 1', 1, 'inspection')).toBe('plant/a/Line 1/inspection');
    expect(topicLevel('press/2 #+', 2)).toBe('press_2 __');
    expect(topicLevel('   ', 7)).toBe('line-7');
  });
});

describe('outbox sender', () => {
  /** A transport that delivers up to `limit` messages per call, then fails the rest of the batch. */
  class Flaky implements Transport {
    ready = true;
    delivered: number[] = [];
    limit = Infinity;
    async deliver(batch: OutboxMessage[]): Promise<number> {
      const n = Math.min(batch.length, this.limit);
      this.delivered.push(...batch.slice(0, n).map((m) => m.inspection.id));
      return n;
    }
  }

  it('delivers in order, marks only what was delivered, and goes on from there after a failure', async () => {
    const l1 = db.addLine({ name: 'L1', folder: '/camera/1' });
    const out = store.saveOutput({
      kind: 'mqtt',
      lineId: l1.id,
      enabled: true,
      decisions: true,
      config: mqttConfig,
    });
    const ids = Array.from({ length: 30 }, (_, i) => db.insertInspection(inspection(l1.id, i)));
    const t = new Flaky();
    t.limit = 7; // every round fails after 7 messages
    const sender = new OutboxSender(store, out.id, t, { window: 10, pollMs: 20 });
    try {
      await waitFor('everything delivered', () => store.backlog(out.id) === 0);
      expect(t.delivered).toEqual(ids); // each once, in order: the failed tail of a round is sent next round
      expect(sender.sent).toBe(30);

      t.ready = false; // the transport is down: rows wait
      const more = [db.insertInspection(inspection(l1.id, 100)), db.insertInspection(inspection(l1.id, 101))];
      sender.kick();
      await new Promise((r) => setTimeout(r, 100));
      expect(store.backlog(out.id)).toBe(2);
      t.ready = true;
      sender.kick();
      await waitFor('the two after the outage', () => store.backlog(out.id) === 0);
      expect(t.delivered).toEqual([...ids, ...more]);
    } finally {
      await sender.close();
    }
  });
});
