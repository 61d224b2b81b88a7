import type { LoadedVoxtral } from './voxtral-onnx.js';

export type ModelState =
  | { readonly state: 'idle' }
  | { readonly state: 'loading'; readonly percent: number }
  | { readonly state: 'ready' }
  | { readonly state: 'failed'; readonly error: string };

/** A loaded model held by one leg's stream until it gives it back. */
export interface ModelLease {
  readonly model: Promise<LoadedVoxtral>;
  release(): void;
}

/**
 * Up to `max` loaded model instances, one per stream at a time (transformers.js keeps one
 * generation's encoder state per model object). Instances load on demand and stay loaded; a load
 * that fails is forgotten, so the next stream tries again (the network may be back).
 */
export class ModelPool {
  readonly #max: number;
  readonly #load: () => Promise<LoadedVoxtral>;
  readonly #free: Promise<LoadedVoxtral>[] = [];
  /** Every instance loaded or loading, leased or not: close() frees them all. */
  readonly #all = new Set<Promise<LoadedVoxtral>>();
  #instances = 0;
  #leased = 0;
  /** Resolved when the last lease comes back (close() waits: a model freed mid-generation crashes). */
  #idle: { promise: Promise<void>; resolve: () => void } | undefined;
  #state: ModelState = { state: 'idle' };

  constructor(max: number, load: () => Promise<LoadedVoxtral>) {
    this.#max = max;
    this.#load = load;
  }

  get max(): number {
    return this.#max;
  }

  get leased(): number {
    return this.#leased;
  }

  get state(): ModelState {
    return this.#state;
  }

  set progress(percent: number) {
    if (this.#state.state === 'loading') this.#state = { state: 'loading', percent };
  }

  /** A model for one stream, or undefined when all `max` are in use. */
  acquire(): ModelLease | undefined {
    let model = this.#free.pop();
    if (!model) {
      if (this.#instances >= this.#max) return undefined;
      this.#instances++;
      model = this.#startLoad();
    }
    this.#leased++;
    let released = false;
    const held = model;
    return {
      model: held,
      release: () => {
        if (released) return;
        released = true;
        this.#leased--;
        if (this.#leased === 0) this.#idle?.resolve();
        // A failed load is not kept: its slot opens for a fresh attempt.
        held.then(
          () => this.#free.push(held),
          () => undefined,
        );
      },
    };
  }

  /**
   * Starts loading one instance ahead of the first call (the download begins at start, not on the
   * first leg). It is not held: the first leg takes it, loaded or still loading.
   */
  preload(): Promise<void> {
    if (this.#free.length > 0 || this.#instances >= this.#max) return Promise.resolve();
    this.#instances++;
    const loading = this.#startLoad();
    this.#free.push(loading);
    // A failed preload leaves the free list, so a later leg starts a fresh load.
    return loading.then(
      () => undefined,
      () => {
        const index = this.#free.indexOf(loading);
        if (index >= 0) this.#free.splice(index, 1);
      },
    );
  }

  /** Frees every idle instance. */
  async close(): Promise<void> {
    const idle = this.#free.splice(0);
    await Promise.all(
      idle.map((m) =>
        m.then(
          (loaded) => loaded.model.dispose(),
          () => undefined,
        ),
      ),
    );
  }

  #startLoad(): Promise<LoadedVoxtral> {
    if (this.#state.state !== 'ready') this.#state = { state: 'loading', percent: 0 };
    const loading = this.#load();
    this.#all.add(loading);
    loading.then(
      () => {
        this.#state = { state: 'ready' };
      },
      (err: Error) => {
        this.#all.delete(loading);
        this.#instances--;
        this.#state = { state: 'failed', error: err.message };
      },
    );
    return loading;
  }
}
