// Types for fragment authors: `import type { FragmentContext } from "./types"`.
// The runtime itself is plain ES modules with JSDoc types (checked by tsc --checkJs).

/** A CloudEvents 1.0 event as it travels on the bus. */
export interface TesseraEvent<T = unknown> {
  specversion: "1.0";
  id: string;
  /** The topic: dot-separated segments of [A-Za-z0-9_-]+. */
  type: string;
  /** `/fragments/<name>`, `/shell` or `/server/...`. */
  source: string;
  /** RFC 3339. */
  time: string;
  data: T;
  /** Position in the server's stream, on events that passed through the server. */
  seq?: number;
  /** The server's stream that `seq` belongs to. */
  epoch?: string;
}

export type Handler<T = any> = (event: TesseraEvent<T>) => void;
export type Responder<Q = any, A = any> = (event: TesseraEvent<Q>) => A | Promise<A>;

export interface Bus {
  /** The CloudEvents source of events published through this bus. */
  readonly source: string;
  /** Deliver now to every matching subscriber in the page; mirror user/global topics to the server. */
  publish<T = unknown>(type: string, data?: T, options?: { local?: boolean }): TesseraEvent<T>;
  /** `*` matches one segment, `>` (last only) one or more. Returns unsubscribe. */
  subscribe<T = any>(pattern: string, handler: Handler<T>): () => void;
  /** The next matching event; rejects after `timeout` ms when given. */
  once<T = any>(pattern: string, options?: { timeout?: number }): Promise<TesseraEvent<T>>;
  /** The latest event of that type seen by the page. */
  last<T = any>(type: string): TesseraEvent<T> | undefined;
  /**
   * Answered by a responder in the page, else by a Python responder; default timeout 5000 ms.
   * A request the server refuses rejects at once with an Error whose `code` says why
   * ("no_responder", "responder_failed", "forbidden", "invalid", "too_large", "rate_limited").
   */
  request<A = any, Q = unknown>(type: string, data?: Q, options?: { timeout?: number }): Promise<A>;
  /** Answer requests of `type` in this page. Returns unrespond. */
  respond<Q = any, A = any>(type: string, handler: Responder<Q, A>): () => void;
}

export interface FragmentContext<P = Record<string, any>> {
  /** This fragment's view of the bus: its subscriptions end when it unmounts. */
  bus: Bus;
  name: string;
  version: string;
  /** Data from the fragment's props provider (`@tessera.props(name)`), also seen by its template. */
  props: P;
}

/** What a fragment's entry module exports. */
export type Mount = (el: HTMLElement, ctx: FragmentContext) => void | (() => void) | Promise<void | (() => void)>;

export interface Connection {
  readonly state: "connecting" | "open" | "closed";
  /** Close the socket and reconnect (resuming where the page was). */
  reconnect?(): void;
}

export interface Tessera {
  bus: Bus;
  connection: Connection;
  /** Resolves when every fragment on the page has settled (mounted or failed). */
  ready: Promise<void>;
}

export declare const tessera: Tessera;
export declare const bus: Bus;
export declare const connection: Connection;
export declare const ready: Promise<void>;

declare global {
  interface Window {
    tessera: Tessera;
  }
}
