// The guard console: draws the current frame with its boxes, keeps the guard's corrections
// until they are sent as one verdict, and re-reads the queue on every server-sent event.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

const state = {
  queue: null,      // last /api/queue answer
  currentId: null,  // queue id of the frame on screen
  pinned: false,    // the guard picked a frame; do not jump to the next alarm
  cleared: new Set(),
  missed: [],       // {class_name, box}
  drawing: false,
  draft: null,      // box being drawn [x1, y1, x2, y2]
  sending: false,   // a verdict is on its way
};

function el(tag, attrs = {}, text = "") {
  const node = tag === "svg" || ["rect", "text", "g"].includes(tag)
    ? document.createElementNS(SVG, tag) : document.createElement(tag);
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

function pickCurrent() {
  const q = state.queue;
  const stillThere = current();
  // Stay on a frame the guard picked, is working on, or that still waits for an answer.
  const busy = state.pinned || state.drawing || state.missed.length > 0 || state.cleared.size > 0;
  if (stillThere && (busy || (stillThere.alarmed && !stillThere.reviewed_by))) return;
  const next = q.pending[0] || q.live;
  select(next ? next.id : null, false);
}

function select(id, pinned) {
  if (id !== state.currentId) {
    state.cleared = new Set();
    state.missed = [];
    stopDrawing();
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

function renderBanner(item) {
  const banner = $("alarm-banner");
  const pending = state.queue ? state.queue.pending.length : 0;
  banner.className = "banner";
  if (item && item.alarmed && !item.reviewed_by) {
    const alarms = item.detection.objects.filter((o) => o.alarmed)
      .map((o) => `${o.class_name} ${pct(o.score)}`).join(", ");
    banner.textContent = `ALARM · lane ${item.lane} · ${alarms} · frame ${item.frame_id}`;
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

function renderFrame(item) {
  const image = $("frame-image");
  const overlay = $("overlay");
  overlay.replaceChildren();
  $("image-error").hidden = true;
  if (!item) { $("frame-title").textContent = "Waiting for the first frame…"; image.removeAttribute("src"); return; }
  const model = item.detection ? ` · model ${item.detection.model_version}` : "";
  $("frame-title").textContent = `frame ${item.frame_id} · lane ${item.lane}${model}`;
  $("frame-state").textContent = item.reviewed_by ? `answered by ${item.reviewed_by}`
    : item.detection ? (item.alarmed ? "ALARM" : "clear") : "detecting…";
  if (item.image_url) {
    if (image.getAttribute("src") !== item.image_url) image.src = item.image_url;
  } else {
    image.removeAttribute("src");
    $("image-error").textContent = item.image_error || "image not received yet";
    $("image-error").hidden = false;
  }
  const det = item.detection;
  if (!det) return;
  overlay.setAttribute("viewBox", `0 0 ${det.width} ${det.height}`);
  $("stage").style.setProperty("--aspect", String(det.width / det.height));
  overlay.setAttribute("preserveAspectRatio", "none");
  det.objects.forEach((obj, index) => {
    const kind = state.cleared.has(obj.object_id) ? "cleared" : obj.alarmed ? "alarmed" : "quiet";
    overlay.append(boxGroup(obj.box, kind, `${index + 1} ${obj.class_name} ${pct(obj.score)}`));
  });
  state.missed.forEach((m) => overlay.append(boxGroup(m.box, "missed", `missed ${m.class_name}`)));
  if (state.draft) {
    const [x1, y1, x2, y2] = normalise(state.draft);
    overlay.append(el("rect", { class: "draft", x: x1, y: y1, width: x2 - x1, height: y2 - y1 }));
  }
}

function boxGroup(box, kind, label) {
  const [x1, y1, x2, y2] = box;
  const group = el("g", { class: kind });
  group.append(el("rect", { x: x1, y: y1, width: x2 - x1, height: y2 - y1 }));
  group.append(el("text", { x: x1 + 3, y: Math.max(14, y1 - 4) }, label));
  return group;
}

function renderSide(item) {
  const list = $("objects");
  list.replaceChildren();
  const det = item && item.detection;
  (det ? det.objects : []).forEach((obj, index) => {
    const cleared = state.cleared.has(obj.object_id);
    const row = el("li", { class: cleared ? "cleared" : "" });
    row.append(el("span", { class: "label" },
      `${index + 1}. ${obj.class_name} ${pct(obj.score)}${obj.alarmed ? " ⚠" : ""}`));
    if (obj.alarmed) {
      const button = el("button", { type: "button", "data-object-id": obj.object_id },
        cleared ? "Restore" : "False alarm");
      button.addEventListener("click", () => toggleObject(obj.object_id));
      row.append(button);
    }
    list.append(row);
  });
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
  const answerable = Boolean(det) && !item.reviewed_by;
  for (const id of ["confirm", "clear-all", "mark-missed"]) $(id).disabled = !answerable;
  const queue = $("queue");
  queue.replaceChildren();
  const pending = state.queue ? state.queue.pending : [];
  $("queue-count").textContent = String(pending.length);
  pending.forEach((p) => {
    const row = el("li", { class: p.id === state.currentId ? "current" : "" },
      `${p.frame_id} · ${p.detection.objects.filter((o) => o.alarmed).map((o) => o.class_name).join(", ")}`);
    row.addEventListener("click", () => select(p.id, true));
    queue.append(row);
  });
}

function render() {
  const item = current();
  renderBanner(item);
  renderFrame(item);
  renderSide(item);
}

function toggleObject(objectId) {
  if (state.cleared.has(objectId)) state.cleared.delete(objectId); else state.cleared.add(objectId);
  render();
}

async function sendVerdict(clearAll) {
  const item = current();
  if (!item || !item.detection || item.reviewed_by || state.sending) return;
  state.sending = true;  // one verdict per frame: a double press must not send twice
  try { await postVerdict(item, clearAll); } finally { state.sending = false; }
}

async function postVerdict(item, clearAll) {
  const rejected = clearAll ? item.detection.objects.filter((o) => o.alarmed).map((o) => o.object_id)
    : [...state.cleared];
  $("status").textContent = "sending…";
  const response = await fetch(`/api/frames/${item.id}/verdict`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({ rejected_object_ids: rejected, missed_items: state.missed }),
  });
  const answer = await response.json();
  if (!response.ok) { $("status").textContent = `not sent: ${answer.detail}`; return; }
  $("status").textContent = `verdict ${answer.decision} sent for frame ${item.frame_id}`;
  state.pinned = false;
  await refresh();
}

// Drawing a missed item: drag on the overlay, in image pixels.
function svgPoint(event) {
  const overlay = $("overlay");
  const point = overlay.createSVGPoint();
  point.x = event.clientX; point.y = event.clientY;
  const p = point.matrixTransform(overlay.getScreenCTM().inverse());
  const det = current().detection;
  return [Math.min(Math.max(p.x, 0), det.width), Math.min(Math.max(p.y, 0), det.height)];
}

function normalise([x1, y1, x2, y2]) {
  return [Math.min(x1, x2), Math.min(y1, y2), Math.max(x1, x2), Math.max(y1, y2)];
}

function startDrawing() {
  const item = current();
  if (!item || !item.detection || item.reviewed_by) return;
  state.drawing = true;
  state.draft = null;
  $("overlay").classList.add("drawing");
  $("draw-hint").hidden = false;
  $("missed-form").hidden = true;
}

function stopDrawing() {
  state.drawing = false;
  state.draft = null;
  $("overlay").classList.remove("drawing");
  $("draw-hint").hidden = true;
  $("missed-form").hidden = true;
}

$("overlay").addEventListener("pointerdown", (event) => {
  if (!state.drawing) return;
  const [x, y] = svgPoint(event);
  state.draft = [x, y, x, y];
  state.dragging = true;
  $("overlay").setPointerCapture(event.pointerId);
});
$("overlay").addEventListener("pointermove", (event) => {
  if (!state.drawing || !state.dragging) return;
  const [x, y] = svgPoint(event);
  state.draft[2] = x; state.draft[3] = y;
  renderFrame(current());
});
$("overlay").addEventListener("pointerup", () => {
  if (!state.drawing || !state.dragging) return;
  state.dragging = false;
  $("draw-hint").hidden = true;
  $("missed-form").hidden = false;
  $("missed-class").focus();
});
$("missed-add").addEventListener("click", () => {
  if (!state.draft) return;
  state.missed.push({ class_name: $("missed-class").value, box: normalise(state.draft) });
  stopDrawing();
  render();
});
$("missed-cancel").addEventListener("click", () => { stopDrawing(); render(); });
$("confirm").addEventListener("click", () => sendVerdict(false));
$("clear-all").addEventListener("click", () => sendVerdict(true));
$("mark-missed").addEventListener("click", startDrawing);

function step(delta) {
  const pending = state.queue ? state.queue.pending : [];
  if (!pending.length) return;
  const at = pending.findIndex((p) => p.id === state.currentId);
  const next = pending[(at + delta + pending.length) % pending.length];
  select(next.id, true);
}

document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "BUTTON" && (event.key === "Enter" || event.key === " ")) return;
  if (event.target.tagName === "SELECT" || event.target.tagName === "INPUT") {
    if (event.key === "Enter" && state.draft) { event.preventDefault(); $("missed-add").click(); }
    if (event.key === "Escape") { stopDrawing(); render(); }
    return;
  }
  const item = current();
  if (event.key >= "1" && event.key <= "9" && item && item.detection) {
    const alarmed = item.detection.objects[Number(event.key) - 1];
    if (alarmed && alarmed.alarmed) toggleObject(alarmed.object_id);
  } else if (event.key === "Enter") { event.preventDefault(); sendVerdict(false); }
  else if (event.key === "x" || event.key === "X") sendVerdict(true);
  else if (event.key === "m" || event.key === "M") startDrawing();
  else if (event.key === "n" || event.key === "N") step(1);
  else if (event.key === "p" || event.key === "P") step(-1);
  else if (event.key === "l" || event.key === "L") select(state.queue && state.queue.live ? state.queue.live.id : null, false);
  else if (event.key === "Escape") { stopDrawing(); render(); }
});

const events = new EventSource("/api/events");
events.addEventListener("queue", () => refresh());
events.addEventListener("error", () => {
  $("status").textContent = "reconnecting…";
  setTimeout(refresh, 2000);  // an expired session ends the stream: refresh() sends to sign-in
});
events.addEventListener("open", () => { $("status").textContent = ""; });
refresh();
