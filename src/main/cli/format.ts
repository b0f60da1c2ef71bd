// Plain-text tables for the CLI.
import type { EvalReport } from '../tasks/evaluate';

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toFixed(3) : '  -  ';
}

export function formatEvalTable(r: EvalReport): string {
  const lines = [
    `model ${r.model} (${r.method}) on ${r.data}; backend ${r.backend}; engine ${r.engine}; threshold ${r.threshold.toPrecision(5)}; false alarms on test/good ${(r.falseAlarmRate * 100).toFixed(1)}%`,
    'type            images  AUROC  AUPRC  F1     recall pixelAUROC',
  ];
  for (const x of [r.overall, ...r.perType]) {
    lines.push(
      `${x.type.padEnd(15)} ${String(x.images).padStart(6)}  ${fmt(x.auroc)}  ${fmt(x.auprc)}  ${fmt(x.f1)}  ${fmt(x.recall)}  ${fmt(x.pixelAuroc)}`,
    );
  }
  if (r.patchStatisticAuroc) {
    lines.push(
      `patch image statistics (AUROC): ${Object.entries(r.patchStatisticAuroc)
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(', ')}`,
    );
  }
  if (r.scoreAlternativesAuroc) {
    lines.push(
      `image scores from the same pass (AUROC): ${Object.entries(r.scoreAlternativesAuroc)
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(', ')}`,
    );
  }
  lines.push(`scoring: ${r.scoringImagesPerSecond.toFixed(1)} images/s`);
  return lines.join('\n');
}
