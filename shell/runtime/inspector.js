// The inspector: a docked panel that shows, live, the page's events, its connection, its
// fragments and its errors, and publishes test events. boot.js imports it only when asked
// (`?tessera-inspect` in the URL, or Alt+Shift+E); pages that do not ask never load it.
// It uses the public bus API only, renders every payload as text (textContent, never HTML),
// lives in a shadow root styled by a constructed style sheet (nothing inline, so it works
// under the shell's Content-Security-Policy), and also draws the server page
// GET /_tessera/inspect (serverPage).

import { compile, topicProblem } from "./topics.js";

/** @typedef {import("./events.js").TesseraEvent} TesseraEvent */
/** @typedef {import("./tessera.js").Tessera} Tessera */
/** @typedef {{event: TesseraEvent, size: number, scope: string}} Entry */
/** @typedef {{time: number, kind: string, message: string, detail: string}} Problem */
/**
 * @typedef {object} Declared  one fragment as GET /_tessera/fragments lists it
 * @property {string} name
 * @property {string} version
 * @property {string} slot
 * @property {string} state
 * @property {Record<string, string>} publishes  topic -> scope
 * @property {string[]} subscribes
 */
/**
 * @typedef {object} Options
 * @property {{scopes?: Record<string, string>, fragments?: Record<string, {version: string}>, user?: string | null}} config  the page's config
 * @property {TesseraEvent[]} [early]  events recorded before this module loaded
 * @property {() => void} [stopEarly]  ends the subscription that recorded them
 */

const KEPT = 1000; // events kept (the oldest go first)
const TABS = ["events", "fragments", "connection", "errors", "publish"];
const encoder = new TextEncoder();

/** @type {Inspector | null} */
let current = null;

/**
 * Open the panel, or show/hide it when it is already open.
 * @param {Tessera} tessera
 * @param {Options} options
 * @returns {Inspector}
 */
export function toggle(tessera, options) {
  if (current) current.toggle();
  else current = new Inspector(tessera, options);
  return current;
}

class Inspector {
  /**
   * @param {Tessera} tessera
   * @param {Options} options
   */
  constructor(tessera, { config, early = [], stopEarly }) {
    this.tessera = tessera;
    this.config = config;
    /** @type {Entry[]} */ this.entries = [];
    /** @type {Problem[]} */ this.problems = [];
    /** @type {{time: number, state: string}[]} */ this.transitions = [];
    this.counts = { opened: 0, resyncs: 0 };
    /** @type {{epoch: string, seq: number} | null} */ this.position = null;
    /** @type {(topic: string) => boolean} */ this.filter = () => true;
    this.paused = false;
    /** @type {Entry | null} */ this.selected = null;
    /** @type {Declared[]} */ this.declared = [];
    /** @type {Set<string>} fragments already reported as failed */ this.failed = new Set();

    // the parts that change, filled in by the render* methods
    this.rows = el("tbody");
    this.detail = el("aside", { class: "detail", "data-detail": "" });
    /** @type {HTMLElement | null} */ this.detailResult = null;
    this.filterInput = el("input", { type: "search", placeholder: "filter: cart.*  order.>  (empty: all)", "data-filter": "", spellcheck: "false" });
    this.filterNote = el("span", { class: "note" });
    this.fragmentRows = el("tbody");
    this.connectionFacts = el("dl", { class: "facts" });
    this.timeline = el("ol", { class: "timeline" });
    this.problemList = el("ol", { class: "problems" });
    this.publishType = el("input", { type: "text", placeholder: "cart.item.added", list: "tessera-inspector-topics", "data-publish-type": "", spellcheck: "false" });
    this.publishData = el("textarea", { rows: "6", placeholder: '{"sku": "A-1"}   (JSON; empty: null)', "data-publish-data": "", spellcheck: "false" });
    this.publishLocal = el("input", { type: "checkbox", "data-publish-local": "" });
    this.scopeNote = el("span", { class: "note" });
    this.publishResult = el("p", { class: "result", "data-publish-result": "" });
    this.pill = el("span", { class: "pill", "data-connection": "" });
    this.tabs = el("nav", { class: "tabs", role: "tablist" });
    /** @type {Record<string, HTMLElement>} */ this.badges = {};
    this.views = {
      events: this.buildEvents(),
      fragments: this.buildFragments(),
      connection: this.buildConnection(),
      errors: this.buildErrors(),
      publish: this.buildPublish(),
    };
    this.panel = this.build();
    this.visible = true;

    this.host = document.createElement("tessera-inspector");
    const root = this.host.attachShadow({ mode: "open" });
    root.adoptedStyleSheets = [sheet()];
    root.append(this.panel);
    document.body.append(this.host);
    this.select("events");
    // room below the page's content for the panel, so nothing stays hidden under it
    this.padding = document.body.style.paddingBottom;
    new ResizeObserver(() => this.makeRoom()).observe(this.panel);

    for (const event of early) this.record(event);
    this.unsubscribe = tessera.bus.subscribe(">", (event) => this.record(event)); // `>` includes tessera.*
    stopEarly?.();
    if (!this.transitions.length) this.transitions.push({ time: Date.now(), state: tessera.connection.state });

    // fragments that change state, arrive (streamed) or leave: redrawn once per frame at most
    let queued = false;
    this.observer = new MutationObserver(() => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => {
        queued = false;
        this.renderFragments();
      });
    });
    this.observer.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"] });
    this.renderFragments();
    this.renderConnection();
    this.renderDetail();
    this.loadDeclarations();
  }

  // -- building the panel -------------------------------------------------------------------

  build() {
    for (const name of TABS) {
      const badge = el("span", { class: "badge" });
      this.badges[name] = badge;
      const tab = el("button", { type: "button", role: "tab", "data-tab": name }, name[0].toUpperCase() + name.slice(1), badge);
      tab.addEventListener("click", () => this.select(name));
      this.tabs.append(tab);
    }
    const minimise = el("button", { type: "button", class: "icon", title: "Minimise", "data-action": "minimise" }, "▁");
    minimise.addEventListener("click", () => this.panel.classList.toggle("minimised"));
    const close = el("button", { type: "button", class: "icon", title: "Close (Alt+Shift+E reopens)", "data-action": "close" }, "✕");
    close.addEventListener("click", () => this.show(false));
    const grip = el("div", { class: "grip", title: "Drag to resize" });
    grip.addEventListener("pointerdown", (event) => this.resize(event, grip));
    return el("section", { class: "panel", "aria-label": "Tessera inspector" }, grip,
      el("header", { class: "bar" }, el("strong", { class: "brand" }, el("span", { class: "logo" }, "◆"), "Tessera"),
        this.tabs, this.pill, minimise, close),
      el("div", { class: "body" }, ...Object.values(this.views)));
  }

  buildEvents() {
    this.filterInput.addEventListener("input", () => this.setFilter(this.filterInput.value.trim()));
    const pause = el("button", { type: "button", "data-action": "pause" }, "Pause");
    pause.addEventListener("click", () => {
      this.paused = !this.paused;
      pause.textContent = this.paused ? "Resume" : "Pause";
      pause.classList.toggle("on", this.paused);
      if (!this.paused) this.renderEvents();
    });
    const clear = el("button", { type: "button", "data-action": "clear" }, "Clear");
    clear.addEventListener("click", () => {
      this.entries = [];
      this.selected = null;
      this.renderEvents();
      this.renderDetail();
    });
    const head = el("tr", {}, ...["time", "type", "source", "scope", "seq", "size"].map((name) => el("th", { class: `c-${name}` }, name)));
    return el("div", { class: "view", "data-view": "events" },
      el("div", { class: "toolbar" }, this.filterInput, this.filterNote, el("span", { class: "grow" }), pause, clear),
      el("div", { class: "split" },
        el("div", { class: "scroll" }, el("table", { class: "events" }, el("thead", {}, head), this.rows)),
        this.detail));
  }

  buildFragments() {
    const head = el("tr", {}, ...["fragment", "version", "state", "slot", "publishes", "subscribes"].map((name) => el("th", {}, name)));
    return el("div", { class: "view", "data-view": "fragments" },
      el("div", { class: "scroll" }, el("table", { class: "fragments" }, el("thead", {}, head), this.fragmentRows)));
  }

  buildConnection() {
    const reconnect = el("button", { type: "button", "data-action": "reconnect" }, "Reconnect");
    reconnect.addEventListener("click", () => /** @type {{reconnect?: () => void}} */ (this.tessera.connection).reconnect?.());
    return el("div", { class: "view", "data-view": "connection" },
      el("div", { class: "columns" },
        el("div", {}, this.connectionFacts, reconnect),
        el("div", { class: "scroll" }, el("h3", {}, "Changes"), this.timeline)));
  }

  buildErrors() {
    return el("div", { class: "view", "data-view": "errors" }, el("div", { class: "scroll" }, this.problemList));
  }

  buildPublish() {
    const topics = el("datalist", { id: "tessera-inspector-topics" });
    for (const [topic, scope] of Object.entries(this.config.scopes ?? {})) topics.append(el("option", { value: topic }, scope));
    this.publishType.addEventListener("input", () => this.describeScope());
    const send = el("button", { type: "submit", class: "primary", "data-action": "publish" }, "Publish");
    const form = el("form", { class: "publish" },
      el("label", {}, "Type", this.publishType), this.scopeNote,
      el("label", {}, "Data", this.publishData),
      el("div", { class: "row" }, el("label", { class: "check" }, this.publishLocal, "local only (never sent to the server)"),
        el("span", { class: "grow" }), send),
      this.publishResult, topics);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.publishFromForm();
    });
    this.describeScope();
    return el("div", { class: "view", "data-view": "publish" }, form);
  }

  // -- what happens ---------------------------------------------------------------------------

  /** @param {TesseraEvent} event */
  record(event) {
    const entry = { event, size: bytes(event), scope: this.config.scopes?.[event.type] ?? (event.type.startsWith("tessera.") ? "local" : "") };
    this.entries.push(entry);
    if (this.entries.length > KEPT) this.entries.shift();
    if (typeof event.seq === "number" && event.epoch) {
      this.position = { epoch: event.epoch, seq: event.seq };
      const shown = this.connectionFacts.querySelector("[data-fact=position]");
      if (shown) shown.textContent = position(this.position);
    }
    if (event.type === "tessera.connection") {
      const state = String(event.data?.state);
      if (state === "open") this.counts.opened++;
      this.transitions.push({ time: Date.parse(event.time) || Date.now(), state });
      this.renderConnection();
    } else if (event.type === "tessera.resync") {
      this.counts.resyncs++;
      this.transitions.push({ time: Date.parse(event.time) || Date.now(), state: "resync" });
      this.renderConnection();
    } else if (event.type === "tessera.error") {
      const data = event.data ?? {};
      this.problem(`tessera.error · ${data.code ?? "?"}`, String(data.message ?? ""), data.event_id ? `event ${data.event_id}` : "");
    }
    if (!this.paused && this.filter(event.type)) {
      this.rows.prepend(this.row(entry));
      if (this.rows.childElementCount > KEPT) this.rows.lastElementChild?.remove();
    }
    this.updateBadges();
  }

  /**
   * @param {string} kind
   * @param {string} message
   * @param {string} detail
   */
  problem(kind, message, detail) {
    const problem = { time: Date.now(), kind, message, detail };
    this.problems.push(problem);
    if (this.problems.length > KEPT) this.problems.shift();
    this.problemList.prepend(el("li", { "data-problem": kind.split(" ")[0] },
      el("time", {}, clock(problem.time)), el("span", { class: "kind" }, kind),
      el("span", { class: "message" }, message), el("span", { class: "muted" }, detail)));
    this.updateBadges();
  }

  /** @param {string} pattern */
  setFilter(pattern) {
    const problem = pattern ? topicProblem(pattern, true) : null;
    this.filterInput.classList.toggle("invalid", Boolean(problem));
    this.filterNote.textContent = problem ?? "";
    if (problem) return;
    this.filter = pattern ? compile(pattern) : () => true;
    this.renderEvents();
  }

  publishFromForm() {
    const type = this.publishType.value.trim();
    const text = this.publishData.value.trim();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (error) {
      return this.say(`Data is not JSON: ${/** @type {Error} */ (error).message}`, false);
    }
    this.publish(type, data, this.publishLocal.checked);
  }

  /**
   * @param {string} type
   * @param {any} data
   * @param {boolean} local
   */
  publish(type, data, local) {
    try {
      const event = this.tessera.bus.publish(type, data, { local });
      const scope = this.config.scopes?.[type];
      const where = !local && (scope === "user" || scope === "global") ? `sent to the server (scope ${scope})` : "delivered in this page only";
      this.say(`Published ${type} · ${event.id.slice(0, 8)} · ${where}`, true);
    } catch (error) {
      this.say(String(/** @type {Error} */ (error).message ?? error), false);
    }
  }

  /**
   * @param {string} text
   * @param {boolean} ok
   */
  say(text, ok) {
    this.publishResult.textContent = text;
    this.publishResult.className = `result ${ok ? "ok" : "bad"}`;
    if (this.detailResult) {
      this.detailResult.textContent = text;
      this.detailResult.className = `result ${ok ? "ok" : "bad"}`;
    }
  }

  describeScope() {
    const type = this.publishType.value.trim();
    const scope = this.config.scopes?.[type];
    this.scopeNote.textContent = !type ? "Declared topics are suggested as you type."
      : scope ? `declared with scope ${scope}${scope === "page" ? ": stays in this page" : ": mirrored to the server"}`
      : "not declared by any fragment: delivered in this page only";
  }

  /** @param {string} name */
  select(name) {
    for (const tab of this.tabs.children) tab.setAttribute("aria-selected", String(tab.getAttribute("data-tab") === name));
    for (const [key, view] of Object.entries(this.views)) view.hidden = key !== name;
    this.panel.classList.remove("minimised");
  }

  /** @param {boolean} visible */
  show(visible) {
    this.host.hidden = !visible;
    this.visible = visible;
    this.makeRoom();
  }

  makeRoom() {
    document.body.style.paddingBottom = this.visible ? `${this.panel.offsetHeight}px` : this.padding ?? "";
  }

  toggle() {
    this.show(!this.visible);
  }

  /**
   * Drag the top edge to change the panel's height.
   * @param {PointerEvent} start
   * @param {HTMLElement} grip
   */
  resize(start, grip) {
    const from = this.panel.getBoundingClientRect().height;
    grip.setPointerCapture(start.pointerId);
    /** @param {PointerEvent} event */
    const move = (event) => {
      const height = Math.max(120, Math.min(innerHeight - 40, from + start.clientY - event.clientY));
      this.panel.style.height = `${height}px`; // CSSOM, which the policy allows (no style attribute text)
    };
    const stop = () => {
      grip.removeEventListener("pointermove", move);
      grip.removeEventListener("pointerup", stop);
    };
    grip.addEventListener("pointermove", move);
    grip.addEventListener("pointerup", stop);
  }

  async loadDeclarations() {
    try {
      const response = await fetch("/_tessera/fragments", { headers: { Accept: "application/json" } });
      if (response.ok) this.declared = await response.json();
    } catch {
      // the panel still shows what the page knows
    }
    this.renderFragments();
  }

  // -- rendering --------------------------------------------------------------------------------

  /** @param {Entry} entry */
  row(entry) {
    const { event } = entry;
    const tr = el("tr", { "data-event-type": event.type, "data-event-id": event.id },
      el("td", { class: "c-time" }, clock(Date.parse(event.time) || Date.now())),
      el("td", { class: "c-type" }, event.type),
      el("td", { class: "c-source" }, String(event.source)),
      el("td", { class: "c-scope" }, entry.scope ? el("span", { class: `scope s-${entry.scope}` }, entry.scope) : ""),
      el("td", { class: "c-seq" }, typeof event.seq === "number" ? String(event.seq) : ""),
      el("td", { class: "c-size" }, size(entry.size)));
    if (event.type.startsWith("tessera.")) tr.classList.add("own");
    if (event.type === "tessera.error") tr.classList.add("error");
    if (entry === this.selected) tr.classList.add("selected");
    tr.addEventListener("click", () => {
      this.rows.querySelector(".selected")?.classList.remove("selected");
      tr.classList.add("selected");
      this.selected = entry;
      this.renderDetail();
    });
    return tr;
  }

  renderEvents() {
    const shown = this.entries.filter((entry) => this.filter(entry.event.type));
    this.rows.replaceChildren(...shown.reverse().map((entry) => this.row(entry)));
    this.updateBadges();
  }

  renderDetail() {
    const entry = this.selected;
    if (!entry) return this.detail.replaceChildren(el("p", { class: "muted" }, "Select an event to see its data."));
    const { event } = entry;
    const own = event.type.startsWith("tessera.");
    const again = el("button", { type: "button", class: "primary", "data-action": "republish", title: own ? "Tessera's own events cannot be published" : "Publish the same type and data again (a new id)" }, "Re-publish");
    again.toggleAttribute("disabled", own);
    again.addEventListener("click", () => this.publish(event.type, event.data, false));
    this.detailResult = el("p", { class: "result" });
    const { data, ...envelope } = event;
    this.detail.replaceChildren(
      el("div", { class: "detail-head" }, el("strong", {}, event.type), el("span", { class: "grow" }), again),
      this.detailResult,
      el("h3", {}, "data"),
      el("pre", { "data-detail-data": "" }, pretty(data)),
      el("h3", {}, "attributes"),
      el("pre", { class: "attributes" }, pretty(envelope)));
  }

  renderFragments() {
    /** @type {Map<string, Declared>} */
    const declared = new Map(this.declared.map((d) => [d.name, d]));
    const onPage = [...document.querySelectorAll("tessera-fragment")];
    const names = new Set(onPage.map((node) => node.getAttribute("name") ?? "?"));
    const rows = onPage.map((node) => {
      const name = node.getAttribute("name") ?? "?";
      const state = node.getAttribute("data-state") ?? "?";
      if (state === "failed" && !this.failed.has(name)) {
        this.failed.add(name);
        const why = node.getAttribute("data-error") === "render" ? "its template failed on the server" : "its module failed to load or mount (see the console)";
        this.problem("mount failed", `fragment "${name}": ${why}; showing its fallback`, "");
      }
      const version = this.config.fragments?.[name]?.version ?? node.getAttribute("data-version") ?? "";
      return this.fragmentRow(name, version, state, declared.get(name));
    });
    for (const other of this.declared) {
      if (!names.has(other.name)) rows.push(this.fragmentRow(other.name, other.version, "not on this page", other));
    }
    this.fragmentRows.replaceChildren(...rows);
    this.updateBadges();
  }

  /**
   * @param {string} name
   * @param {string} version
   * @param {string} state
   * @param {Declared | undefined} declared
   */
  fragmentRow(name, version, state, declared) {
    const publishes = Object.entries(declared?.publishes ?? {}).map(([topic, scope]) => el("span", { class: `chip s-${scope}`, title: `scope ${scope}` }, topic));
    const subscribes = (declared?.subscribes ?? []).map((pattern) => el("span", { class: "chip" }, pattern));
    return el("tr", { "data-fragment": name, "data-fragment-state": state },
      el("td", { class: "name" }, name), el("td", { class: "mono" }, version),
      el("td", {}, el("span", { class: `state st-${state.replace(/\W+/g, "-")}` }, state)),
      el("td", {}, declared?.slot ?? ""), el("td", { class: "chips" }, ...publishes), el("td", { class: "chips" }, ...subscribes));
  }

  renderConnection() {
    const state = this.tessera.connection.state;
    this.pill.setAttribute("data-connection", state);
    this.pill.textContent = state;
    const facts = [
      ["state", state],
      ["opened", String(this.counts.opened)],
      ["resumed", String(Math.max(0, this.counts.opened - 1))],
      ["resyncs", String(this.counts.resyncs)],
      ["position", position(this.position)],
      ["user", this.config.user ?? "—"],
    ];
    this.connectionFacts.replaceChildren(...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", { "data-fact": name }, value)]));
    this.timeline.replaceChildren(...this.transitions.slice(-200).reverse().map(({ time, state }) =>
      el("li", { "data-to": state }, el("time", {}, clock(time)), el("span", { class: `st-${state}` }, state))));
  }

  updateBadges() {
    const shown = this.rows.childElementCount;
    this.badges.events.textContent = shown === this.entries.length ? String(shown) : `${shown}/${this.entries.length}`;
    this.badges.fragments.textContent = String(this.fragmentRows?.childElementCount ?? 0);
    this.badges.errors.textContent = this.problems.length ? String(this.problems.length) : "";
    this.badges.errors.classList.toggle("alert", this.problems.length > 0);
  }
}

// -- the server page: GET /_tessera/inspect ----------------------------------------------------

/**
 * Draw the server inspector into the document and refresh it from `url` every second.
 * @param {string} url  the JSON endpoint (/_tessera/inspect.json)
 */
export function serverPage(url) {
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet()];
  document.body.className = "server";
  const status = el("span", { class: "pill", "data-status": "" }, "…");
  const updated = el("span", { class: "muted", "data-updated": "" });
  const since = el("span", { class: "muted" });
  const sections = {
    broker: el("dl", { class: "facts", "data-section": "broker" }),
    pages: el("div", { "data-section": "pages" }),
    rates: el("tbody", { "data-section": "rates" }),
    fragments: el("tbody", { "data-section": "fragments" }),
  };
  document.body.append(
    el("header", { class: "bar" }, el("strong", { class: "brand" }, el("span", { class: "logo" }, "◆"), "Tessera · server"), status, el("span", { class: "grow" }), updated),
    el("main", { class: "cards" },
      el("section", { class: "card" }, el("h2", {}, "Broker"), sections.broker),
      el("section", { class: "card" }, el("h2", {}, "Open pages ", el("span", { class: "muted" }, "(this process)")), sections.pages),
      el("section", { class: "card wide" }, el("h2", {}, "Events per topic ", since),
        el("table", {}, el("thead", {}, el("tr", {}, ...["topic", "scope", "/s (10 s)", "last minute", "total", "last"].map((h) => el("th", {}, h)))), sections.rates)),
      el("section", { class: "card wide" }, el("h2", {}, "Fragments"),
        el("table", {}, el("thead", {}, el("tr", {}, ...["fragment", "version", "slot", "state", "publishes", "subscribes"].map((h) => el("th", {}, h)))), sections.fragments))));

  const refresh = async () => {
    try {
      const response = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`${url} answered ${response.status}`);
      const info = await response.json();
      drawServer(info, sections, status);
      since.textContent = info.events?.since ? `(stored by the broker since ${clock(Date.parse(info.events.since))})` : "";
      updated.textContent = `updated ${clock(Date.now())}`;
      updated.classList.remove("bad");
    } catch (error) {
      updated.textContent = `cannot refresh: ${/** @type {Error} */ (error).message}`;
      updated.classList.add("bad");
    }
    setTimeout(refresh, 1000);
  };
  refresh();
}

/**
 * @param {any} info  /_tessera/inspect.json
 * @param {Record<string, HTMLElement>} sections
 * @param {HTMLElement} status
 */
function drawServer(info, sections, status) {
  status.textContent = info.status;
  status.setAttribute("data-status", info.status);
  const broker = info.broker ?? {};
  sections.broker.replaceChildren(...Object.entries(broker).flatMap(([key, value]) =>
    [el("dt", {}, key), el("dd", { "data-fact": key }, value === null ? "—" : String(value))]));
  const pages = info.pages ?? {};
  sections.pages.replaceChildren(
    el("div", { class: "numbers" },
      el("div", {}, el("b", { "data-count": "pages" }, String(pages.open ?? 0)), el("span", {}, "pages")),
      el("div", {}, el("b", { "data-count": "users" }, String(pages.users ?? 0)), el("span", {}, "users"))),
    el("table", { class: "buckets" }, el("thead", {}, el("tr", {}, el("th", {}, "pages per user"), el("th", {}, "users"))),
      el("tbody", {}, ...(pages.per_user ?? []).map((/** @type {any} */ b) =>
        el("tr", { "data-bucket": b.pages }, el("td", {}, b.pages), el("td", {}, String(b.users))))))),
  sections.rates.replaceChildren(...(info.events?.topics ?? []).map((/** @type {any} */ t) =>
    el("tr", { "data-topic": t.topic },
      el("td", { class: "mono" }, t.topic), el("td", {}, el("span", { class: `scope s-${t.scope}` }, t.scope)),
      el("td", { class: "num" }, t.per_second.toFixed(1)), el("td", { class: "num", "data-minute": "" }, String(t.last_minute)),
      el("td", { class: "num", "data-total": "" }, String(t.total)), el("td", { class: "muted" }, clock(Date.parse(t.last))))));
  if (!sections.rates.childElementCount) sections.rates.append(el("tr", {}, el("td", { class: "muted", colspan: "6" }, "No events yet.")));
  sections.fragments.replaceChildren(...(info.fragments ?? []).map((/** @type {Declared} */ f) =>
    el("tr", { "data-fragment": f.name },
      el("td", { class: "name" }, f.name), el("td", { class: "mono" }, f.version), el("td", {}, f.slot),
      el("td", {}, el("span", { class: `state st-${f.state}` }, f.state)),
      el("td", { class: "chips" }, ...Object.entries(f.publishes).map(([topic, scope]) => el("span", { class: `chip s-${scope}` }, topic))),
      el("td", { class: "chips" }, ...f.subscribes.map((pattern) => el("span", { class: "chip" }, pattern))))));
}

// -- small helpers ------------------------------------------------------------------------------

/**
 * An element with attributes and children; strings become text nodes, never markup.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string>} [attributes]
 * @param {(Node | string)[]} children
 * @returns {HTMLElementTagNameMap[K]}
 */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** @param {{epoch: string, seq: number} | null} at  the latest server position the page saw */
function position(at) {
  return at ? `${at.epoch} · seq ${at.seq}` : "no server event yet";
}

/** @param {unknown} value */
function pretty(value) {
  try {
    return JSON.stringify(value === undefined ? null : value, null, 2);
  } catch {
    return String(value);
  }
}

/** @param {TesseraEvent} event  bytes of its JSON, as the wire would carry it */
function bytes(event) {
  try {
    return encoder.encode(JSON.stringify(event)).length;
  } catch {
    return 0;
  }
}

/** @param {number} n */
function size(n) {
  return n < 1024 ? `${n} B` : `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} kB`;
}

/** @param {number} time */
function clock(time) {
  const d = new Date(time);
  const two = (/** @type {number} */ n) => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

/** @type {CSSStyleSheet | null} */
let styles = null;

/** The panel's style sheet, built once (a constructed sheet: CSP governs no CSSOM). */
function sheet() {
  if (!styles) {
    styles = new CSSStyleSheet();
    styles.replaceSync(CSS);
  }
  return styles;
}

// The dark palette of shell/theme.css, fixed: the panel looks the same on light and dark pages.
const CSS = `
:host, body.server {
  --bg: #19120d; --surface: #231a13; --surface-2: #2e2219; --text: #f4e9dc; --muted: #b09a86;
  --accent: #e07a4b; --accent-soft: #45291b; --border: #3a2c21; --ok: #79c08a; --ok-soft: #1f3325;
  --warn: #e3a94f; --warn-soft: #3a2a12; --bad: #ee7d72; --bad-soft: #3d1d1a; --info: #8fb3e0; --info-soft: #1d2838;
  --mono: ui-monospace, "SF Mono", "Cascadia Code", Menlo, Consolas, "DejaVu Sans Mono", monospace;
  --font: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", Arial, sans-serif;
}
:host { all: initial; position: fixed; inset: auto 0 0 0; z-index: 2147483000; font: 12px/1.45 var(--font); color: var(--text); }
:host([hidden]) { display: none; }
* { box-sizing: border-box; }
.panel { display: flex; flex-direction: column; height: 42vh; min-height: 120px; background: var(--bg);
  border-top: 1px solid var(--border); box-shadow: 0 -12px 32px -12px rgb(0 0 0 / 0.6); }
.panel.minimised { height: auto !important; min-height: 0; }
.panel.minimised .body { display: none; }
.grip { height: 5px; margin-top: -3px; cursor: ns-resize; flex: none; }
.grip:hover { background: var(--accent); opacity: 0.5; }
.bar { display: flex; align-items: center; gap: 10px; padding: 0 8px 0 12px; min-height: 34px; flex: none;
  background: var(--surface); border-bottom: 1px solid var(--border); }
.brand { display: flex; align-items: center; gap: 6px; font-weight: 650; letter-spacing: 0.01em; }
.logo { color: var(--accent); }
.tabs { display: flex; gap: 2px; flex: 1; overflow-x: auto; }
.tabs button { display: flex; align-items: center; gap: 6px; padding: 8px 10px; border: 0; border-bottom: 2px solid transparent;
  background: none; color: var(--muted); font: inherit; cursor: pointer; }
.tabs button:hover { color: var(--text); }
.tabs button[aria-selected="true"] { color: var(--text); border-bottom-color: var(--accent); }
.badge { min-width: 18px; padding: 0 5px; border-radius: 9px; background: var(--surface-2); color: var(--muted); font-size: 11px; text-align: center; }
.badge:empty { display: none; }
.badge.alert { background: var(--bad-soft); color: var(--bad); }
.pill { padding: 1px 9px; border-radius: 999px; font-size: 11px; font-weight: 600; background: var(--surface-2); color: var(--muted); }
.pill[data-connection="open"], .pill[data-status="ok"] { background: var(--ok-soft); color: var(--ok); }
.pill[data-connection="connecting"] { background: var(--warn-soft); color: var(--warn); }
.pill[data-connection="closed"], .pill[data-status="degraded"] { background: var(--bad-soft); color: var(--bad); }
.pill::before { content: "● "; }
button { font: inherit; color: var(--text); background: var(--surface-2); border: 1px solid var(--border); border-radius: 6px; padding: 3px 10px; cursor: pointer; }
button:hover:not(:disabled) { border-color: var(--accent); }
button:disabled { opacity: 0.45; cursor: not-allowed; }
button.on { background: var(--warn-soft); color: var(--warn); }
button.primary { background: var(--accent); border-color: var(--accent); color: #1d130c; font-weight: 600; }
button.icon { border: 0; background: none; color: var(--muted); padding: 4px 6px; }
button.icon:hover { color: var(--text); }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
input, textarea { font: 12px/1.4 var(--mono); color: var(--text); background: var(--surface); border: 1px solid var(--border); border-radius: 6px; padding: 5px 8px; }
input:focus, textarea:focus { outline: none; border-color: var(--accent); }
input.invalid { border-color: var(--bad); }
input[type="checkbox"] { accent-color: var(--accent); }
.body { flex: 1; min-height: 0; display: flex; }
.view { flex: 1; min-width: 0; display: flex; flex-direction: column; min-height: 0; }
.view[hidden] { display: none; }
.toolbar { display: flex; align-items: center; gap: 8px; padding: 6px 10px; border-bottom: 1px solid var(--border); }
.toolbar input { width: 300px; }
.grow { flex: 1; }
.note, .muted { color: var(--muted); }
.toolbar .note { color: var(--bad); }
.split { flex: 1; min-height: 0; display: grid; grid-template-columns: minmax(0, 1fr) minmax(260px, 38%); }
.scroll { overflow: auto; min-height: 0; flex: 1; }
table { width: 100%; border-collapse: collapse; }
th { position: sticky; top: 0; z-index: 1; text-align: left; font-weight: 600; color: var(--muted); background: var(--bg);
  padding: 5px 10px; border-bottom: 1px solid var(--border); font-size: 11px; text-transform: uppercase; letter-spacing: 0.04em; }
td { padding: 3px 10px; border-bottom: 1px solid color-mix(in srgb, var(--border) 55%, transparent); vertical-align: top; }
table.events { table-layout: fixed; }
table.events td { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
table.events tbody tr { cursor: pointer; }
table.events tbody tr:hover { background: var(--surface); }
table.events tr.selected { background: var(--accent-soft); }
table.events tr.own td.c-type { color: var(--muted); }
table.events tr.error td.c-type { color: var(--bad); }
.c-time { width: 108px; font-family: var(--mono); color: var(--muted); }
.c-type { font-family: var(--mono); color: var(--text); }
.c-source { width: 24%; font-family: var(--mono); color: var(--muted); }
.c-scope { width: 64px; }
.c-seq { width: 56px; font-family: var(--mono); text-align: right; }
.c-size { width: 64px; font-family: var(--mono); text-align: right; color: var(--muted); }
.scope, .chip, .state { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 11px; background: var(--surface-2); color: var(--muted); }
.s-user { background: var(--info-soft); color: var(--info); }
.s-global { background: var(--accent-soft); color: var(--accent); }
.s-page { background: var(--surface-2); color: var(--text); }
.s-local { background: transparent; color: var(--muted); }
.chip { margin: 1px 4px 1px 0; font-family: var(--mono); }
.st-mounted, .st-loaded, .st-open { background: var(--ok-soft); color: var(--ok); }
.st-loading, .st-connecting { background: var(--warn-soft); color: var(--warn); }
.st-failed, .st-closed, .st-resync { background: var(--bad-soft); color: var(--bad); }
.timeline span, .state { padding: 0 6px; border-radius: 4px; }
.detail { border-left: 1px solid var(--border); overflow: auto; padding: 8px 12px; background: var(--surface); }
.detail-head { display: flex; align-items: center; gap: 8px; font-family: var(--mono); word-break: break-all; }
h2, h3 { margin: 10px 0 4px; font-size: 11px; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted); font-weight: 600; }
pre { margin: 0; padding: 8px 10px; font: 12px/1.45 var(--mono); white-space: pre-wrap; word-break: break-word;
  background: var(--bg); border: 1px solid var(--border); border-radius: 6px; color: var(--text); }
pre.attributes { color: var(--muted); }
.result { margin: 6px 0 0; min-height: 1em; font-family: var(--mono); }
.result.ok { color: var(--ok); }
.result.bad { color: var(--bad); }
.columns { flex: 1; min-height: 0; display: grid; grid-template-columns: minmax(260px, 1fr) 1fr; gap: 16px; padding: 10px 14px; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 0 0 10px; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; font-family: var(--mono); word-break: break-all; }
.timeline, .problems { list-style: none; margin: 0; padding: 0; }
.timeline li { display: flex; gap: 10px; padding: 2px 0; font-family: var(--mono); }
.problems li { display: grid; grid-template-columns: 100px max-content 1fr; gap: 2px 12px; padding: 6px 12px; border-bottom: 1px solid var(--border); }
.problems time, .timeline time { font-family: var(--mono); color: var(--muted); }
.problems .kind { color: var(--bad); font-weight: 600; }
.problems .muted { grid-column: 3; font-family: var(--mono); }
.problems:empty::before { content: "No errors so far."; display: block; padding: 12px; color: var(--muted); }
.publish { display: flex; flex-direction: column; gap: 6px; padding: 10px 14px; max-width: 720px; overflow: auto; }
.publish label { display: flex; flex-direction: column; gap: 3px; color: var(--muted); }
.publish .row { display: flex; align-items: center; gap: 8px; }
.publish label.check { flex-direction: row; align-items: center; gap: 6px; }
.publish textarea { resize: vertical; }
td.name { font-weight: 600; }
td.mono, .mono { font-family: var(--mono); }
td.num { font-family: var(--mono); text-align: right; }
body.server { margin: 0; min-height: 100vh; background: var(--bg); color: var(--text); font: 13px/1.5 var(--font); }
body.server .bar { position: sticky; top: 0; min-height: 44px; padding: 0 20px; z-index: 2; }
body.server .bar .brand { font-size: 14px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; padding: 20px; max-width: 1280px; margin: 0 auto; }
.card { background: var(--surface); border: 1px solid var(--border); border-radius: 10px; padding: 4px 16px 14px; min-width: 0; overflow: auto; }
.card.wide { grid-column: 1 / -1; }
.card th { background: var(--surface); }
.numbers { display: flex; gap: 28px; margin: 6px 0 10px; }
.numbers b { display: block; font-size: 26px; font-weight: 650; font-family: var(--mono); }
.numbers span { color: var(--muted); }
.muted.bad { color: var(--bad); }
`;
