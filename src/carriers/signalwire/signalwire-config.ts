import { Type } from '@sinclair/typebox';
import type { ConfigPart } from '../../config-part.js';
import type { CallMode } from '../carrier.js';

/** What the answer asks SignalWire to stream (the `<Stream codec>` attribute; PCMU is its default). */
export type SignalWireCodec = 'PCMU@8000h' | 'L16@16000h' | 'L16@24000h';
/** The byte order of SignalWire's L16 payloads (its docs do not say: docs/carriers/signalwire.md). */
export type L16ByteOrder = 'little' | 'big';

/** SignalWire cXML <Stream> (part of EnvSchema; docs/configuration.md lists them). */
export const SignalWireEnvProperties = {
  SIGNALWIRE_SIGNING_KEY: Type.Optional(
    Type.String({
      minLength: 16,
      description:
        'turns the SignalWire edge on: the project’s Signing Key, which signs its webhooks (X-SignalWire-Signature)',
    }),
  ),
  SIGNALWIRE_STREAM_TOKEN: Type.Optional(
    Type.String({
      minLength: 16,
      description:
        'the bearer token voxline’s cXML gives <Stream authBearerToken>; the media WebSocket must carry it (required with SIGNALWIRE_SIGNING_KEY)',
    }),
  ),
  SIGNALWIRE_MODE: Type.Union([Type.Literal('transcribe'), Type.Literal('agent')], {
    default: 'transcribe',
    description:
      'SignalWire calls: transcribe, or agent (voxline answers); override with ?mode= on the answer URL',
  }),
  SIGNALWIRE_CODEC: Type.Union(
    [Type.Literal('PCMU@8000h'), Type.Literal('L16@16000h'), Type.Literal('L16@24000h')],
    { default: 'PCMU@8000h', description: 'what voxline’s cXML asks SignalWire to stream (<Stream codec>)' },
  ),
  SIGNALWIRE_L16_BYTE_ORDER: Type.Union([Type.Literal('little'), Type.Literal('big')], {
    default: 'little',
    description:
      'the byte order of SignalWire’s L16 media payloads, both ways (undocumented: see docs/carriers/signalwire.md)',
  }),
  SIGNALWIRE_DIAL: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'transcribe mode: where the call is dialled once the stream has started (<Dial>); unset: listen only',
    }),
  ),
};

export interface SignalWireConfig {
  readonly signingKey: string;
  readonly streamToken: string;
  readonly mode: CallMode;
  readonly codec: SignalWireCodec;
  readonly l16ByteOrder: L16ByteOrder;
  readonly dial: string | undefined;
}

interface SignalWireEnv {
  SIGNALWIRE_SIGNING_KEY?: string;
  SIGNALWIRE_STREAM_TOKEN?: string;
  SIGNALWIRE_MODE?: CallMode;
  SIGNALWIRE_CODEC?: SignalWireCodec;
  SIGNALWIRE_L16_BYTE_ORDER?: L16ByteOrder;
  SIGNALWIRE_DIAL?: string;
}

/** The SignalWire edge's settings; undefined: SignalWire calls are not taken. */
export function signalWireConfigFrom(
  e: Readonly<Record<string, unknown>>,
): ConfigPart<SignalWireConfig | undefined> {
  const env = e as SignalWireEnv;
  if (env.SIGNALWIRE_SIGNING_KEY === undefined) {
    const problems =
      env.SIGNALWIRE_STREAM_TOKEN === undefined
        ? []
        : ['SIGNALWIRE_STREAM_TOKEN is set without SIGNALWIRE_SIGNING_KEY (the edge stays off without it)'];
    return { value: undefined, problems, warnings: [] };
  }
  if (env.SIGNALWIRE_STREAM_TOKEN === undefined) {
    return {
      value: undefined,
      problems: ['SIGNALWIRE_SIGNING_KEY takes SIGNALWIRE_STREAM_TOKEN (the media WebSocket’s bearer token)'],
      warnings: [],
    };
  }
  return {
    value: {
      signingKey: env.SIGNALWIRE_SIGNING_KEY,
      streamToken: env.SIGNALWIRE_STREAM_TOKEN,
      mode: env.SIGNALWIRE_MODE ?? 'transcribe',
      codec: env.SIGNALWIRE_CODEC ?? 'PCMU@8000h',
      l16ByteOrder: env.SIGNALWIRE_L16_BYTE_ORDER ?? 'little',
      dial: env.SIGNALWIRE_DIAL,
    },
    problems: [],
    warnings: [],
  };
}
