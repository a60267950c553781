// The map's case points: one canvas for every point, filled one colour at a time, with
// its own hit test for clicks and hovers. Ten thousand L.circleMarker paths cost Leaflet
// about a second to build and draw (each is a layer with its own bounds, events and
// path); drawing them here takes milliseconds.
"use strict";
const CasePoints = L.Layer.extend({
  // points: [{ lat, lon, colour, id, row }]; radius in CSS pixels.
  initialize(points, options) {
    L.setOptions(this, options);
    this.points = points;
    this.radius = (options && options.radius) || 6;
    this.drawn = 0;
    this.projected = new Float64Array(points.length * 2);
  },

  onAdd(map) {
    this.canvas = L.DomUtil.create("canvas", "case-points leaflet-zoom-hide");
    this.canvas.style.pointerEvents = "none";
    map.getPane(this.options.pane || "markerPane").appendChild(this.canvas);
    map.on("moveend resize zoomend viewreset", this.redraw, this);
    map.on("click", this.onClick, this);
    map.on("mousemove", this.onHover, this);
    this.redraw();
  },

  onRemove(map) {
    this.canvas.remove();
    map.off("moveend resize zoomend viewreset", this.redraw, this);
    map.off("click", this.onClick, this);
    map.off("mousemove", this.onHover, this);
    if (this.tooltip) map.closeTooltip(this.tooltip);
  },

  // Projects and paints every point; returns how many fell on the canvas.
  redraw() {
    const map = this._map;
    if (!map) return 0;
    const size = map.getSize();
    const ratio = window.devicePixelRatio || 1;
    L.DomUtil.setPosition(this.canvas, map.containerPointToLayerPoint([0, 0]));
    this.canvas.width = size.x * ratio;
    this.canvas.height = size.y * ratio;
    this.canvas.style.width = size.x + "px";
    this.canvas.style.height = size.y + "px";
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    const r = this.radius;
    const byColour = new Map();
    let drawn = 0;
    this.points.forEach((p, i) => {
      const at = map.latLngToContainerPoint([p.lat, p.lon]);
      this.projected[2 * i] = at.x;
      this.projected[2 * i + 1] = at.y;
      if (at.x < -r || at.y < -r || at.x > size.x + r || at.y > size.y + r) return;
      drawn++;
      if (!byColour.has(p.colour)) byColour.set(p.colour, []);
      byColour.get(p.colour).push(at.x, at.y);
    });
    ctx.lineWidth = 1;
    ctx.strokeStyle = "#fff";
    for (const [colour, xy] of byColour) {
      ctx.beginPath();
      for (let k = 0; k < xy.length; k += 2) {
        ctx.moveTo(xy[k] + r, xy[k + 1]);
        ctx.arc(xy[k], xy[k + 1], r, 0, 2 * Math.PI);
      }
      ctx.globalAlpha = 0.9;
      ctx.fillStyle = colour;
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.stroke();
    }
    this.drawn = drawn;
    return drawn;
  },

  // The point drawn last (on top) under a container point, if any.
  pointAt(containerPoint) {
    const r2 = (this.radius + 1) * (this.radius + 1);
    for (let i = this.points.length - 1; i >= 0; i--) {
      const dx = this.projected[2 * i] - containerPoint.x;
      const dy = this.projected[2 * i + 1] - containerPoint.y;
      if (dx * dx + dy * dy <= r2) return this.points[i];
    }
    return null;
  },

  onClick(e) {
    const p = this.pointAt(e.containerPoint);
    if (p) this.fire("pointclick", { point: p });
  },

  onHover(e) {
    const p = this.pointAt(e.containerPoint);
    this._map.getContainer().style.cursor = p ? "pointer" : "";
    if (p === this.hovered) return;
    this.hovered = p;
    if (this.tooltip) { this._map.closeTooltip(this.tooltip); this.tooltip = null; }
    if (p) this.tooltip = L.tooltip({ direction: "top", offset: [0, -this.radius] })
      .setLatLng([p.lat, p.lon]).setContent(this.options.label(p)).addTo(this._map);
  },
});
