// The bridge mirrors the bus to the server over one WebSocket (protocol: docs/protocol.md).
// It reconnects by itself with jittered backoff, resumes from the last (epoch, seq) it saw,
// resends unacknowledged events and requests (the server drops duplicate events by source
// and id, and answers a resent request from the answer it kept), and turns a gap the server
// can no longer fill into a local `tessera.resync` event.

import { RESERVED, withTimeout } from "./bus.js";
import { newId } from "./events.js";

/** @typedef {import("./bus.js").Core} Core */
/** @typedef {import("./events.js").TesseraEvent} TesseraEvent */
/** @typedef {{epoch: string, seq: number}} Position */
/** @typedef {{resolve: (data: any) => void, reject: (error: Error) => void}} Pending */

const OUTBOX_LIMIT = 1000;
const BACKOFF_BASE = 250;
const BACKOFF_MAX = 15000;
const PING_EVERY = 15000;
const RETRY_AFTER = 2000; // ms before events the server could not store are sent again

export class Bridge {
  /**
   * @param {Core} core
   * @param {{state: string}} connection  window.tessera.connection, kept up to date
   * @param {string} path                  WebSocket path, e.g. /_tessera/ws
   * @param {Position | null} position     the server's position when the page was rendered
   * @param {number} maxBytes               the server's TESSERA_MAX_EVENT_BYTES: larger frames are refused here
   */
  constructor(core, connection, path, position = null, maxBytes = 65536) {
    this.core = core;
    this.connection = connection;
    this.url = new URL(path, location.href);
    this.url.protocol = this.url.protocol === "https:" ? "wss:" : "ws:";
    this.page = newId();
    this.maxBytes = maxBytes;
    /** @type {Position | null} */ this.position = position;
    /** @type {Map<string, object>} frames awaiting an ack (publish) or a reply (request), in order */
    this.outbox = new Map();
    /** @type {Map<string, Pending>} */ this.pending = new Map();
    /** @type {WebSocket | null} */ this.socket = null;
    this.welcomed = false;
    this.attempt = 0;
    /** @type {ReturnType<typeof setInterval> | undefined} */ this.pinger = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */ this.retry = undefined;
    this.heardAt = 0;
    Object.assign(connection, { reconnect: () => this.socket?.close(4000, "reconnect requested") });
  }

  start() {
    this.core.mirror = this;
    this.connect();
  }

  connect() {
    this.setState("connecting");
    const socket = (this.socket = new WebSocket(this.url));
    socket.onopen = () => this.send({ type: "hello", page: this.page, resume: this.position, subscribe: [...this.core.watched.keys()].filter((p) => !p.startsWith(RESERVED)) });
    socket.onmessage = (message) => {
      this.heardAt = Date.now();
      this.receive(message.data);
    };
    socket.onclose = () => this.closed(socket);
  }

  /** @param {WebSocket} socket */
  closed(socket) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.welcomed = false;
    clearInterval(this.pinger);
    this.setState("closed");
    const delay = Math.min(BACKOFF_MAX, BACKOFF_BASE * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
    setTimeout(() => this.connect(), delay);
  }

  /** @param {"connecting" | "open" | "closed"} state */
  setState(state) {
    if (this.connection.state === state) return;
    this.connection.state = state;
    this.core.notice("tessera.connection", { state });
  }

  /** @param {object} frame */
  send(frame) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  /** @param {string} text */
  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return console.error("[tessera] the server sent a frame that is not JSON:", text);
    }
    const handler = HANDLERS[frame.type];
    if (handler) handler(this, frame);
    else console.warn("[tessera] unknown frame from the server:", frame);
  }

  /** @param {{recovered: boolean, epoch: string, seq: number, resumed: boolean}} frame */
  welcome(frame) {
    this.welcomed = true;
    this.attempt = 0;
    this.setState("open");
    if (!frame.recovered) {
      this.position = { epoch: frame.epoch, seq: frame.seq };
      if (frame.resumed) this.core.notice("tessera.resync", { epoch: frame.epoch, seq: frame.seq });
    }
    for (const queued of this.outbox.values()) this.send(queued);
    clearInterval(this.pinger);
    this.pinger = setInterval(() => this.keepAlive(), PING_EVERY);
  }

  /** Ping the server; a connection that stayed silent for two rounds is presumed dead. */
  keepAlive() {
    if (Date.now() - this.heardAt > 2 * PING_EVERY) this.socket?.close(4000, "server silent");
    else this.send({ type: "ping" });
  }

  /**
   * The server could not store an event (its broker is unreachable): keep it and send the
   * queue again later; the server drops a copy it did store.
   * @param {{code: string, message: string, event_id?: string}} frame
   */
  retryLater(frame) {
    this.core.notice("tessera.error", { code: frame.code, message: frame.message, event_id: frame.event_id ?? null });
    if (this.retry !== undefined) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.welcomed) for (const queued of this.outbox.values()) this.send(queued);
    }, RETRY_AFTER * (0.5 + Math.random()));
  }

  /** @param {{event: TesseraEvent}} frame */
  event({ event }) {
    if (typeof event.seq === "number") this.position = { epoch: /** @type {string} */ (event.epoch), seq: event.seq };
    this.core.deliver(event);
  }

  // -- the Mirror interface used by the bus core ---------------------------------------

  /** @param {TesseraEvent} event */
  publish(event) {
    this.queue(event.id, { type: "publish", event });
  }

  /**
   * @param {TesseraEvent} event
   * @param {number} timeout
   */
  request(event, timeout) {
    const rid = event.id;
    const answer = new Promise((resolve, reject) => this.pending.set(rid, { resolve, reject }));
    this.queue(rid, { type: "request", rid, event });
    return withTimeout(answer, timeout, event.type).finally(() => {
      this.pending.delete(rid);
      this.outbox.delete(rid);
    });
  }

  /** @param {string} pattern  never a reserved one: the core keeps those in the page */
  watch(pattern) {
    this.send({ type: "subscribe", patterns: [pattern] });
  }

  /** @param {string} pattern */
  unwatch(pattern) {
    this.send({ type: "unsubscribe", patterns: [pattern] });
  }

  /**
   * Keep a frame until the server answers it; send it now when the socket is ready.
   * A frame the server would refuse for its size is refused here, so it is never resent.
   * @param {string} key
   * @param {object} frame
   */
  queue(key, frame) {
    if (tooLarge(JSON.stringify(frame), this.maxBytes)) {
      const error = { code: "too_large", message: `the frame is larger than ${this.maxBytes} bytes`, event_id: key };
      if (this.pending.has(key)) this.pending.get(key)?.reject(failure(error));
      else this.core.notice("tessera.error", error);
      return;
    }
    if (this.outbox.size >= OUTBOX_LIMIT) {
      const [oldest] = this.outbox.keys();
      this.outbox.delete(oldest);
      this.core.notice("tessera.error", { code: "queue_full", message: "offline queue full: dropped the oldest event", event_id: oldest });
    }
    this.outbox.set(key, frame);
    if (this.welcomed) this.send(frame);
  }
}

/** @type {Record<string, (bridge: Bridge, frame: any) => void>} */
const HANDLERS = {
  welcome: (bridge, frame) => bridge.welcome(frame),
  event: (bridge, frame) => bridge.event(frame),
  replayed: (bridge, frame) => {
    const { position } = bridge;
    if (!position || position.epoch !== frame.epoch || position.seq < frame.seq) {
      bridge.position = { epoch: frame.epoch, seq: frame.seq };
    }
  },
  ack: (bridge, frame) => {
    bridge.outbox.delete(frame.id);
  },
  reply: (bridge, frame) => {
    const pending = bridge.pending.get(frame.rid);
    if (!pending) return;
    if (frame.error) pending.reject(failure(frame.error));
    else pending.resolve(frame.data);
  },
  error: (bridge, frame) => {
    if (frame.code === "unavailable") return bridge.retryLater(frame);
    const pending = frame.event_id ? bridge.pending.get(frame.event_id) : undefined;
    if (frame.event_id) bridge.outbox.delete(frame.event_id);
    if (pending) pending.reject(failure(frame));
    else bridge.core.notice("tessera.error", { code: frame.code, message: frame.message, event_id: frame.event_id ?? null });
  },
  ping: (bridge) => bridge.send({ type: "pong" }),
  pong: () => {},
};

/**
 * The Error a refused request rejects with; `code` is the server's (e.g. "forbidden", "rate_limited").
 * @param {{code: string, message: string}} error
 * @returns {Error & {code: string}}
 */
function failure({ code, message }) {
  return Object.assign(new Error(message), { code });
}

const encoder = new TextEncoder();

/**
 * Whether `text` is more than `limit` bytes of UTF-8 (encoded only when it might be: at most 3 bytes a unit).
 * @param {string} text
 * @param {number} limit
 */
function tooLarge(text, limit) {
  return text.length * 3 > limit && encoder.encode(text).length > limit;
}
