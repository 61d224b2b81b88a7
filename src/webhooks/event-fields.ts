import { Type } from '@sinclair/typebox';

/** Fields several events share (event-schemas.ts and postcall-event-data.ts). */
export const Ms = Type.Number({ minimum: 0, description: 'milliseconds on the call clock' });
export const Word = Type.Object(
  { word: Type.String(), startMs: Ms, endMs: Ms },
  { additionalProperties: false },
);
