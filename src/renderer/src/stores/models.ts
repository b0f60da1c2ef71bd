// Models and training jobs: the registry, live training progress (from events), calibration data and
// evaluations. Training, calibration and evaluation all run in the station's workers, never here.
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { CalibrationData, Evaluation, ModelSummary, Requests, TrainingJob } from '../../../common/api';
import { station } from '../station';
import { attempt } from './session';

export const useModels = defineStore('models', () => {
  const models = ref<ModelSummary[]>([]);
  const jobs = ref<TrainingJob[]>([]);
  const calibrations = ref<Record<number, CalibrationData>>({});
  const evaluations = ref<Record<number, Evaluation>>({});
  const evaluating = ref<number | null>(null);

  const runningJobs = computed(() => jobs.value.filter((j) => j.state === 'running' || j.state === 'queued'));
  /** Jobs a line waits for (it starts when their model is ready): unfinished or failed ones that name it. */
  const waitingJobs = computed(() => jobs.value.filter((j) => j.settings.forLine && j.state !== 'done'));

  async function load(): Promise<void> {
    await attempt('models', async () => {
      [models.value, jobs.value] = await Promise.all([station.listModels({}), station.listTrainingJobs({})]);
    });
  }

  function upsertJob(job: TrainingJob): TrainingJob {
    const i = jobs.value.findIndex((j) => j.id === job.id);
    jobs.value = i < 0 ? [job, ...jobs.value] : jobs.value.map((j) => (j.id === job.id ? job : j));
    return job;
  }

  station.onEvent((e) => {
    if (e.type !== 'training-progress') return;
    upsertJob(e.job);
    // A finished job registered its model: refresh the list.
    if (e.job.state === 'done')
      void attempt('models', async () => (models.value = await station.listModels({})));
  });

  const train = (req: Requests['startTraining']) =>
    attempt('startTraining', async () => upsertJob(await station.startTraining(req)));
  const cancel = (jobId: number) =>
    attempt('cancel', async () => upsertJob(await station.cancelTraining({ jobId })));
  const resume = (jobId: number) =>
    attempt('resume', async () => upsertJob(await station.resumeTraining({ jobId })));

  async function calibration(modelId: number): Promise<CalibrationData | undefined> {
    if (calibrations.value[modelId]) return calibrations.value[modelId];
    const c = await attempt('calibration', () => station.getCalibration({ modelId }));
    if (c) calibrations.value = { ...calibrations.value, [modelId]: c };
    return c;
  }

  async function evaluate(
    modelId: number,
    data: string,
    maxPerType?: number,
  ): Promise<Evaluation | undefined> {
    evaluating.value = modelId;
    try {
      const r = await attempt('evaluate', () => station.evaluateModel({ modelId, data, maxPerType }));
      if (r) evaluations.value = { ...evaluations.value, [modelId]: r };
      return r;
    } finally {
      evaluating.value = null;
    }
  }

  const register = (folder: string) =>
    attempt('registerModel', async () => {
      const m = await station.registerModel({ folder });
      models.value = [...models.value.filter((x) => x.id !== m.id), m];
      return m;
    });

  return {
    models,
    jobs,
    runningJobs,
    waitingJobs,
    calibrations,
    evaluations,
    evaluating,
    load,
    train,
    cancel,
    resume,
    calibration,
    evaluate,
    register,
  };
});
