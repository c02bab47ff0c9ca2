// @ts-check  (types: shell/runtime/types.d.ts; tsc -p tsconfig.json checks this file)
// activity fragment: a live ticker of what every shopper is doing (global events from the
// server), and a colophon listing the fragments that compose this page.

/**
 * @typedef {import("../../../shell/runtime/types").TesseraEvent} TesseraEvent
 * @typedef {import("../../../shell/runtime/types").FragmentContext} Ctx
 * @typedef {{id: string, kind: "order" | "stock" | "soldout", html: string, at: number}} Entry
 */

const MAX_ENTRIES = 5;
const TICK_MS = 10000;

const ICONS = {
  order: `<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M5 8h14l-1.4 11.2a2 2 0 0 1-2 1.8H8.4a2 2 0 0 1-2-1.8z" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round"/><path d="M9 8V6.5a3 3 0 0 1 6 0V8" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/></svg>`,
  stock: `<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 8.5 12 4l8 4.5v7L12 20l-8-4.5z M4 8.5l8 4.5 8-4.5M12 13v7" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round"/></svg>`,
  soldout: `<svg viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="12" r="8" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="m6.5 6.5 11 11" stroke="currentColor" stroke-width="1.8"/></svg>`,
};

/** @param {unknown} s */
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** @param {number} ms */
function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 10) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

/** @param {TesseraEvent} e @returns {Entry|null} */
function toEntry(e) {
  const d = e.data ?? {};
  const at = Date.parse(e.time ?? "") || Date.now();
  if (e.type === "order.placed") {
    const n = Number(d.items_count) || 0;
    const where = d.city ? ` in <strong>${esc(d.city)}</strong>` : "";
    return { id: e.id, kind: "order", at,
      html: `Someone${where} ordered ${n} item${n === 1 ? "" : "s"} <span>#${esc(d.order_id ?? "")}</span>` };
  }
  if (e.type === "stock.changed" && typeof d.sku === "string") {
    const name = `<strong>${esc(d.name ?? d.sku)}</strong>`;
    const stock = Number(d.stock);
    if (stock <= 0) return { id: e.id, kind: "soldout", at, html: `${name} just sold out` };
    return { id: e.id, kind: "stock", at, html: `${name} — ${stock} left on the shelf` };
  }
  return null;
}

/**
 * @param {HTMLElement} el
 * @param {Ctx} ctx
 */
export function mount(el, ctx) {
  const list = /** @type {HTMLElement} */ (el.querySelector(".activity-list"));
  const chips = /** @type {HTMLElement} */ (el.querySelector(".activity-chips"));
  const count = /** @type {HTMLElement} */ (el.querySelector(".activity-count"));
  /** @type {Entry[]} */
  let entries = [];

  function renderFeed() {
    const now = Date.now();
    list.innerHTML = entries.length
      ? entries.map((x, i) => `<li class="activity-item${i === 0 && now - x.at < 3000 ? " is-new" : ""}" data-kind="${x.kind}">
          <span class="activity-icon">${ICONS[x.kind]}</span>
          <p>${x.html}</p><time datetime="${new Date(x.at).toISOString()}">${ago(now - x.at)}</time></li>`).join("")
      : `<li class="activity-empty">All quiet at the roastery. Orders and stock changes from every shopper show up here as they happen.</li>`;
  }

  /** Relative times only: no re-render, so the entry animation does not replay. */
  function tickTimes() {
    const now = Date.now();
    list.querySelectorAll("time").forEach((t) => {
      t.textContent = ago(now - Date.parse(t.getAttribute("datetime") ?? ""));
    });
  }

  /** Name, version and state of every fragment on the page (their public DOM attributes). */
  function renderChips() {
    const frags = [...document.querySelectorAll("tessera-fragment")];
    count.textContent = ` · ${frags.length} fragment${frags.length === 1 ? "" : "s"}`;
    chips.innerHTML = frags.map((f) => {
      const name = esc(f.getAttribute("name") ?? "?");
      const version = f.getAttribute("data-version");
      const state = esc(f.getAttribute("data-state") ?? "loading");
      return `<li class="activity-chip" data-state="${state}" title="${name}: ${state}">
        <span class="activity-chip-dot" aria-hidden="true"></span>${name}${version ? `<span>v${esc(version)}</span>` : ""}</li>`;
    }).join("");
  }

  /** @param {TesseraEvent} e */
  function onEvent(e) {
    const entry = toEntry(e);
    if (!entry || entries.some((x) => x.id === entry.id)) return;
    entries = [entry, ...entries].sort((a, b) => b.at - a.at).slice(0, MAX_ENTRIES);
    renderFeed();
  }

  ctx.bus.subscribe("order.placed", onEvent);
  ctx.bus.subscribe("stock.changed", onEvent);
  renderFeed();
  renderChips();
  /** @type {any} */ (window).tessera?.ready?.then?.(renderChips, renderChips);
  const timer = setInterval(() => { tickTimes(); renderChips(); }, TICK_MS);

  return () => clearInterval(timer);
}
