// The guard console: shows the current frame with what alarmed on it, keeps the guard's
// corrections (false alarms, classes, missed items) until they are sent as one verdict, and
// re-reads the queue on every server-sent event. A tired guard must see only what needs an
// answer: detections below the alarm threshold stay off the screen until asked for, and then
// only as faint boxes.
"use strict";

import { ScanView } from "./scan.js";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);
// The storage-media classes, as the server renders them for the missed-item form: also what
// an alarm's class can be corrected to.
const MEDIA = [...$("missed-class").options].map((option) => option.value);

const state = {
  queue: null,       // last /api/queue answer
  currentId: null,   // queue id of the frame on screen
  pinned: false,     // the guard picked a frame; do not jump to the next alarm
  cleared: new Set(),
  corrections: new Map(),  // object_id -> the class the guard says a standing alarm is
  picking: false,    // R was pressed on a frame with several alarms: a number picks one
  missed: [],        // {class_name, box}
  showQuiet: false,  // below-threshold detections drawn (asked for with A, per frame)
  drawing: false,
  dragging: false,
  draft: null,       // box being drawn [x1, y1, x2, y2]
  sending: false,    // a verdict is on its way
  shownAt: new Map(),  // queue id -> performance.now() when its alarm was first on screen
};

// Colours of the items of a multi-view frame (#20), all alarm-like: an item's boxes share
// one in every view. A single-view frame keeps the plain alarm red.
const ITEM_COLOURS = ["#e02424", "#f76707", "#e64980", "#be4bdb", "#fab005", "#ff8787"];
// The extra views of the frame on screen: their ScanViews, rebuilt for each frame.
const extra = { key: null, views: [] };

const view = new ScanView({
  stage: $("stage"),
  viewport: $("viewport"),
  image: $("frame-image"),
  overlay: $("overlay"),
  canPan: () => !state.drawing,
  onChange: (scan) => {
    $("zoom-level").textContent = `×${scan.zoom.toFixed(1)}`;
    $("brightness").value = String(scan.brightness);
    $("contrast").value = String(scan.contrast);
    $("invert").checked = scan.inverted;
    syncFilters();
  },
});

// Brightness, contrast and inversion apply to every view; zoom and pan are per view.
function syncFilters() {
  for (const { scan } of extra.views) {
    Object.assign(scan, { brightness: view.brightness, contrast: view.contrast, inverted: view.inverted });
    scan.apply();
  }
}

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

function items() {
  const q = state.queue;
  if (!q) return [];
  const all = [...q.pending];
  if (q.live && !all.some((item) => item.id === q.live.id)) all.push(q.live);
  return all;
}

function current() {
  return items().find((item) => item.id === state.currentId) || null;
}

// The items a guard must answer, numbered 1, 2, ... for the keys. On a multi-view frame the
// alarmed objects of one item (matched across views by the edge) are one entry: its
// representative (the primary view's best, else its best) with every object as members.
// On a single-view frame each alarmed object is an item of its own.
function alarms(item) {
  if (!item) return [];
  const groups = new Map();
  for (const o of item.detection.objects.filter((obj) => obj.alarmed)) {
    const key = o.item_id || o.object_id;
    groups.set(key, [...(groups.get(key) || []), o]);
  }
  const rank = (o) => (o.view_id === null ? 2 : 0) + o.score;
  return [...groups.values()].map((members) => ({
    ...members.reduce((best, o) => (rank(o) > rank(best) ? o : best)), members,
  }));
}

function quiet(item, viewId) {
  return item ? item.detection.objects.filter((o) => !o.alarmed && (viewId === undefined || o.view_id === viewId)) : [];
}

function awaitsAnswer(item) {
  return Boolean(item && item.alarmed && !item.reviewed_by);
}

function pickCurrent() {
  const q = state.queue;
  const stillThere = current();
  // Stay on a frame the guard picked, is working on, or that still waits for an answer.
  const busy = state.pinned || state.drawing || state.missed.length > 0 || state.cleared.size > 0
    || state.corrections.size > 0 || view.isZoomed();
  if (stillThere && (busy || awaitsAnswer(stillThere))) return;
  const next = q.pending[0] || q.live;
  select(next ? next.id : null, false);
}

function select(id, pinned) {
  if (id !== state.currentId) {
    state.cleared = new Set();
    state.corrections = new Map();
    state.picking = false;
    state.missed = [];
    state.showQuiet = false;
    stopDrawing();
    view.resetView();
  }
  state.currentId = id;
  state.pinned = pinned;
  render();
}

async function refresh() {
  const response = await fetch("/api/queue", { credentials: "same-origin" });
  if (response.status === 401) { window.location = "/login"; return; }
  state.queue = await response.json();
  pickCurrent();
  render();
}

function pct(score) { return `${Math.round(score * 100)}%`; }

// "laptop 86%", or "tablet (detected laptop 86%)" once the guard corrected the class.
function alarmName(obj) {
  const corrected = state.corrections.get(obj.object_id);
  return corrected ? `${corrected} (detected ${obj.class_name} ${pct(obj.score)})`
    : `${obj.class_name} ${pct(obj.score)}`;
}

function renderBanner(item) {
  const banner = $("alarm-banner");
  const pending = state.queue ? state.queue.pending.length : 0;
  banner.className = "banner";
  if (awaitsAnswer(item)) {
    const found = alarms(item).map((o) => `${o.class_name} ${pct(o.score)}`).join(", ");
    banner.textContent = `⚠ ALARM · lane ${item.lane} · ${found} · frame ${item.frame_id}`;
    banner.dataset.frameId = item.frame_id;
    banner.hidden = false;
  } else if (pending > 0) {
    banner.textContent = `${pending} alarm${pending > 1 ? "s" : ""} waiting for review (N)`;
    banner.className = "banner waiting";
    delete banner.dataset.frameId;
    banner.hidden = false;
  } else {
    banner.hidden = true;
    delete banner.dataset.frameId;
  }
}

// Starts the guard's response time: the alarm counts as shown once its image is on screen.
function markShown(item) {
  const image = $("frame-image");
  if (!awaitsAnswer(item) || state.shownAt.has(item.id)) return;
  if (image.getAttribute("src") === item.image_url && image.complete && image.naturalWidth > 0) {
    state.shownAt.set(item.id, performance.now());
  }
}

// The boxes of one view (viewId null: the primary, where missed items are drawn).
function boxesOf(item, viewId = null) {
  const boxes = [];
  if (state.showQuiet) {
    quiet(item, viewId).forEach((o) => boxes.push({
      box: o.box, kind: "quiet", title: `${o.class_name} ${pct(o.score)}, below the alarm threshold`,
    }));
  }
  const multi = item.detection.views.length > 0;
  alarms(item).forEach((alarm, index) => {
    const label = `${index + 1} ${alarmName(alarm)}`;
    const colour = multi ? ITEM_COLOURS[index % ITEM_COLOURS.length] : undefined;
    for (const o of alarm.members.filter((member) => member.view_id === viewId)) {
      if (item.reviewed_by) boxes.push({ box: o.box, kind: "answered", tag: `${label} · answered` });
      else if (state.cleared.has(alarm.object_id)) boxes.push({ box: o.box, kind: "cleared", tag: `✓ cleared ${label}` });
      else boxes.push({ box: o.box, kind: "alarmed", tag: `⚠ ${label}`, colour });
    }
  });
  if (viewId !== null) return boxes;
  state.missed.forEach((m) => boxes.push({ box: m.box, kind: "missed", tag: `+ missed ${m.class_name}` }));
  if (state.draft) boxes.push({ box: normalise(state.draft), kind: "draft" });
  return boxes;
}

function viewFigure(spec) {
  const figure = el("figure", { class: "view", "data-view-id": spec.view_id });
  const stage = el("div", { class: "stage" });
  const viewport = el("div", { class: "viewport" });
  const image = el("img", { alt: `X-ray frame, ${spec.view_id} view` });
  const overlay = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  overlay.setAttribute("class", "overlay");
  const error = el("p", { class: "error" });
  error.hidden = true;
  viewport.append(image, overlay);
  stage.append(viewport, error);
  figure.append(el("figcaption", {}, `${spec.view_id} view`), stage);
  return { figure, image, error, scan: new ScanView({ stage, viewport, image, overlay, canPan: () => true }) };
}

// The frame's extra views beside the primary one, each with its own boxes.
function renderViews(item) {
  const specs = item ? item.detection.views : [];
  const key = item ? `${item.id}:${specs.map((v) => v.view_id).join("/")}` : null;
  if (key !== extra.key) {
    extra.key = key;
    extra.views = specs.map(viewFigure);
    $("views").replaceChildren(...extra.views.map((v) => v.figure));
    $("views-row").classList.toggle("multi", specs.length > 0);
    syncFilters();
  }
  specs.forEach((spec, index) => {
    const { image, error, scan } = extra.views[index];
    scan.setSize(spec.width, spec.height);
    if (spec.image_url) {
      if (image.getAttribute("src") !== spec.image_url) image.src = spec.image_url;
    } else image.removeAttribute("src");
    error.textContent = spec.image_error || "";
    error.hidden = Boolean(spec.image_url);
    scan.draw(boxesOf(item, spec.view_id));
  });
}

function renderFrame(item) {
  const image = $("frame-image");
  $("image-error").hidden = true;
  if (!item) {
    $("frame-title").textContent = "Waiting for the first frame…";
    image.removeAttribute("src");
    view.draw([]);
    return;
  }
  $("frame-title").textContent =
    `frame ${item.frame_id} · lane ${item.lane} · model ${item.detection.model_version}`;
  $("frame-state").textContent = item.reviewed_by ? `answered by ${item.reviewed_by}`
    : item.alarmed ? "⚠ ALARM" : "no alarm";
  if (item.image_url) {
    if (image.getAttribute("src") !== item.image_url) image.src = item.image_url;
  } else {
    image.removeAttribute("src");
    $("image-error").textContent = item.image_error;
    $("image-error").hidden = false;
  }
  const det = item.detection;
  const hidden = quiet(item).length;
  $("quiet-note").textContent = !hidden ? "none on this frame"
    : state.showQuiet ? `${hidden} shown faint · A hides them` : `${hidden} hidden · A shows them`;
  $("show-quiet").checked = state.showQuiet;
  $("show-quiet").disabled = hidden === 0;
  view.setSize(det.width, det.height);
  view.draw(boxesOf(item));
  markShown(item);
}

function renderSide(item) {
  // A re-render replaces the pickers: the one the guard is choosing with keeps the focus.
  const focused = document.activeElement;
  const picking = focused && focused.classList.contains("class-pick") ? focused.dataset.objectId : null;
  const list = $("objects");
  list.replaceChildren();
  const answerable = Boolean(item) && !item.reviewed_by;
  alarms(item).forEach((obj, index) => {
    const cleared = state.cleared.has(obj.object_id);
    const row = el("li", { class: cleared ? "cleared" : "alarmed" });
    row.append(el("span", { class: "label" }, `${index + 1}. ${cleared
      ? `cleared: ${obj.class_name} ${pct(obj.score)}` : `⚠ ${alarmName(obj)}`}`));
    if (answerable && !cleared) row.append(classPicker(obj, index + 1));
    const button = el("button", { type: "button", "data-object-id": obj.object_id },
      cleared ? "Restore" : "False alarm");
    button.addEventListener("click", () => toggleObject(obj.object_id));
    row.append(button);
    list.append(row);
  });
  if (picking) {
    const picker = [...list.querySelectorAll("select.class-pick")].find((p) => p.dataset.objectId === picking);
    if (picker) picker.focus();
  }
  $("no-alarm").hidden = !item || alarms(item).length > 0;
  const missed = $("missed");
  missed.replaceChildren();
  state.missed.forEach((m, index) => {
    const row = el("li");
    row.append(el("span", { class: "label" }, `${m.class_name} at ${m.box.map(Math.round).join(", ")}`));
    const remove = el("button", { type: "button" }, "Remove");
    remove.addEventListener("click", () => { state.missed.splice(index, 1); render(); });
    row.append(remove);
    missed.append(row);
  });
  for (const id of ["confirm", "clear-all", "mark-missed"]) $(id).disabled = !answerable;
  const queue = $("queue");
  queue.replaceChildren();
  const pending = state.queue ? state.queue.pending : [];
  $("queue-count").textContent = String(pending.length);
  pending.forEach((p) => {
    const row = el("li", { class: p.id === state.currentId ? "current" : "" },
      `${p.frame_id} · ${alarms(p).map((o) => o.class_name).join(", ")}`);
    row.addEventListener("click", () => select(p.id, true));
    queue.append(row);
  });
}

function render() {
  const item = current();
  renderBanner(item);
  renderFrame(item);
  renderViews(item);
  renderSide(item);
}

// The class of a standing alarm: the detector's unless the guard picks another medium.
function classPicker(obj, n) {
  const picker = el("select", {
    class: "class-pick", "data-object-id": obj.object_id, "aria-label": `Class of alarm ${n}`,
  });
  for (const name of MEDIA) picker.append(el("option", { value: name }, name));
  picker.value = state.corrections.get(obj.object_id) || obj.class_name;
  picker.addEventListener("change", () => setClass(obj, picker.value));
  return picker;
}

function setClass(obj, className) {
  if (className === obj.class_name) state.corrections.delete(obj.object_id);
  else state.corrections.set(obj.object_id, className);
  render();
}

// R: the class picker of the alarm left standing, or with several, of the number pressed next.
function startPicking() {
  const item = current();
  if (!item || item.reviewed_by) return;
  const standing = alarms(item).filter((o) => !state.cleared.has(o.object_id));
  if (standing.length === 1) focusPicker(standing[0].object_id);
  else if (standing.length > 1) {
    state.picking = true;
    $("status").textContent = "correct the class of which alarm? press its number";
  }
}

function focusPicker(objectId) {
  if (state.picking) $("status").textContent = "";
  state.picking = false;
  const picker = [...document.querySelectorAll("select.class-pick")].find((p) => p.dataset.objectId === objectId);
  if (picker) picker.focus();
}

function toggleObject(objectId) {
  if (state.cleared.has(objectId)) state.cleared.delete(objectId);
  else {
    state.cleared.add(objectId);
    state.corrections.delete(objectId);  // a false alarm has no class to correct
  }
  render();
}

function toggleQuiet() {
  if (!quiet(current()).length) return;
  state.showQuiet = !state.showQuiet;
  render();
}

async function sendVerdict(clearAll) {
  const item = current();
  if (!item || item.reviewed_by || state.sending) return;
  state.sending = true;  // one verdict per frame: a double press must not send twice
  try { await postVerdict(item, clearAll); } finally { state.sending = false; }
}

async function postVerdict(item, clearAll) {
  // A rejected item rejects its objects in every view.
  const rejected = alarms(item).filter((a) => clearAll || state.cleared.has(a.object_id))
    .flatMap((a) => a.members.map((o) => o.object_id));
  const corrections = clearAll ? [] : [...state.corrections]
    .map(([objectId, className]) => ({ object_id: objectId, class_name: className }));
  // An image already on screen whose load event has not run yet counts from now: a quick
  // answer is measured (as about 0 ms), not lost.
  markShown(item);
  const shownAt = state.shownAt.get(item.id);
  $("status").textContent = "sending…";
  const response = await fetch(`/api/frames/${item.id}/verdict`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({
      rejected_object_ids: rejected,
      missed_items: state.missed,
      class_corrections: corrections,
      response_ms: shownAt === undefined ? null : Math.round(performance.now() - shownAt),
    }),
  });
  const answer = await response.json();
  if (!response.ok) { $("status").textContent = `not sent: ${answer.detail}`; return; }
  state.shownAt.delete(item.id);
  state.cleared = new Set();  // sent: the next alarm starts clean and at the whole image
  state.corrections = new Map();
  state.missed = [];
  view.resetView();
  // 202: stored with the answer, Kafka not yet reached; the console sends it by itself.
  $("status").textContent = answer.delivered
    ? `verdict ${answer.decision} sent for frame ${item.frame_id}`
    : `verdict ${answer.decision} saved for frame ${item.frame_id}; sent once Kafka answers`;
  showTip(item, answer.tip);
  state.pinned = false;
  await refresh();
}

// A threat image projection frame: the server says so only in the answer to the verdict, so
// the guard learns it was a test (and whether they found the projected medium) after
// answering, never before. The notice stays until the next answer.
function showTip(item, tip) {
  const notice = $("tip-result");
  notice.hidden = !tip;
  if (!tip) return;
  notice.classList.toggle("missed", !tip.found);
  notice.textContent = tip.found
    ? `That was a test image (TIP): you found the projected ${tip.class_name}.`
    : `That was a test image (TIP): the projected ${tip.class_name} was missed ` +
      `(at ${tip.box.map(Math.round).join(", ")} in frame ${item.frame_id}).`;
}

// Drawing a missed item: drag on the overlay, in image pixels.
function normalise([x1, y1, x2, y2]) {
  return [Math.min(x1, x2), Math.min(y1, y2), Math.max(x1, x2), Math.max(y1, y2)];
}

function startDrawing() {
  const item = current();
  if (!item || item.reviewed_by) return;
  state.drawing = true;
  state.draft = null;
  $("overlay").classList.add("drawing");
  $("draw-hint").hidden = false;
  $("missed-form").hidden = true;
}

function stopDrawing() {
  state.drawing = false;
  state.dragging = false;
  state.draft = null;
  $("overlay").classList.remove("drawing");
  $("draw-hint").hidden = true;
  $("missed-form").hidden = true;
}

$("overlay").addEventListener("pointerdown", (event) => {
  if (!state.drawing) return;
  const [x, y] = view.toImage(event.clientX, event.clientY);
  state.draft = [x, y, x, y];
  state.dragging = true;
  $("overlay").setPointerCapture(event.pointerId);
});
$("overlay").addEventListener("pointermove", (event) => {
  if (!state.drawing || !state.dragging) return;
  [state.draft[2], state.draft[3]] = view.toImage(event.clientX, event.clientY);
  view.draw(boxesOf(current()));
});
$("overlay").addEventListener("pointerup", () => {
  if (!state.drawing || !state.dragging) return;
  state.dragging = false;
  $("draw-hint").hidden = true;
  $("missed-form").hidden = false;
  $("missed-class").focus();
});
$("frame-image").addEventListener("load", () => markShown(current()));
// The form's buttons are hidden once used; focus is handed back to the page at once, not at
// the browser's next focus fix-up, so an Enter pressed right after sends the verdict.
$("missed-add").addEventListener("click", (event) => {
  event.currentTarget.blur();
  if (!state.draft) return;
  state.missed.push({ class_name: $("missed-class").value, box: normalise(state.draft) });
  stopDrawing();
  render();
});
$("missed-cancel").addEventListener("click", (event) => {
  event.currentTarget.blur();
  stopDrawing();
  render();
});
$("confirm").addEventListener("click", () => sendVerdict(false));
$("clear-all").addEventListener("click", () => sendVerdict(true));
$("mark-missed").addEventListener("click", startDrawing);
$("zoom-in").addEventListener("click", () => view.zoomIn());
$("zoom-out").addEventListener("click", () => view.zoomOut());
$("view-reset").addEventListener("click", () => view.resetAll());
$("brightness").addEventListener("input", (e) => view.setFilter("brightness", Number(e.target.value)));
$("contrast").addEventListener("input", (e) => view.setFilter("contrast", Number(e.target.value)));
$("invert").addEventListener("change", () => view.toggleInvert());
$("show-quiet").addEventListener("change", toggleQuiet);
// A click must not leave focus on a view control: Enter then sends the verdict, as it says.
for (const node of document.querySelectorAll(".scan-tools button, .scan-tools input[type=checkbox]")) {
  node.addEventListener("mousedown", (event) => event.preventDefault());
}

function step(delta) {
  const pending = state.queue ? state.queue.pending : [];
  if (!pending.length) return;
  const at = pending.findIndex((p) => p.id === state.currentId);
  const next = pending[(at + delta + pending.length) % pending.length];
  select(next.id, true);
}

function toggleNth(n) {
  const obj = alarms(current())[n - 1];
  if (!obj) return;
  if (state.picking) focusPicker(obj.object_id); else toggleObject(obj.object_id);
}

// Every key of the legend on the page (and docs/console.md), by KeyboardEvent.key.
const KEYS = {
  Enter: () => sendVerdict(false),
  x: () => sendVerdict(true),
  m: startDrawing,
  r: startPicking,
  a: toggleQuiet,
  n: () => step(1),
  p: () => step(-1),
  l: () => select(state.queue && state.queue.live ? state.queue.live.id : null, false),
  Escape: () => { stopDrawing(); render(); },
  "+": () => view.zoomIn(),
  "=": () => view.zoomIn(),
  "-": () => view.zoomOut(),
  0: () => view.resetAll(),
  ArrowLeft: () => view.panBy(-1, 0),
  ArrowRight: () => view.panBy(1, 0),
  ArrowUp: () => view.panBy(0, -1),
  ArrowDown: () => view.panBy(0, 1),
  b: () => view.stepFilter("brightness", 1),
  B: () => view.stepFilter("brightness", -1),
  c: () => view.stepFilter("contrast", 1),
  C: () => view.stepFilter("contrast", -1),
  i: () => view.toggleInvert(),
};
for (const letter of ["x", "m", "r", "a", "n", "p", "l", "i"]) KEYS[letter.toUpperCase()] = KEYS[letter];
for (let n = 1; n <= 9; n += 1) KEYS[String(n)] = () => toggleNth(n);

document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (event.ctrlKey || event.metaKey || event.altKey) return;  // the browser's own shortcuts
  if (target.tagName === "BUTTON" && (event.key === "Enter" || event.key === " ")) return;
  if (target.classList.contains("class-pick")) {
    // The picker takes letters and arrows itself; Enter keeps the class, Esc restores the
    // detector's, and either hands the keys back to the page (Enter again sends the verdict).
    if (event.key === "Enter" || event.key === "Escape") {
      event.preventDefault();
      target.blur();
      if (event.key === "Escape") { state.corrections.delete(target.dataset.objectId); render(); }
    }
    return;
  }
  if (target.tagName === "SELECT" || (target.tagName === "INPUT" && !["range", "checkbox"].includes(target.type))) {
    if (event.key === "Enter" && state.draft) { event.preventDefault(); $("missed-add").click(); }
    if (event.key === "Escape") { stopDrawing(); render(); }
    return;
  }
  if (target.type === "range" && event.key.startsWith("Arrow")) return;  // the slider's own keys
  const action = Object.hasOwn(KEYS, event.key) ? KEYS[event.key] : null;
  if (state.picking && !/^[1-9]$/.test(event.key)) {
    state.picking = false;  // R then anything but a number: no picker
    $("status").textContent = "";
  }
  if (!action) return;
  event.preventDefault();
  action();
});

const events = new EventSource("/api/events");
events.addEventListener("queue", () => refresh());
events.addEventListener("error", () => {
  $("status").textContent = "reconnecting…";
  setTimeout(refresh, 2000);  // an expired session ends the stream: refresh() sends to sign-in
});
events.addEventListener("open", () => { $("status").textContent = ""; });
refresh();
