// The bus core: topics, wildcards, last value, request/response. No network here:
// a Mirror (bridge.js) may be attached to carry user/global events to the server.

import { createEvent } from "./events.js";
import { compile, topicProblem } from "./topics.js";

/** @typedef {import("./events.js").TesseraEvent} TesseraEvent */
/** @typedef {(event: TesseraEvent) => void} Handler */
/** @typedef {(event: TesseraEvent) => any} Responder */
/**
 * @typedef {object} Mirror
 * @property {(event: TesseraEvent) => void} publish   send an event to the server
 * @property {(event: TesseraEvent, timeout: number) => Promise<any>} request
 * @property {(pattern: string) => void} watch          ask the server for matching events
 * @property {(pattern: string) => void} unwatch
 */
/** @typedef {{pattern: string, test: (topic: string) => boolean, handler: Handler, owner: string, active: boolean}} Subscription */

const SEEN_LIMIT = 2000;
export const RESERVED = "tessera.";
const DEFAULT_TIMEOUT = 5000;

/** State shared by every view of the page's one bus. */
export class Core {
  constructor() {
    /** @type {Subscription[]} */ this.subscriptions = [];
    /** @type {Map<string, TesseraEvent>} */ this.latest = new Map();
    /** @type {Map<string, {handler: Responder, owner: string}>} */ this.responders = new Map();
    /** @type {Set<string>} `source` + `id` of events already delivered (as the server keys them), so a duplicate is dropped */
    this.seen = new Set();
    /** @type {Record<string, string>} topic -> declared scope */ this.scopes = {};
    /** @type {Mirror | null} */ this.mirror = null;
    /** @type {Map<string, number>} pattern -> number of subscriptions asking the server */
    this.watched = new Map();
  }

  /**
   * Deliver an event to the page: subscribers, last value, and a CustomEvent on window.
   * @param {TesseraEvent} event
   * @returns {boolean} false when the event was a duplicate
   */
  deliver(event) {
    const key = JSON.stringify([event.source, event.id]); // one source's id cannot shadow another's
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    if (this.seen.size > SEEN_LIMIT) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    this.latest.set(event.type, event);
    for (const sub of this.subscriptions.slice()) {
      if (sub.active && sub.test(event.type)) guard(sub.owner, `subscriber of "${sub.pattern}"`, () => sub.handler(event));
    }
    globalThis.dispatchEvent?.(new CustomEvent(event.type, { detail: event }));
    return true;
  }

  /**
   * Deliver one of Tessera's own local events (`tessera.error`, `tessera.resync`, ...).
   * @param {string} type
   * @param {any} data
   */
  notice(type, data) {
    this.deliver(createEvent(type, data, "/shell"));
  }

  /** @param {string} pattern */
  watch(pattern) {
    const count = this.watched.get(pattern) ?? 0;
    this.watched.set(pattern, count + 1);
    if (count === 0 && !pattern.startsWith(RESERVED)) this.mirror?.watch(pattern);
  }

  /** @param {string} pattern */
  unwatch(pattern) {
    const count = (this.watched.get(pattern) ?? 1) - 1;
    if (count > 0) return void this.watched.set(pattern, count);
    this.watched.delete(pattern);
    if (!pattern.startsWith(RESERVED)) this.mirror?.unwatch(pattern);
  }

  /** @param {string} owner */
  dispose(owner) {
    for (const sub of this.subscriptions.filter((s) => s.owner === owner)) this.remove(sub);
    for (const [type, responder] of this.responders) if (responder.owner === owner) this.responders.delete(type);
  }

  /** @param {Subscription} sub */
  remove(sub) {
    if (!sub.active) return;
    sub.active = false;
    this.subscriptions.splice(this.subscriptions.indexOf(sub), 1);
    this.unwatch(sub.pattern);
  }
}

/** One view of the page's bus; each fragment gets its own, with its `source`. */
export class Bus {
  /**
   * @param {Core} core
   * @param {string} source  CloudEvents source of events published through this view
   * @param {string} owner   who is reported when a handler fails, and whose subscriptions dispose() ends
   */
  constructor(core, source = "/shell", owner = "shell") {
    this.core = core;
    this.source = source;
    this.owner = owner;
  }

  /**
   * Deliver to every matching subscriber in the page now; mirror user/global topics to the server.
   * @param {string} type
   * @param {any} [data]
   * @param {{local?: boolean}} [options]
   * @returns {TesseraEvent}
   */
  publish(type, data, { local = false } = {}) {
    check(topicProblem(type));
    if (type.startsWith(RESERVED)) throw new TypeError(`topics starting with "${RESERVED}" are reserved for Tessera: ${type}`);
    const event = createEvent(type, data, this.source);
    this.core.deliver(event);
    const scope = this.core.scopes[type];
    if (!local && (scope === "user" || scope === "global")) this.core.mirror?.publish(event);
    return event;
  }

  /**
   * @param {string} pattern  a topic, or a pattern with `*` (one segment) and `>` (the rest)
   * @param {Handler} handler
   * @returns {() => void} unsubscribe
   */
  subscribe(pattern, handler) {
    check(topicProblem(pattern, true));
    if (typeof handler !== "function") throw new TypeError("subscribe(pattern, handler): handler must be a function");
    /** @type {Subscription} */
    const sub = { pattern, test: compile(pattern), handler, owner: this.owner, active: true };
    this.core.subscriptions.push(sub);
    this.core.watch(pattern);
    return () => this.core.remove(sub);
  }

  /**
   * The next matching event.
   * @param {string} pattern
   * @param {{timeout?: number}} [options]  milliseconds; no timeout when omitted
   * @returns {Promise<TesseraEvent>}
   */
  once(pattern, { timeout } = {}) {
    return new Promise((resolve, reject) => {
      const stop = this.subscribe(pattern, (event) => {
        stop();
        clearTimeout(timer);
        resolve(event);
      });
      const timer = timeout === undefined ? undefined : setTimeout(() => {
        stop();
        reject(new Error(`no "${pattern}" event within ${timeout} ms`));
      }, timeout);
    });
  }

  /**
   * @param {string} type
   * @returns {TesseraEvent | undefined} the latest event of that type seen by the page
   */
  last(type) {
    return this.core.latest.get(type);
  }

  /**
   * Ask a responder in the page, else one on the server.
   * @param {string} type
   * @param {any} [data]
   * @param {{timeout?: number}} [options]  milliseconds, default 5000
   * @returns {Promise<any>} the answer's data
   */
  async request(type, data, { timeout = DEFAULT_TIMEOUT } = {}) {
    check(topicProblem(type));
    const event = createEvent(type, data, this.source);
    const responder = this.core.responders.get(type);
    if (responder) return withTimeout(Promise.resolve().then(() => responder.handler(event)), timeout, type);
    if (this.core.mirror) return this.core.mirror.request(event, timeout);
    throw new Error(`nobody answers "${type}"`);
  }

  /**
   * Answer requests of `type` in this page.
   * @param {string} type
   * @param {Responder} handler  returns the answer's data, or a Promise of it
   * @returns {() => void} unrespond
   */
  respond(type, handler) {
    check(topicProblem(type));
    if (this.core.responders.has(type)) throw new Error(`"${type}" already has a responder in this page`);
    const entry = { handler, owner: this.owner };
    this.core.responders.set(type, entry);
    return () => {
      if (this.core.responders.get(type) === entry) this.core.responders.delete(type);
    };
  }

  /**
   * A view for a fragment: events it publishes carry its source; dispose() ends its subscriptions.
   * @param {string} name
   */
  scoped(name) {
    return new Bus(this.core, `/fragments/${name}`, name);
  }

  /** End every subscription and responder made through views of this owner. */
  dispose() {
    this.core.dispose(this.owner);
  }
}

/**
 * Run fragment code; report a failure with who it belongs to, never let it break the caller.
 * @param {string} owner
 * @param {string} what
 * @param {() => unknown} fn
 */
export function guard(owner, what, fn) {
  try {
    const result = fn();
    if (result && typeof (/** @type {any} */ (result).catch) === "function") {
      /** @type {Promise<unknown>} */ (result).catch((error) => report(owner, what, error));
    }
  } catch (error) {
    report(owner, what, error);
  }
}

/**
 * @param {string} owner
 * @param {string} what
 * @param {unknown} error
 */
export function report(owner, what, error) {
  const who = owner === "shell" ? "the shell" : `fragment "${owner}"`;
  console.error(`[tessera] ${what} in ${who} failed:`, error);
}

/** @param {string | null} problem */
function check(problem) {
  if (problem) throw new TypeError(problem);
}

/**
 * @template T
 * @param {Promise<T>} promise
 * @param {number} timeout
 * @param {string} type
 * @returns {Promise<T>}
 */
export function withTimeout(promise, timeout, type) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const expired = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`request "${type}" timed out after ${timeout} ms`)), timeout);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
