// A separate process for the durability test in test/main/station/database.test.ts: commits rows through
// openDatabase, says so on stdout, then waits to be killed (SIGKILL: no exit handlers, no close()).
// Usage: node --import tsx test/helpers/station-db-child.ts <db file> <inspections>
import { openDatabase } from '../../src/main/station/database';

const [file, count] = process.argv.slice(2);
const db = openDatabase(file);
const line = db.addLine({ name: 'killed', folder: '/camera/killed' });
for (let i = 0; i < Number(count); i++) {
  db.insertInspection({
    lineId: line.id,
    modelId: null,
    modelVersion: 'v-kill',
    filePath: `/camera/killed/${i}.png`,
    fileSize: 1000 + i,
    fileMtimeMs: 1_700_000_000_000 + i,
    sha256: null,
    receivedAt: new Date(),
    scoredAt: new Date(),
    rawScore: 0.9,
    normalizedScore: 0.7,
    threshold: 0.5,
    verdict: 'flag',
  });
}
db.appendDecision({ inspectionId: 1, decision: 'defect', operator: 'anna', comment: 'before the kill' });
process.stdout.write('committed\n');
setInterval(() => {}, 60_000);
