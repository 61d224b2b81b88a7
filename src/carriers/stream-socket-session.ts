import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import type { Call } from '../calls/call.js';
import type { CallRegistry } from '../calls/call-registry.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { MediaLimits } from '../config.js';
import { isVoxlineError, VoxlineError } from '../errors.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { CallStart, CallTransport, Ingress, OutboundAudio } from './carrier.js';
import { CLOSE, closeReason } from './ws-close.js';

/*
 * What the media-fork WebSocket edges (FreeSWITCH mod_audio_stream / mod_audio_fork, Asterisk
 * chan_websocket) share: the shared-secret gate before the upgrade, and the life of one socket
 * after it (containment, the handshake timer on the injected clock, malformed-frame counting,
 * closing with a code and reason, finalizing the call when the socket goes).
 */

// --- the gate before the upgrade -------------------------------------------------------------

export type SecretRefusal = 'secret_missing' | 'secret_wrong';

/** Only the hashes are compared, so the comparison takes the same time whatever the lengths. */
function sameSecret(given: string, secret: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(secret).digest();
  return timingSafeEqual(a, b);
}

/**
 * The credential a media fork can carry: HTTP Basic (password = the secret; `username`, when
 * configured, must match too), `Authorization: Bearer <secret>`, or a `token` query parameter.
 */
export function checkSharedSecret(
  request: Pick<FastifyRequest, 'headers' | 'query'>,
  secret: string,
  username?: string,
): SecretRefusal | undefined {
  const header = request.headers.authorization;
  const token = (request.query as Record<string, unknown> | undefined)?.token;
  let given: string | undefined;
  let userOk = true;
  if (typeof header === 'string' && /^basic /i.test(header)) {
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon >= 0) {
      given = decoded.slice(colon + 1);
      if (username !== undefined) userOk = sameSecret(decoded.slice(0, colon), username);
    }
  } else if (typeof header === 'string' && /^bearer /i.test(header)) {
    given = header.slice(7).trim();
  } else if (typeof token === 'string') {
    given = token;
  }
  if (given === undefined || given === '') return 'secret_missing';
  // Both compared, whatever the first gave: how long it takes says nothing about which failed.
  const secretOk = sameSecret(given, secret);
  return secretOk && userOk ? undefined : 'secret_wrong';
}

/**
 * preValidation for a media-fork route: refuses (401, counted by reason)
 * before the upgrade, so a forged request never gets a socket; then the registry's admission.
 */
export function requireSharedSecret(options: {
  readonly ingress: Ingress;
  readonly secret: string;
  readonly username?: string;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
}) {
  return async function checkSecret(request: FastifyRequest): Promise<void> {
    const refusal = checkSharedSecret(request, options.secret, options.username);
    if (refusal) {
      options.metrics.ingress.refused.inc({ ingress: options.ingress, reason: refusal });
      request.log.warn(
        { ingress: options.ingress, reason: refusal },
        'media fork refused before the upgrade',
      );
      // 401 either way (a wrong secret is a bad credential, not a missing scope); the metric tells them apart.
      throw new VoxlineError(
        'VL_ERR_UNAUTHORIZED',
        refusal === 'secret_missing'
          ? 'the media stream needs the shared secret (Basic, Bearer or ?token=)'
          : 'the shared secret does not match',
      );
    }
    try {
      options.registry.assertAccepting();
    } catch (err) {
      if (err instanceof VoxlineError) options.metrics.callsRefused.inc({ reason: err.code });
      throw err;
    }
  };
}

// --- one socket after the upgrade ------------------------------------------------------------

const LOUD_WARNINGS = 5; // per socket; later malformed frames log at debug level, all are counted

export interface StreamSessionContext {
  readonly ingress: Ingress;
  /** The peer in log lines ('FreeSWITCH', 'Asterisk'). */
  readonly peer: string;
  readonly media: Pick<MediaLimits, 'handshakeTimeoutMs' | 'maxMessageBytes' | 'maxMalformedPerCall'>;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
  /** Runs the handshake timer. */
  readonly timers: Clock;
  readonly log: FastifyBaseLogger;
}

/** Audio back into the call that the session ends with the socket. */
export type EndableOutbound = OutboundAudio & { end(): void };

/**
 * One media-fork socket. Subclasses parse frames (`onText`, `onBinary`) and open the call with
 * `openCall`; the base keeps every handler a containment boundary (an unexpected throw ends this
 * stream with 1011, never the process) and ends the call when the socket closes.
 */
export abstract class StreamSocketSession implements CallTransport {
  protected readonly socket: WebSocket;
  protected readonly ctx: StreamSessionContext;
  protected log: FastifyBaseLogger;
  protected call: Call | undefined;
  #outbound: EndableOutbound | undefined;
  #malformedBeforeStart = 0;
  #endReason: string | undefined;
  #sentCloseCode: number | undefined;
  #closing = false;
  #handshakeTimer: TimerHandle | undefined;

  /** `awaiting`: what must come first, for the handshake timeout's reason. */
  constructor(socket: WebSocket, ctx: StreamSessionContext, awaiting: string) {
    this.socket = socket;
    this.ctx = ctx;
    this.log = ctx.log;
    // Attached before anything awaits: the peer sends its first frame right after the upgrade.
    socket.on('message', (data: RawData, isBinary: boolean) => {
      try {
        this.call?.noteActivity();
        const bytes = data as Buffer;
        if (isBinary) this.onBinary(bytes);
        else this.onText(bytes.toString('utf8'));
      } catch (err) {
        this.#contained(err, 'frame handling failed: ending this stream');
      }
    });
    socket.on('close', (code) => this.#onClose(code));
    socket.on('error', (err) => this.#onError(err));
    const { handshakeTimeoutMs } = ctx.media;
    this.#handshakeTimer = ctx.timers.setTimeout(() => {
      this.#handshakeTimer = undefined;
      if (this.call || this.#closing) return;
      ctx.metrics.callsRefused.inc({ reason: 'handshake_timeout' });
      this.fail(CLOSE.policyViolation, `no ${awaiting} within ${handshakeTimeoutMs} ms`);
    }, handshakeTimeoutMs);
    this.#handshakeTimer.unref();
  }

  protected abstract onText(text: string): void;
  protected abstract onBinary(bytes: Buffer): void;

  /** CallTransport: the core ends the call (idle timeout, shutdown, the agent hanging up). */
  close(code: number, reason: string): void {
    this.#endReason ??= reason;
    this.#sentCloseCode ??= code;
    this.beforeClose();
    this.socket.close(code, closeReason(reason));
  }

  /** What the peer should hear before voxline closes (Asterisk: HANGUP). */
  protected beforeClose(): void {}

  /** Opens the call; undefined when the registry refused it (the socket is closing then). */
  protected openCall(start: CallStart, outbound?: EndableOutbound): Call | undefined {
    const { registry, metrics } = this.ctx;
    let call: Call;
    try {
      call = registry.open(start, this, this.log, outbound);
    } catch (err) {
      outbound?.end();
      if (!isVoxlineError(err)) throw err;
      metrics.callsRefused.inc({ reason: err.code });
      this.log.warn({ code: err.code }, err.message);
      const code = err.code === 'VL_ERR_DUPLICATE_CALL' ? CLOSE.policyViolation : CLOSE.tryAgainLater;
      this.fail(code, err.message.slice(0, 120));
      return undefined;
    }
    this.ctx.timers.clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    this.call = call;
    this.#outbound = outbound;
    this.log = call.log;
    if (outbound) call.scope.defer(() => outbound.end());
    return call;
  }

  /** A bad frame: counted and logged; the stream goes on until too many arrive. */
  protected reject(reason: string, detail: string): void {
    this.ctx.metrics.malformedMessages.inc({ reason });
    const count = this.call ? this.call.countMalformed(reason) : ++this.#malformedBeforeStart;
    const level = count <= LOUD_WARNINGS ? 'warn' : 'debug';
    this.log[level]({ reason, detail, count }, `malformed ${this.ctx.peer} frame`);
    if (count >= this.ctx.media.maxMalformedPerCall) {
      this.fail(CLOSE.policyViolation, `too many malformed messages (${count})`);
    }
  }

  /** Audio out failed: the call ends. */
  protected outboundFailed(err: unknown): void {
    this.#contained(err, 'audio out failed: ending the call');
  }

  /** The stream cannot go on: close it with a code and reason; the close handler finalizes. */
  protected fail(code: number, reason: string): void {
    // Once closing, the peer's frames still arrive until its close frame does: one warning only.
    if (this.#closing) return;
    this.#closing = true;
    this.#endReason ??= `protocol_error: ${reason}`;
    this.#sentCloseCode ??= code;
    this.log.warn({ code, reason }, `closing ${this.ctx.peer} media stream`);
    try {
      this.socket.close(code, closeReason(reason));
    } catch {
      this.socket.terminate(); // never leave a socket open that voxline meant to close
    }
  }

  /** Ends the stream from voxline's side with a reason of its own (the peer asked to hang up). */
  protected endWith(reason: string, code: number = CLOSE.normal): void {
    this.#endReason ??= reason;
    this.fail(code, reason);
  }

  protected get closing(): boolean {
    return this.#closing;
  }

  #contained(err: unknown, message: string): void {
    this.ctx.metrics.ingress.failures.inc({ ingress: this.ctx.ingress });
    this.log.error({ err }, `${this.ctx.peer} ${message}`);
    this.#endReason ??= 'internal_error';
    this.fail(CLOSE.internalError, 'internal error');
  }

  #onClose(code: number): void {
    this.ctx.timers.clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    this.ctx.metrics.socketsClosed.inc({ code: String(code) });
    this.#outbound?.end();
    const call = this.call;
    if (!call || call.state === 'ended') return;
    call.noteClose(this.#sentCloseCode ?? code);
    void call.end(this.#endReason ?? this.endReasonFor(code));
  }

  /** Why the call ended when the peer closed the socket with `code` and said nothing before. */
  protected endReasonFor(code: number): string {
    return endReasonForCode(code);
  }

  #onError(err: Error & { code?: string }): void {
    // Frames ws refuses: it closes the socket itself, with the code noted here.
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      this.#endReason ??= 'message_too_big';
      this.#sentCloseCode ??= CLOSE.messageTooBig;
      this.reject('message_too_big', `frame over ${this.ctx.media.maxMessageBytes} bytes`);
    } else if (err.code?.startsWith('WS_ERR_')) {
      this.#endReason ??= `protocol_error: ${err.message}`;
      this.#sentCloseCode ??= err.code === 'WS_ERR_INVALID_UTF8' ? CLOSE.invalidPayload : CLOSE.protocolError;
      this.reject('invalid_frame', err.message);
    } else {
      this.log.warn({ err }, `${this.ctx.peer} media socket error`);
    }
  }
}

function endReasonForCode(code: number): string {
  if (code === 1000 || code === 1005) return 'hangup';
  if (code === 1006) return 'connection_lost';
  return `socket_closed_${code}`;
}
