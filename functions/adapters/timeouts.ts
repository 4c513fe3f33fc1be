import type { Pluggable } from '@smithy/types';
import { EndpointTimeoutError } from '#core/model/errors.ts';

// Middleware that applies to every service's client cannot name one service's input and output types.
// biome-ignore lint/suspicious/noExplicitAny: see above
export type AnyPluggable = Pluggable<any, any>;

/** How long a call may take before it fails: a silent endpoint otherwise holds the CLI or a Lambda forever. */
export interface Timeouts {
  /** The whole request, from sending to the last byte of the answer. */
  requestMs: number;
  /** Opening the TCP (and TLS) connection. */
  connectionMs: number;
}

/** The bounds when nothing else is asked for; SNAPKEEPER_REQUEST_TIMEOUT_MS changes the request bound. */
export const DEFAULT_TIMEOUTS: Timeouts = { requestMs: 30_000, connectionMs: 10_000 };

/** The request handler options that enforce `timeouts` (without `throwOnRequestTimeout` the SDK only warns). */
export function requestHandlerOptions(timeouts: Timeouts) {
  return {
    requestTimeout: timeouts.requestMs,
    connectionTimeout: timeouts.connectionMs,
    throwOnRequestTimeout: true,
  };
}

interface HttpRequestLike {
  protocol?: string;
  hostname?: string;
  port?: number;
}

interface TimeoutContext {
  clientName?: string;
  commandName?: string;
}

/**
 * Middleware that turns the HTTP handler's timeouts into an `EndpointTimeoutError` naming the service, the
 * endpoint and the bound. It sits inside the SDK's retry loop on purpose: the SDK would retry a timeout as a
 * transient error, but a timeout is ambiguous (the endpoint may have acted on the request), so a create call
 * must not be sent again blindly, and a retried read would only multiply the wait. The new error is not one
 * the SDK retries, so the call fails at once.
 */
export function timeoutTranslation(timeouts: Timeouts): AnyPluggable {
  return {
    applyToStack: (stack) => {
      stack.add(
        (next, context: TimeoutContext) => async (args) => {
          try {
            return await next(args);
          } catch (error) {
            if (!isHandlerTimeout(error)) throw error;
            const request = args.request as HttpRequestLike;
            const connecting = /establish a connection/.test(error.message);
            throw new EndpointTimeoutError(
              {
                service: (context.clientName ?? 'AWS').replace(/Client$/, ''),
                operation: (context.commandName ?? 'a request').replace(/Command$/, ''),
                endpoint: `${request.protocol ?? 'https:'}//${request.hostname ?? '?'}${request.port ? `:${request.port}` : ''}`,
                timeoutMs: connecting ? timeouts.connectionMs : timeouts.requestMs,
                connecting,
              },
              // A copy of the SDK's error without its name and code: the SDK's retry decision looks through
              // `cause`, and would retry on seeing "TimeoutError" there.
              { cause: detached(error) },
            );
          }
        },
        { step: 'deserialize', name: 'snapkeeperTimeoutTranslation', priority: 'high', override: true },
      );
    },
  };
}

/**
 * The node-http-handler rejects a connection or request timeout with a plain Error it names TimeoutError:
 * there is no class to check with instanceof, so the name and the handler's message are what identify it.
 */
function isHandlerTimeout(error: unknown): error is Error {
  return error instanceof Error && error.name === 'TimeoutError' && /node-http-handler/.test(error.message);
}

function detached(error: Error): Error {
  const copy = new Error(error.message);
  copy.name = 'HttpHandlerTimeout';
  copy.stack = error.stack;
  return copy;
}
