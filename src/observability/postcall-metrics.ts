import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const POSTCALL_STAGES = ['refine', 'analyze'] as const;
export type PostcallStage = (typeof POSTCALL_STAGES)[number];

/** Post-call work: jobs by stage and outcome, the queue, and how far live and refined agree. */
export class PostcallMetrics {
  readonly #jobs: Counter<'stage' | 'outcome'>;
  readonly #retries: Counter<'stage'>;
  readonly #wer: Histogram;

  constructor(registry: Registry, queue: { readonly waiting: number; readonly running: number }) {
    const registers = [registry];
    this.#jobs = new Counter({
      name: 'voxline_postcall_jobs_total',
      help: 'Post-call work finished, by stage (refine, analyze) and outcome (ok, failed)',
      labelNames: ['stage', 'outcome'],
      registers,
    });
    for (const stage of POSTCALL_STAGES)
      for (const outcome of ['ok', 'failed']) this.#jobs.inc({ stage, outcome }, 0);
    this.#retries = new Counter({
      name: 'voxline_postcall_retries_total',
      help: 'Requests to the batch engine or the analysis model tried again (429, 5xx, network)',
      labelNames: ['stage'],
      registers,
    });
    new Gauge({
      name: 'voxline_postcall_queue',
      help: 'Calls waiting for post-call work (state=waiting) and being worked on (state=running)',
      labelNames: ['state'],
      registers,
      collect() {
        this.set({ state: 'waiting' }, queue.waiting);
        this.set({ state: 'running' }, queue.running);
      },
    });
    this.#wer = new Histogram({
      name: 'voxline_transcript_agreement_wer',
      help: 'Word error rate of each call’s live transcript against its refined one (0 = the same words)',
      buckets: [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1],
      registers,
    });
  }

  done(stage: PostcallStage, ok: boolean): void {
    this.#jobs.inc({ stage, outcome: ok ? 'ok' : 'failed' });
  }

  retried(stage: PostcallStage): void {
    this.#retries.inc({ stage });
  }

  agreement(wer: number | null): void {
    if (wer !== null) this.#wer.observe(wer);
  }
}
