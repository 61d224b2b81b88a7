/** WebSocket close codes voxline uses on the WebSocket edges (media streams, browser calls). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  invalidPayload: 1007,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  tryAgainLater: 1013,
  idleTimeout: 4000,
} as const;

/** `reason` cut to the 123 bytes a close frame can carry, on a character boundary. */
export function closeReason(reason: string): string {
  let out = reason.slice(0, 123); // at least one byte a character: longer never fits
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1);
  return out;
}
