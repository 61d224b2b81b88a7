import type { AgentTool } from './tool.js';

/** end_call: the agent says goodbye (its reply), then voxline hangs up. */
export const endCallTool: AgentTool = {
  definition: {
    type: 'function',
    function: {
      name: 'end_call',
      description: 'Hang up once your reply has been spoken. Say goodbye in the same reply.',
      parameters: {
        type: 'object',
        properties: { reason: { type: 'string', description: 'why the call ends' } },
        additionalProperties: false,
      },
    },
  },
  async run(args) {
    const reason = typeof args.reason === 'string' ? args.reason.slice(0, 200) : 'agent ended the call';
    return { result: 'The call will end after your reply.', action: { kind: 'end_call', reason } };
  },
};

/** transfer_call: only to the destinations the operator configured, never a number the model made up. */
export function transferCallTool(targets: Readonly<Record<string, string>>): AgentTool | undefined {
  const names = Object.keys(targets);
  if (names.length === 0) return undefined;
  return {
    definition: {
      type: 'function',
      function: {
        name: 'transfer_call',
        description: 'Transfer the caller to a person or team once your reply has been spoken.',
        parameters: {
          type: 'object',
          properties: { destination: { type: 'string', enum: names, description: 'where to transfer' } },
          required: ['destination'],
          additionalProperties: false,
        },
      },
    },
    async run(args) {
      const destination = String(args.destination ?? '');
      const target = targets[destination];
      if (!target)
        return { result: JSON.stringify({ error: `unknown destination; use one of ${names.join(', ')}` }) };
      return {
        result: `The caller will be transferred to ${destination} after your reply.`,
        action: { kind: 'transfer_call', destination, target },
      };
    },
  };
}

/**
 * pause_recording / resume_recording: secure mode while the caller reads out card details. The
 * recording is silent and nothing is transcribed (so the model does not hear the numbers either)
 * until resumed. Offered with AGENT_PAUSE_TOOLS.
 */
export const pauseRecordingTools: readonly AgentTool[] = [
  {
    definition: {
      type: 'function',
      function: {
        name: 'pause_recording',
        description:
          'Pause the call recording and transcription before the caller reads out payment card details. You will not hear what they say until you resume.',
        parameters: { type: 'object', properties: {}, additionalProperties: false },
      },
    },
    async run(_args, { secureMode }) {
      if (!secureMode)
        return { result: JSON.stringify({ error: 'recording cannot be paused on this call' }) };
      return { result: secureMode.pause() ? 'Recording paused.' : 'Recording was already paused.' };
    },
  },
  {
    definition: {
      type: 'function',
      function: {
        name: 'resume_recording',
        description: 'Resume the call recording and transcription once the payment details have been given.',
        parameters: { type: 'object', properties: {}, additionalProperties: false },
      },
    },
    async run(_args, { secureMode }) {
      if (!secureMode)
        return { result: JSON.stringify({ error: 'recording cannot be resumed on this call' }) };
      return { result: secureMode.resume() ? 'Recording resumed.' : 'Recording was not paused.' };
    },
  },
];

/**
 * send_dtmf: presses keys in the call, for an IVR the agent called or was put through to. Runs at
 * once (before the reply is spoken) and tells the model whether the keys went out. Offered with
 * AGENT_DTMF_TOOL.
 */
export const sendDtmfTool: AgentTool = {
  definition: {
    type: 'function',
    function: {
      name: 'send_dtmf',
      description:
        'Press keys on the phone keypad now, to choose a menu option in an automated phone system.',
      parameters: {
        type: 'object',
        properties: {
          digits: {
            type: 'string',
            pattern: '^[0-9*#A-D]{1,32}$',
            description: 'the keys, e.g. "1" or "4357#"',
          },
        },
        required: ['digits'],
        additionalProperties: false,
      },
    },
  },
  async run(args, { keypad }) {
    const digits = typeof args.digits === 'string' ? args.digits.toUpperCase() : '';
    if (!/^[0-9*#A-D]{1,32}$/.test(digits))
      return { result: JSON.stringify({ error: 'digits must be 1 to 32 of 0-9, *, #, A-D' }) };
    if (!keypad) return { result: JSON.stringify({ error: 'keys cannot be sent on this call' }) };
    try {
      await keypad.send(digits);
      return { result: `Pressed ${digits.length === 1 ? 'the key' : 'the keys'} ${digits}.` };
    } catch (err) {
      return { result: JSON.stringify({ error: (err as Error).message }) };
    }
  },
};
