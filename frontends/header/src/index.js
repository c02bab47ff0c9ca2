// @ts-check  (types: shell/runtime/types.d.ts; tsc -p tsconfig.json checks this file)
// header fragment: brand, connection dot, notification bell, current user chip.
// Talks to the rest of the page only through ctx.bus.

/**
 * @typedef {import("../../../shell/runtime/types").TesseraEvent<any>} TesseraEvent
 * @typedef {import("../../../shell/runtime/types").FragmentContext} Ctx
 * @typedef {{id: string, title: string, body: string, level: string, time: Date, unread: boolean}} Note
 */

const MAX_NOTES = 20;
/** @type {Record<string, string>} */
const ICONS = { success: "✓", warning: "!", error: "×", info: "i" };
const LEVELS = new Set(Object.keys(ICONS));

/** @param {string} s */
const esc = (s) =>
  String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** @param {Date} d */
const clock = (d) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

/**
 * When an event happened: its `time`, or now when it has none or the browser cannot read it
 * (a valid RFC 3339 leap second, `...T23:59:60Z`, is an Invalid Date in Chromium, and an
 * Invalid Date throws in `toISOString`).
 * @param {unknown} time
 */
function eventDate(time) {
  const date = typeof time === "string" ? new Date(time) : new Date(NaN);
  return Number.isNaN(date.getTime()) ? new Date() : date;
}

/** A stable, pleasant avatar colour derived from the user id. @param {string} id */
function avatarColour(id) {
  let h = 0;
  for (const ch of id) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return `hsl(${h} 45% 42%)`;
}

/** @param {Note} n */
function noteHtml(n) {
  return `<li class="header-item${n.unread ? " is-unread" : ""}" data-level="${n.level}">
    <span class="header-item-icon" aria-hidden="true">${ICONS[n.level]}</span>
    <div><strong>${esc(n.title)}</strong>${n.body ? `<p>${esc(n.body)}</p>` : ""}
    <time datetime="${n.time.toISOString()}">${clock(n.time)}</time></div></li>`;
}

/**
 * @param {HTMLElement} el
 * @param {Ctx} ctx
 */
export function mount(el, ctx) {
  const bell = /** @type {HTMLButtonElement} */ (el.querySelector(".header-bell"));
  const badge = /** @type {HTMLElement} */ (el.querySelector(".header-badge"));
  const panel = /** @type {HTMLElement} */ (el.querySelector(".header-panel"));
  const list = /** @type {HTMLElement} */ (el.querySelector(".header-list"));
  const conn = /** @type {HTMLElement} */ (el.querySelector(".header-conn"));
  const clear = /** @type {HTMLElement} */ (el.querySelector(".header-clear"));
  const userId = el.querySelector(".header-user-id")?.textContent?.trim() || "";
  const avatar = /** @type {HTMLElement|null} */ (el.querySelector(".header-avatar"));
  if (avatar && userId) avatar.style.setProperty("--header-avatar-bg", avatarColour(userId));

  /** @type {Note[]} */
  let notes = [];

  function render() {
    const unread = notes.filter((n) => n.unread).length;
    badge.hidden = unread === 0;
    badge.textContent = unread > 9 ? "9+" : String(unread);
    bell.setAttribute("aria-label", unread ? `Notifications, ${unread} unread` : "Notifications");
    clear.hidden = notes.length === 0;
    list.innerHTML = notes.length
      ? notes.map(noteHtml).join("")
      : `<li class="header-empty">You're all caught up. Order something tasty ☕</li>`;
  }

  function ring() {
    bell.classList.remove("is-ringing");
    void bell.offsetWidth; // restart the animation
    bell.classList.add("is-ringing");
  }

  /** @param {boolean} open */
  function setOpen(open) {
    panel.hidden = !open;
    bell.setAttribute("aria-expanded", String(open));
    if (!open) return;
    render(); // show which ones were new, then mark them read
    notes = notes.map((n) => ({ ...n, unread: false }));
    badge.hidden = true;
  }

  /** @param {TesseraEvent} event */
  function onNotify(event) {
    const d = event.data && typeof event.data === "object" ? event.data : {};
    if (notes.some((n) => n.id === event.id)) return;
    const level = LEVELS.has(d.level) ? d.level : "info";
    const note = {
      id: event.id, title: String(d.title ?? "Notification"), body: String(d.body ?? ""),
      level, time: eventDate(event.time), unread: panel.hidden,
    };
    notes = [note, ...notes].slice(0, MAX_NOTES);
    render();
    ring();
  }

  /** @param {MouseEvent} e */
  function onClick(e) {
    const action = /** @type {HTMLElement} */ (e.target).closest("[data-action]");
    if (!action || !el.contains(action)) return;
    const name = action.getAttribute("data-action");
    if (name === "toggle") setOpen(panel.hidden);
    if (name === "clear") { notes = []; render(); }
  }

  /** Close the dropdown on a click outside it... @param {MouseEvent} e */
  function onDocClick(e) {
    const box = el.querySelector(".header-notify");
    if (!panel.hidden && box && !box.contains(/** @type {Node} */ (e.target))) setOpen(false);
  }

  /** ...or on Escape. @param {KeyboardEvent} e */
  function onKey(e) {
    if (e.key === "Escape" && !panel.hidden) { setOpen(false); bell.focus(); }
  }

  function pollConnection() {
    const state = /** @type {any} */ (window).tessera?.connection?.state ?? "connecting";
    if (conn.dataset.conn === state) return;
    conn.dataset.conn = state;
    /** @type {Record<string, string>} */
    const labels = { open: "connected", closed: "offline — reconnecting", connecting: "connecting" };
    const label = labels[state] ?? state;
    conn.title = `Live updates: ${label}`;
  }

  el.addEventListener("click", onClick);
  document.addEventListener("click", onDocClick);
  document.addEventListener("keydown", onKey);
  ctx.bus.subscribe("notify.new", onNotify);
  ctx.bus.subscribe("order.confirmed", ring); // the matching notify.new carries the text
  ctx.bus.subscribe("tessera.connection", pollConnection); // instant when the runtime says so
  pollConnection();
  const timer = setInterval(pollConnection, 1000); // and polled, in case it does not
  render();

  return () => {
    clearInterval(timer);
    el.removeEventListener("click", onClick);
    document.removeEventListener("click", onDocClick);
    document.removeEventListener("keydown", onKey);
  };
}
