// The scan view: the frame's image and its boxes, zoomed, panned and adjusted the way a
// scanner console allows. Zoom and pan change the layout size and position of the one
// element holding both the image and the SVG overlay, never a CSS transform, so every box
// stays on its pixels and strokes keep their width at any zoom.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const MAX_ZOOM = 16;        // a USB stick a few pixels wide then fills a good part of the screen
const ZOOM_STEP = 1.25;     // per key press or wheel notch: about six steps to 4x
const PAN_STEP = 0.1;       // per arrow key, in screen widths: small enough to keep one's place
const LABEL_PX = 13;        // box tags keep this on-screen text height at every zoom
const PIXELATED_ZOOM = 3;   // from here on, show the scanner's pixels instead of blurring them
const FILTERS = {           // CSS filter ranges: the brightness / contrast a console offers
  brightness: { min: 0.3, max: 3, step: 0.1 },
  contrast: { min: 0.3, max: 4, step: 0.1 },
};

function svgElement(tag, attrs = {}, text = "") {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

const clamp = (value, low, high) => Math.min(Math.max(value, low), high);

export class ScanView {
  // stage: the visible window; viewport: the zoomed element inside it holding image and
  // overlay; canPan(): whether a drag pans (not while the guard draws a box);
  // onChange(view): called after every change of zoom, pan or filters.
  constructor({ stage, viewport, image, overlay, canPan, onChange }) {
    Object.assign(this, { stage, viewport, image, overlay, canPan, onChange });
    this.size = null;   // [width, height] of the image, pixels
    this.boxes = [];    // what draw() was last given
    this.drag = null;
    this.resetAll();
    stage.addEventListener("wheel", (event) => this.wheel(event), { passive: false });
    overlay.addEventListener("pointerdown", (event) => this.startDrag(event));
    overlay.addEventListener("pointermove", (event) => this.moveDrag(event));
    overlay.addEventListener("pointerup", () => { this.drag = null; });
    new ResizeObserver(() => this.render()).observe(stage);
  }

  // A frame of width x height pixels; a new frame starts at the whole image.
  setSize(width, height) {
    if (this.size && this.size[0] === width && this.size[1] === height) return;
    this.size = [width, height];
    this.stage.style.setProperty("--aspect", String(width / height));
    this.overlay.setAttribute("viewBox", `0 0 ${width} ${height}`);
    this.overlay.setAttribute("preserveAspectRatio", "none");
  }

  isZoomed() { return this.zoom > 1; }

  resetView() {
    this.zoom = 1; this.ox = 0; this.oy = 0;  // offsets: stage widths / heights scrolled off
    this.apply();
  }

  resetAll() {
    this.brightness = 1; this.contrast = 1; this.inverted = false;
    this.resetView();
  }

  // Zoom by factor keeping the image point under (px, py) where it is; stage fractions.
  zoomAt(factor, px = 0.5, py = 0.5) {
    const zoom = clamp(this.zoom * factor, 1, MAX_ZOOM);
    const u = (px + this.ox) / this.zoom;
    const v = (py + this.oy) / this.zoom;
    this.zoom = zoom;
    this.ox = u * zoom - px;
    this.oy = v * zoom - py;
    this.apply();
  }

  zoomIn() { this.zoomAt(ZOOM_STEP); }
  zoomOut() { this.zoomAt(1 / ZOOM_STEP); }

  panBy(dx, dy) {
    this.ox += dx * PAN_STEP;
    this.oy += dy * PAN_STEP;
    this.apply();
  }

  setFilter(name, value) {
    const range = FILTERS[name];
    const stepped = Number((Math.round(value / range.step) * range.step).toFixed(2));
    this[name] = clamp(stepped, range.min, range.max);
    this.apply();
  }

  stepFilter(name, direction) { this.setFilter(name, this[name] + direction * FILTERS[name].step); }

  toggleInvert() { this.inverted = !this.inverted; this.apply(); }

  // Image pixels [x, y] under a pointer, clamped to the image.
  toImage(clientX, clientY) {
    const rect = this.image.getBoundingClientRect();
    const [width, height] = this.size;
    return [clamp(((clientX - rect.left) / rect.width) * width, 0, width),
      clamp(((clientY - rect.top) / rect.height) * height, 0, height)];
  }

  // Boxes over the image: [{box: [x1, y1, x2, y2] pixels, kind, tag, title, colour}]; a
  // box's tag sits outside it so it never covers what the box holds; colour (optional) is
  // its item's, shared by the item's boxes in every view of the frame.
  draw(boxes) {
    this.boxes = boxes;
    this.renderBoxes();
  }

  apply() {
    this.ox = clamp(this.ox, 0, this.zoom - 1);
    this.oy = clamp(this.oy, 0, this.zoom - 1);
    const style = this.viewport.style;
    style.width = style.height = `${this.zoom * 100}%`;
    style.left = `${-this.ox * 100}%`;
    style.top = `${-this.oy * 100}%`;
    this.viewport.classList.toggle("pixelated", this.zoom >= PIXELATED_ZOOM);
    this.image.style.filter = `brightness(${this.brightness}) contrast(${this.contrast})`
      + (this.inverted ? " invert(1)" : "");
    this.render();
  }

  render() {
    this.renderBoxes();
    if (this.onChange) this.onChange(this);
  }

  renderBoxes() {
    this.overlay.replaceChildren();
    if (!this.size) return;
    const shown = this.stage.clientWidth * this.zoom;
    const unit = shown > 0 ? this.size[0] / shown : 1;  // image pixels per screen pixel
    for (const { box, kind, tag, title, colour } of this.boxes) {
      const [x1, y1, x2, y2] = box;
      const group = svgElement("g", colour ? { class: kind, style: `--item: ${colour}` } : { class: kind });
      if (title) group.append(svgElement("title", {}, title));
      group.append(svgElement("rect", { x: x1, y: y1, width: x2 - x1, height: y2 - y1 }));
      this.overlay.append(group);
      if (tag) this.placeTag(group, box, tag, unit);
    }
  }

  // Above the box, or below it at the image's top edge; aligned on the box's right edge near
  // the image's right side. Placed by its measured extent, whatever the font, and clear of
  // the box by more than its outline, so the text never reaches into the box.
  placeTag(group, [x1, y1, x2, y2], text, unit) {
    const size = LABEL_PX * unit;
    const gap = 3 * unit;
    const above = y1 - gap - size * 1.5 >= 0;
    const rightSide = x1 > this.size[0] * 0.7;
    const tag = svgElement("text", {
      x: rightSide ? x2 : x1, y: above ? y1 : y2, "font-size": size, "stroke-width": size * 0.25,
      "text-anchor": rightSide ? "end" : "start",
    }, text);
    group.append(tag);
    const extent = tag.getBBox();
    const shift = above ? y1 - gap - (extent.y + extent.height) : y2 + gap - extent.y;
    tag.setAttribute("y", String((above ? y1 : y2) + shift));
  }

  wheel(event) {
    if (!this.size) return;
    event.preventDefault();
    const rect = this.stage.getBoundingClientRect();
    const factor = event.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP;
    this.zoomAt(factor, (event.clientX - rect.left) / rect.width, (event.clientY - rect.top) / rect.height);
  }

  startDrag(event) {
    if (!this.isZoomed() || !this.canPan()) return;
    this.drag = { x: event.clientX, y: event.clientY, ox: this.ox, oy: this.oy };
    this.overlay.setPointerCapture(event.pointerId);
  }

  moveDrag(event) {
    if (!this.drag) return;
    this.ox = this.drag.ox - (event.clientX - this.drag.x) / this.stage.clientWidth;
    this.oy = this.drag.oy - (event.clientY - this.drag.y) / this.stage.clientHeight;
    this.apply();
  }
}
