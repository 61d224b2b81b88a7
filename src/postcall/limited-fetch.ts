import { VoxlineError } from '../errors.js';

/** No answer from a batch engine or an analysis model is longer than this. */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

/**
 * `fetch` whose response bodies end in an error past `maxBytes`: a server that streams on and
 * on cannot fill the process's memory through a client (the openai package) that reads it whole.
 */
export function limitedFetch(send: typeof fetch, maxBytes = MAX_ANSWER_BYTES): typeof fetch {
  return async (input, init) => {
    const response = await send(input, init);
    if (!response.body) return response;
    let seen = 0;
    const limited = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          seen += chunk.byteLength;
          if (seen > maxBytes)
            controller.error(new VoxlineError('VL_ERR_BATCH_ENGINE', `the answer is over ${maxBytes} bytes`));
          else controller.enqueue(chunk);
        },
      }),
    );
    return new Response(limited, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}
