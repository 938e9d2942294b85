// The Vigil panel: draw a camera's zones, lines, loitering areas and privacy masks on its
// picture, see what a zone or line would have caught on the last minutes of tracks, and save
// them as the same config subentries the flows create. A plain web component (no build step,
// no framework); it talks to Home Assistant only, through the vigil/editor/* commands.

import { Draft, insidePolygon, segmentDistance } from "./editing.js";

const COLORS = { zone: "#43a047", line: "#1e88e5", area: "#fb8c00", mask: "#bdbdbd" };
const SECTIONS = { zone: "zone", line: "rule", area: "rule", mask: "camera_setting" };
const REPLAYABLE = ["zone", "line", "area"];
const REPLAY_DEBOUNCE_MS = 400;
const REPLAY_EVERY_MS = 10000;
const DRAG_START_PX = 5;
const INTEGRATION_URL = "/config/integrations/integration/vigil";

const STYLE = `
  :host { display: block; height: 100%; background: var(--primary-background-color);
    color: var(--primary-text-color); font-family: var(--paper-font-body1_-_font-family, Roboto, sans-serif); }
  .header { display: flex; align-items: center; gap: 8px; height: 56px; padding: 0 12px;
    background: var(--app-header-background-color, var(--primary-color));
    color: var(--app-header-text-color, #fff); box-sizing: border-box; }
  .header .title { font-size: 20px; flex: 0 0 auto; margin-right: 8px; }
  .header select { max-width: 60vw; font-size: 15px; padding: 4px; border-radius: 4px;
    background: var(--card-background-color); color: var(--primary-text-color); border: none; }
  .content { display: flex; flex-wrap: wrap; gap: 16px; padding: 16px; box-sizing: border-box; }
  .stage { flex: 1 1 560px; min-width: 0; }
  .frame { position: relative; display: inline-block; max-width: 100%; line-height: 0;
    background: #000; border-radius: 4px; overflow: hidden; }
  .frame img { display: block; max-width: 100%; max-height: calc(100vh - 190px); }
  .frame svg { position: absolute; inset: 0; width: 100%; height: 100%; touch-action: none;
    cursor: crosshair; user-select: none; -webkit-user-select: none; }
  .status { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; margin-top: 8px;
    font-size: 13px; color: var(--secondary-text-color); }
  .status .pointer { font-variant-numeric: tabular-nums; min-width: 15em; }
  aside { flex: 0 1 340px; min-width: 260px; background: var(--card-background-color);
    border-radius: 8px; padding: 16px; box-sizing: border-box;
    box-shadow: var(--ha-card-box-shadow, 0 1px 3px rgba(0,0,0,.2)); }
  aside h2 { font-size: 16px; margin: 0 0 8px; font-weight: 500; }
  aside p, .hint { font-size: 13px; color: var(--secondary-text-color); margin: 8px 0; }
  .row { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; align-items: center; }
  label { font-size: 13px; color: var(--secondary-text-color); display: block; margin-top: 8px; }
  input[type=text], select.field { width: 100%; box-sizing: border-box; font-size: 15px; padding: 8px;
    margin-top: 4px; border-radius: 4px; border: 1px solid var(--divider-color);
    background: var(--card-background-color); color: var(--primary-text-color); }
  button { font: inherit; font-size: 14px; padding: 8px 12px; border-radius: 4px; cursor: pointer;
    border: 1px solid var(--divider-color); background: transparent; color: var(--primary-text-color); }
  button.primary { background: var(--primary-color); border-color: var(--primary-color);
    color: var(--text-primary-color, #fff); }
  button:disabled { opacity: .45; cursor: default; }
  ul { list-style: none; padding: 0; margin: 0; }
  li button { width: 100%; text-align: left; display: flex; gap: 8px; align-items: center;
    border: none; padding: 8px 4px; }
  li button:hover { background: var(--secondary-background-color); }
  .swatch { width: 14px; height: 14px; border-radius: 3px; flex: none; }
  .kind { margin-left: auto; font-size: 12px; color: var(--secondary-text-color); }
  .message { font-size: 14px; margin: 8px 0; padding: 8px; border-radius: 4px; }
  .message:empty { display: none; }
  .message.error { background: rgba(219, 68, 55, .15); color: var(--error-color, #db4437); }
  .message.ok { background: rgba(67, 160, 71, .15); color: var(--success-color, #43a047); }
  .message.info { background: var(--secondary-background-color); }
  .message a { color: inherit; }
  .replay { font-size: 14px; margin-top: 12px; padding: 8px; border-radius: 4px;
    background: var(--secondary-background-color); }
  .replay:empty { display: none; }
  .replay strong { font-variant-numeric: tabular-nums; }
  .empty { padding: 24px; }
  @media (max-width: 900px) { aside { flex: 1 1 100%; } .content { padding: 8px; } }
  text { paint-order: stroke; stroke: rgba(0,0,0,.8); fill: #fff; font-family: sans-serif; }
`;

function escape(text) {
  return String(text ?? "").replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]
  );
}

function format(template, values) {
  return String(template).replace(/\{(\w+)\}/g, (_, key) => (key in values ? values[key] : `{${key}}`));
}

function duration(seconds) {
  const total = Math.round(seconds);
  const minutes = Math.floor(total / 60);
  return minutes ? `${minutes} min ${total % 60} s` : `${total} s`;
}

class VigilPanel extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this._servers = [];
    this._entryId = null;
    this._cameraId = null;
    this._draft = null;
    this._activeCorner = null;
    this._gesture = null;
    this._replay = null;
    this._replayError = null;
    this._showTracks = true;
    this._strings = {};
    this._ha = {};
    this._picture = null;
    this._size = null;
    this._onKey = (event) => this._key(event);
  }

  set hass(hass) {
    const first = !this._hass;
    this._hass = hass;
    if (this._menu) this._menu.hass = hass;
    if (first) this._start();
  }

  get hass() {
    return this._hass;
  }

  set narrow(narrow) {
    this._narrow = narrow;
    if (this._menu) this._menu.narrow = narrow;
  }

  set panel(panel) {
    this._panel = panel;
  }

  set route(route) {
    this._route = route;
  }

  connectedCallback() {
    window.addEventListener("keydown", this._onKey);
    this._resize = new ResizeObserver(() => this._renderOverlay());
    if (this._frame) this._resize.observe(this._frame);
  }

  disconnectedCallback() {
    window.removeEventListener("keydown", this._onKey);
    this._resize?.disconnect();
    clearTimeout(this._replayTimer);
    clearInterval(this._replayInterval);
  }

  // --- start ------------------------------------------------------------------------------

  get _language() {
    const language = this._hass?.locale?.language || this._hass?.language || "en";
    return language.toLowerCase().startsWith("fr") ? "fr" : "en";
  }

  async _start() {
    this._skeleton();
    const language = this._language;
    const [strings, ha] = await Promise.all([
      fetch(new URL(`./i18n/${language}.json`, import.meta.url)).then((r) => r.json()),
      this._hass
        .callWS({
          type: "frontend/get_translations",
          language: this._hass.language,
          category: "config_subentries",
          integration: ["vigil"],
        })
        .then((r) => r.resources)
        .catch(() => ({})),
    ]);
    this._strings = strings;
    this._ha = ha;
    this._texts();
    const wanted = new URLSearchParams(window.location.search).get("camera");
    await this._loadCameras(wanted);
  }

  _t(key, values = {}) {
    return format(this._strings[key] ?? key, values);
  }

  _skeleton() {
    this.shadowRoot.innerHTML = `
      <style>${STYLE}</style>
      <div class="header"><span id="menu"></span><div class="title">Vigil</div>
        <select id="camera" aria-label="camera"></select></div>
      <div class="content">
        <div class="stage">
          <div class="frame" id="frame" hidden>
            <img id="picture" alt="" draggable="false">
            <svg id="overlay" xmlns="http://www.w3.org/2000/svg"></svg>
          </div>
          <div class="message info" id="stage-message"></div>
          <div class="status">
            <span class="pointer" id="pointer"></span>
            <span id="picture-note"></span>
            <button id="refresh" hidden></button>
          </div>
        </div>
        <aside id="side"></aside>
      </div>`;
    const root = this.shadowRoot;
    this._frame = root.getElementById("frame");
    this._img = root.getElementById("picture");
    this._svg = root.getElementById("overlay");
    this._side = root.getElementById("side");
    this._resize?.observe(this._frame);
    if (customElements.get("ha-menu-button")) {
      this._menu = document.createElement("ha-menu-button");
      this._menu.hass = this._hass;
      this._menu.narrow = this._narrow;
      root.getElementById("menu").appendChild(this._menu);
    }
    root.getElementById("camera").addEventListener("change", (event) => {
      const [entryId, cameraId] = event.target.value.split("|");
      this._choose(entryId, cameraId);
    });
    root.getElementById("refresh").addEventListener("click", () => this._loadPicture());
    this._img.addEventListener("load", () => {
      this._size = { width: this._img.naturalWidth, height: this._img.naturalHeight };
      this._renderOverlay();
    });
    const svg = this._svg;
    svg.addEventListener("pointerdown", (event) => this._down(event));
    svg.addEventListener("pointermove", (event) => this._move(event));
    svg.addEventListener("pointerup", (event) => this._up(event));
    svg.addEventListener("pointercancel", () => this._cancelGesture());
    svg.addEventListener("pointerleave", () => {
      if (!this._gesture) this.shadowRoot.getElementById("pointer").textContent = "";
    });
    this._side.addEventListener("click", (event) => this._action(event));
    this._side.addEventListener("input", (event) => this._input(event));
    this._side.addEventListener("change", (event) => this._input(event));
  }

  _texts() {
    this.shadowRoot.getElementById("refresh").textContent = this._t("refresh_picture");
    this.shadowRoot.getElementById("camera").setAttribute("aria-label", this._t("camera"));
  }

  // --- data -------------------------------------------------------------------------------

  async _loadCameras(wanted = null) {
    let result;
    try {
      result = await this._hass.callWS({ type: "vigil/editor/cameras" });
    } catch (err) {
      this._stageMessage(this._errorText(err), "error");
      return;
    }
    this._servers = result.servers;
    const cameras = this._servers.flatMap((s) => s.cameras.map((c) => ({ server: s, camera: c })));
    const select = this.shadowRoot.getElementById("camera");
    select.innerHTML = this._servers
      .map(
        (server) =>
          `<optgroup label="${escape(server.title)}">${server.cameras
            .map((c) => `<option value="${server.entry_id}|${c.id}">${escape(c.name)}</option>`)
            .join("")}</optgroup>`
      )
      .join("");
    if (!this._servers.length) {
      this._stageMessage(this._t("no_servers"), "info");
      this._renderSide();
      return;
    }
    if (!cameras.length) {
      this._stageMessage(this._t("no_cameras"), "info");
      this._renderSide();
      return;
    }
    const found =
      cameras.find((c) => c.camera.id === (wanted ?? this._cameraId)) ?? cameras[0];
    select.value = `${found.server.entry_id}|${found.camera.id}`;
    if (found.camera.id !== this._cameraId) {
      await this._choose(found.server.entry_id, found.camera.id);
    } else {
      this._renderSide();
      this._renderOverlay();
    }
  }

  get _server() {
    return this._servers.find((s) => s.entry_id === this._entryId) ?? null;
  }

  get _camera() {
    return this._server?.cameras.find((c) => c.id === this._cameraId) ?? null;
  }

  get _shapes() {
    return this._camera?.shapes ?? [];
  }

  async _choose(entryId, cameraId) {
    this._entryId = entryId;
    this._cameraId = cameraId;
    this._draft = null;
    this._replay = null;
    this._message = null;
    const url = new URL(window.location.href);
    url.searchParams.set("camera", cameraId);
    window.history.replaceState(window.history.state, "", url);
    this._renderSide();
    await this._loadPicture();
  }

  async _loadPicture() {
    const server = this._server;
    if (!server) return;
    if (!server.connected) {
      this._stageMessage(this._t("server_offline", { server: server.title }), "error");
    } else {
      this._stageMessage(this._t("loading_picture"), "info");
    }
    try {
      const result = await this._hass.callWS({
        type: "vigil/editor/picture",
        entry_id: this._entryId,
        camera: this._cameraId,
      });
      this._img.src = result.image;
      this._frame.hidden = false;
      this.shadowRoot.getElementById("refresh").hidden = false;
      this.shadowRoot.getElementById("picture-note").textContent = this._t(
        result.live ? "picture_live" : "picture_probe"
      );
      this._stageMessage("", "info");
    } catch (err) {
      this._stageMessage(this._errorText(err), "error");
    }
  }

  _stageMessage(text, kind) {
    const element = this.shadowRoot.getElementById("stage-message");
    element.className = `message ${kind}`;
    element.textContent = text;
  }

  _errorText(err) {
    const code = err?.code ?? "unknown";
    const own = this._strings[`error_${code}`];
    if (own) return own;
    const flow = this._ha[`component.vigil.config_subentries.zone.error.${code}`];
    return flow ?? this._t("error_unknown", { code: err?.message || code });
  }

  /** Return the flows' translation of an error key about a shape of this type. */
  _flowError(key, type) {
    const section = SECTIONS[type] ?? "rule";
    return (
      this._ha[`component.vigil.config_subentries.${section}.error.${key}`] ??
      this._ha[`component.vigil.config_subentries.rule.error.${key}`] ??
      this._strings[`error_${key}`] ??
      key
    );
  }

  // --- drafts -----------------------------------------------------------------------------

  _edit(shape) {
    this._draft = new Draft({
      type: shape.type,
      id: shape.id,
      name: shape.name,
      points: shape.points,
      direction: shape.direction ?? "both",
      kind: shape.kind,
    });
    this._draft.replayable = Boolean(shape.replay);
    this._afterSelect();
  }

  _new(type) {
    this._draft = new Draft({ type });
    this._draft.replayable = REPLAYABLE.includes(type);
    this._afterSelect();
  }

  _afterSelect() {
    this._activeCorner = null;
    this._replay = null;
    this._replayError = null;
    this._message = null;
    this._renderSide();
    this._renderOverlay();
    this._scheduleReplay();
    clearInterval(this._replayInterval);
    this._replayInterval = setInterval(() => this._scheduleReplay(0), REPLAY_EVERY_MS);
  }

  _close() {
    this._draft = null;
    this._replay = null;
    this._message = null;
    clearInterval(this._replayInterval);
    this._renderSide();
    this._renderOverlay();
  }

  _changed(error) {
    if (error) {
      this._message = { kind: "error", text: this._t("refused", { error: this._flowError(error, this._draft.type) }) };
    } else {
      this._message = null;
      this._scheduleReplay();
    }
    this._renderSide();
    this._renderOverlay();
  }

  // --- pointer ----------------------------------------------------------------------------

  _point(event) {
    const rect = this._svg.getBoundingClientRect();
    return {
      x: (event.clientX - rect.left) / rect.width,
      y: (event.clientY - rect.top) / rect.height,
      rect,
    };
  }

  _pixels(rect, [x, y]) {
    return [x * rect.width, y * rect.height];
  }

  _handleRadius(event) {
    return event.pointerType === "touch" ? 22 : 12;
  }

  _cornerAt(point, event) {
    const draft = this._draft;
    if (!draft) return null;
    const [px, py] = this._pixels(point.rect, [point.x, point.y]);
    let best = null;
    let bestDistance = this._handleRadius(event);
    draft.points.forEach((corner, index) => {
      const [cx, cy] = this._pixels(point.rect, corner);
      const distance = Math.hypot(px - cx, py - cy);
      if (distance <= bestDistance) {
        best = index;
        bestDistance = distance;
      }
    });
    return best;
  }

  _onShape(shape, point, event) {
    const { width, height } = point.rect;
    if (shape.type === "line") {
      if (shape.points.length !== 2) return false;
      const [a, b] = shape.points.map(([x, y]) => [x * width, y * height]);
      return segmentDistance([point.x * width, point.y * height], a, b) <= this._handleRadius(event);
    }
    return shape.points.length >= 3 && insidePolygon([point.x, point.y], shape.points);
  }

  _down(event) {
    if (!this._size || event.button > 0) return;
    const point = this._point(event);
    this._svg.setPointerCapture(event.pointerId);
    const draft = this._draft;
    const corner = draft ? this._cornerAt(point, event) : null;
    const base = { start: point, pointerId: event.pointerId, moved: false };
    if (corner !== null) {
      this._gesture = { ...base, kind: "corner", index: corner, before: draft.snapshot() };
      this._activeCorner = corner;
    } else if (draft && draft.complete && this._onShape(draft, point, event)) {
      this._gesture = { ...base, kind: "shape", before: draft.snapshot(), origin: draft.snapshot().points };
    } else {
      this._gesture = { ...base, kind: "click" };
    }
    event.preventDefault();
  }

  _move(event) {
    const point = this._point(event);
    this._showPointer(point);
    const gesture = this._gesture;
    if (!gesture || gesture.pointerId !== event.pointerId) return;
    const dx = (point.x - gesture.start.x) * point.rect.width;
    const dy = (point.y - gesture.start.y) * point.rect.height;
    if (!gesture.moved && Math.hypot(dx, dy) < DRAG_START_PX) return;
    gesture.moved = true;
    if (gesture.kind === "corner") {
      this._draft.movePoint(gesture.index, [point.x, point.y]);
    } else if (gesture.kind === "shape") {
      this._draft.moveShape(gesture.origin, point.x - gesture.start.x, point.y - gesture.start.y);
    } else {
      return;
    }
    this._renderOverlay(this._draft.checkPartial());
  }

  _up(event) {
    const gesture = this._gesture;
    if (!gesture || gesture.pointerId !== event.pointerId) return;
    this._gesture = null;
    const point = this._point(event);
    const draft = this._draft;
    if (gesture.kind === "corner" || gesture.kind === "shape") {
      if (gesture.moved) {
        this._changed(draft.settle(gesture.before));
      } else if (gesture.kind === "corner" && !draft.closed && gesture.index === 0 && draft.points.length >= 3) {
        this._changed(draft.finish());
      } else {
        this._renderSide();
        this._renderOverlay();
      }
      return;
    }
    if (gesture.moved) return;
    if (!draft) {
      const shape = [...this._shapes].reverse().find((s) => this._onShape(s, point, event));
      if (shape) this._edit(shape);
      return;
    }
    if (draft.type === "line" && draft.points.length >= 2) return;
    this._activeCorner = null;
    this._changed(draft.addPoint([point.x, point.y]));
  }

  _cancelGesture() {
    if (this._gesture && this._gesture.before) this._draft.restore(this._gesture.before);
    this._gesture = null;
    this._renderOverlay();
  }

  _showPointer(point) {
    const element = this.shadowRoot.getElementById("pointer");
    if (point.x < 0 || point.x > 1 || point.y < 0 || point.y > 1 || !this._size) {
      element.textContent = "";
      return;
    }
    const px = Math.round(point.x * this._size.width);
    const py = Math.round(point.y * this._size.height);
    element.textContent = `${this._t("pointer")} x ${point.x.toFixed(3)} · y ${point.y.toFixed(3)} (${px}, ${py} px)`;
  }

  _key(event) {
    if (!this._draft || !this.isConnected) return;
    const target = event.composedPath()[0];
    if (target && ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName)) return;
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
      event.preventDefault();
      this._undo();
    } else if ((event.key === "Delete" || event.key === "Backspace") && this._activeCorner !== null) {
      event.preventDefault();
      this._deleteCorner();
    } else if (event.key === "Enter" && this._draft.isPolygon && !this._draft.closed) {
      this._changed(this._draft.finish());
    }
  }

  _undo() {
    if (this._draft.undo()) {
      this._activeCorner = null;
      this._changed(null);
    }
  }

  _deleteCorner() {
    const index = this._activeCorner;
    if (index === null) return;
    const error = this._draft.deletePoint(index);
    if (!error) this._activeCorner = null;
    this._changed(error);
  }

  // --- side panel -------------------------------------------------------------------------

  _action(event) {
    const button = event.target.closest("button[data-action]");
    if (!button || button.disabled) return;
    const { action, value } = button.dataset;
    if (action === "new") this._new(value);
    else if (action === "edit") this._edit(this._shapes.find((s) => s.id === value));
    else if (action === "undo") this._undo();
    else if (action === "delete-corner") this._deleteCorner();
    else if (action === "finish") this._changed(this._draft.finish());
    else if (action === "flip") this._changed(this._draft.flip());
    else if (action === "cancel") this._close();
    else if (action === "save") this._save();
  }

  _input(event) {
    const target = event.target;
    if (!this._draft) return;
    if (target.id === "name") {
      this._draft.name = target.value;
      this.shadowRoot.getElementById("save").disabled = !this._canSave;
      this._renderOverlay();
    } else if (target.id === "direction" && event.type === "change") {
      this._draft.setDirection(target.value);
      this._changed(null);
    } else if (target.id === "tracks") {
      this._showTracks = target.checked;
      this._renderOverlay();
    }
  }

  get _canSave() {
    const draft = this._draft;
    return Boolean(draft && draft.complete && !draft.error && draft.name.trim() && !this._saving);
  }

  _renderSide() {
    const side = this._side;
    if (!side) return;
    const draft = this._draft;
    if (!this._camera) {
      side.innerHTML = "";
      return;
    }
    if (!draft) {
      side.innerHTML = this._listHtml();
      return;
    }
    const isLine = draft.type === "line";
    const drawing = draft.isPolygon && !draft.closed;
    const hint = isLine && draft.points.length < 2
      ? this._t("hint_draw_line")
      : drawing
        ? this._t("hint_draw_polygon")
        : this._t("hint_edit");
    const direction = isLine
      ? `<label for="direction">${escape(this._t("direction"))}</label>
         <select class="field" id="direction">${["both", "a_to_b", "b_to_a"]
           .map((d) => `<option value="${d}" ${d === draft.direction ? "selected" : ""}>${escape(this._t(`direction_${d}`))}</option>`)
           .join("")}</select>
         <p>${escape(this._t("hint_line"))}</p>`
      : "";
    const message = this._message
      ? `<div class="message ${this._message.kind}" id="message">${this._message.html ?? escape(this._message.text)}</div>`
      : `<div class="message" id="message"></div>`;
    side.innerHTML = `
      <h2><span class="swatch" style="display:inline-block;background:${COLORS[draft.type]}"></span>
        ${escape(draft.id ? draft.name : this._t(`new_${draft.type}`))}</h2>
      <label for="name">${escape(this._t("name"))}</label>
      <input type="text" id="name" autocomplete="off" value="${escape(draft.name)}">
      ${direction}
      <p class="hint">${escape(hint)}</p>
      <div class="row">
        <button data-action="undo" id="undo" ${draft.history.length ? "" : "disabled"}>${escape(this._t("undo"))}</button>
        ${draft.isPolygon ? `<button data-action="delete-corner" id="delete-corner" ${this._activeCorner === null ? "disabled" : ""}>${escape(this._t("delete_corner"))}</button>` : ""}
        ${drawing ? `<button data-action="finish" id="finish" ${draft.points.length >= 3 ? "" : "disabled"}>${escape(this._t("finish"))}</button>` : ""}
        ${isLine ? `<button data-action="flip" id="flip" ${draft.points.length === 2 ? "" : "disabled"}>${escape(this._t("flip"))}</button>` : ""}
      </div>
      ${message}
      <div class="row">
        <button class="primary" data-action="save" id="save" ${this._canSave ? "" : "disabled"}>${escape(this._t("save"))}</button>
        <button data-action="cancel" id="cancel">${escape(this._t("cancel"))}</button>
      </div>
      ${draft.replayable && this._server?.replay ? `<label><input type="checkbox" id="tracks" ${this._showTracks ? "checked" : ""}> ${escape(this._t("show_tracks"))}</label>` : ""}
      <div class="replay" id="replay" ${this._replayData()}>${this._replayHtml()}</div>`;
  }

  _listHtml() {
    const shapes = this._shapes;
    const items = shapes.length
      ? `<ul>${shapes
          .map(
            (s) => `<li><button data-action="edit" data-value="${escape(s.id)}" data-name="${escape(s.name)}">
              <span class="swatch" style="background:${COLORS[s.type]}"></span>${escape(s.name)}
              <span class="kind">${escape(this._t(`type_${s.type}`))}</span></button></li>`
          )
          .join("")}</ul>`
      : `<p>${escape(this._t("no_shapes"))}</p>`;
    const message = this._message
      ? `<div class="message ${this._message.kind}" id="message">${this._message.html ?? escape(this._message.text)}</div>`
      : "";
    return `
      ${message}
      <p class="hint">${escape(this._t("hint_select"))}</p>
      <div class="row">
        ${["zone", "line", "area", "mask"]
          .map((t) => `<button data-action="new" data-value="${t}" id="new-${t}">${escape(this._t(`new_${t}`))}</button>`)
          .join("")}
      </div>
      <h2>${escape(this._t("shapes"))}</h2>
      ${items}
      <p class="hint">${escape(this._t("typed_fallback"))} <a href="${INTEGRATION_URL}">${escape(this._t("open_integration"))}</a></p>`;
  }

  // --- the picture's overlay --------------------------------------------------------------

  _renderOverlay(dragError = null) {
    const svg = this._svg;
    if (!svg || !this._size) return;
    const { width, height } = this._size;
    const shown = svg.getBoundingClientRect();
    const scale = shown.width ? width / shown.width : 1;
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("preserveAspectRatio", "none");
    const px = ([x, y]) => `${(x * width).toFixed(1)},${(y * height).toFixed(1)}`;
    const parts = [];
    const draft = this._draft;
    if (draft && this._showTracks && this._replay?.paths) {
      for (const path of this._replay.paths) {
        parts.push(
          `<polyline class="track" points="${path.points.map(px).join(" ")}" fill="none"
            stroke="rgba(255,255,255,.55)" stroke-width="${1.5 * scale}" stroke-linejoin="round"/>`
        );
      }
    }
    for (const shape of this._shapes) {
      if (draft && shape.id === draft.id) continue;
      parts.push(this._shapeSvg(shape, { scale, px, dim: Boolean(draft) }));
    }
    if (draft) {
      const error = dragError ?? draft.error;
      parts.push(this._shapeSvg(draft, { scale, px, active: true, error }));
    }
    svg.innerHTML = parts.join("");
  }

  _shapeSvg(shape, { scale, px, dim = false, active = false, error = null }) {
    const color = error ? "#e53935" : COLORS[shape.type];
    const opacity = dim ? 0.45 : 1;
    const stroke = (active ? 3 : 2) * scale;
    const points = shape.points;
    const out = [];
    const name = escape(shape.name || "");
    const font = 14 * scale;
    if (shape.type === "line") {
      if (points.length >= 1) {
        if (points.length === 2) {
          out.push(`<line x1="${px(points[0]).split(",")[0]}" y1="${px(points[0]).split(",")[1]}"
            x2="${px(points[1]).split(",")[0]}" y2="${px(points[1]).split(",")[1]}"
            stroke="${color}" stroke-width="${stroke}" stroke-linecap="round"/>`);
          out.push(this._crossingArrows(shape, scale, color));
        }
        ["A", "B"].forEach((letter, index) => {
          if (!points[index]) return;
          const [x, y] = px(points[index]).split(",").map(Number);
          out.push(`<text x="${x + 8 * scale}" y="${y - 8 * scale}" font-size="${font * 1.2}"
            stroke-width="${3 * scale}" font-weight="bold">${letter}</text>`);
        });
      }
    } else if (points.length) {
      const polygon = shape.type === "mask" ? "rgba(0,0,0,.55)" : `${color}33`;
      const closed = shape.closed !== false;
      out.push(
        closed && points.length >= 3
          ? `<polygon points="${points.map(px).join(" ")}" fill="${polygon}" stroke="${color}"
              stroke-width="${stroke}" stroke-linejoin="round"/>`
          : `<polyline points="${points.map(px).join(" ")}" fill="none" stroke="${color}"
              stroke-width="${stroke}" stroke-dasharray="${6 * scale} ${4 * scale}"/>`
      );
    }
    if (name && points.length) {
      const [x, y] = px(points[0]).split(",").map(Number);
      out.push(`<text x="${x + 6 * scale}" y="${y + 18 * scale}" font-size="${font}"
        stroke-width="${3 * scale}">${name}</text>`);
    }
    if (active) {
      const radius = (shape.type === "line" ? 7 : 6) * scale;
      points.forEach((point, index) => {
        const [x, y] = px(point).split(",");
        const selected = index === this._activeCorner;
        out.push(`<circle class="corner" data-corner="${index}" cx="${x}" cy="${y}"
          r="${selected ? radius * 1.4 : radius}" fill="${selected ? "#fff" : color}"
          stroke="${selected ? color : "#fff"}" stroke-width="${2 * scale}"/>`);
      });
    }
    return `<g class="shape ${shape.type}" data-id="${escape(shape.id ?? "")}" opacity="${opacity}">${out.join("")}</g>`;
  }

  /** Draw the crossings a line counts: arrows across its middle, from side A to side B. */
  _crossingArrows(shape, scale, color) {
    const { width, height } = this._size;
    const [[ax, ay], [bx, by]] = shape.points.map(([x, y]) => [x * width, y * height]);
    const length = Math.hypot(bx - ax, by - ay) || 1;
    // Side B is on the right looking from A to B: with y pointing down, that is (-dy, dx).
    const nx = -(by - ay) / length;
    const ny = (bx - ax) / length;
    const mx = (ax + bx) / 2;
    const my = (ay + by) / 2;
    const reach = 26 * scale;
    const arrow = (sign) => {
      const tipX = mx + sign * nx * reach;
      const tipY = my + sign * ny * reach;
      const back = 8 * scale;
      const wing = 6 * scale;
      const baseX = tipX - sign * nx * back;
      const baseY = tipY - sign * ny * back;
      return `<line x1="${mx}" y1="${my}" x2="${tipX}" y2="${tipY}" stroke="${color}" stroke-width="${2.5 * scale}"/>
        <polygon points="${tipX},${tipY} ${baseX + ny * wing},${baseY - nx * wing} ${baseX - ny * wing},${baseY + nx * wing}" fill="${color}"/>`;
    };
    const arrows = [];
    if (shape.direction !== "b_to_a") arrows.push(arrow(1));
    if (shape.direction !== "a_to_b") arrows.push(arrow(-1));
    return `<g class="crossing">${arrows.join("")}</g>`;
  }

  // --- what it would have caught ----------------------------------------------------------

  _scheduleReplay(delay = REPLAY_DEBOUNCE_MS) {
    clearTimeout(this._replayTimer);
    const draft = this._draft;
    if (!draft || !draft.replayable || !this._server?.replay) return;
    if (!draft.complete || draft.error) {
      this._replay = null;
      this._updateReplay();
      return;
    }
    this._replayTimer = setTimeout(() => this._runReplay(), delay);
  }

  async _runReplay() {
    const draft = this._draft;
    if (!draft || !draft.complete || draft.error || this._gesture) return;
    if (!this._replay && !this._replayError) {
      const element = this.shadowRoot.getElementById("replay");
      if (element) element.textContent = this._t("replay_waiting");
    }
    const shape = draft.toMessage();
    const asked = JSON.stringify(shape);
    try {
      const result = await this._hass.callWS({
        type: "vigil/editor/replay",
        entry_id: this._entryId,
        camera: this._cameraId,
        shape,
      });
      if (this._draft !== draft || JSON.stringify(draft.toMessage()) !== asked) return;
      this._replay = result;
      this._replayError = null;
    } catch (err) {
      if (this._draft !== draft) return;
      this._replay = null;
      this._replayError = this._errorText(err);
    }
    this._updateReplay();
    this._renderOverlay();
  }

  _updateReplay() {
    const element = this.shadowRoot.getElementById("replay");
    if (!element) return;
    element.innerHTML = this._replayHtml();
    for (const key of Object.keys(element.dataset)) delete element.dataset[key];
    for (const [key, value] of Object.entries(this._replayValues())) element.dataset[key] = value;
  }

  _replayValues() {
    const replay = this._replay;
    if (!replay) return {};
    return {
      aToB: replay.a_to_b,
      bToA: replay.b_to_a,
      entries: replay.entries,
      loitering: replay.loitering,
      tracks: replay.tracks,
      span: replay.span_s,
    };
  }

  _replayData() {
    return Object.entries(this._replayValues())
      .map(([key, value]) => `data-${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}="${value}"`)
      .join(" ");
  }

  _replayHtml() {
    if (this._replayError) return escape(this._replayError);
    const replay = this._replay;
    if (!replay) return "";
    if (!replay.span_s) return escape(this._t("replay_empty"));
    const values = {
      span: duration(replay.span_s),
      tracks: replay.tracks,
      a_to_b: `<strong>${replay.a_to_b}</strong>`,
      b_to_a: `<strong>${replay.b_to_a}</strong>`,
      entries: `<strong>${replay.entries}</strong>`,
      loitering: `<strong>${replay.loitering}</strong>`,
      dwell: replay.longest_dwell_s,
    };
    const line = {
      line_crossing: "replay_line",
      zone_presence: "replay_zone",
      loitering: "replay_loitering",
    }[replay.rule_kind];
    const escaped = (key) => format(escape(this._strings[key] ?? key), values);
    return `${escape(this._t("replay_title", values))} · ${escape(this._t("replay_tracks", values))}:
      ${escaped(line)}`;
  }

  // --- saving -----------------------------------------------------------------------------

  async _save() {
    const draft = this._draft;
    if (!this._canSave) return;
    this._saving = true;
    this._message = { kind: "info", text: this._t("saving") };
    this._renderSide();
    let result;
    try {
      result = await this._hass.callWS({
        type: "vigil/editor/save",
        entry_id: this._entryId,
        camera: this._cameraId,
        shape: draft.toMessage(),
      });
    } catch (err) {
      this._saving = false;
      this._message = { kind: "error", text: this._errorText(err) };
      this._renderSide();
      return;
    }
    this._saving = false;
    if (result.status === "saved") {
      this._message = { kind: "ok", text: this._t("saved") };
      await this._reloadAfterSave(result.id);
      return;
    }
    if (result.status === "acknowledge") {
      const text = escape(this._t("acknowledge", { detectors: result.detectors, context: result.context }));
      this._message = {
        kind: "error",
        html: `${text} <a href="${INTEGRATION_URL}">${escape(this._t("open_integration"))}</a>`,
      };
    } else {
      const errors = result.errors ?? {};
      const texts = Object.values(errors).map((key) => this._flowError(key, draft.type));
      this._message = { kind: "error", text: texts.join(" ") };
    }
    this._renderSide();
  }

  /** Show the saved shape once the server entry has reloaded with it. */
  async _reloadAfterSave(savedId) {
    const message = this._message;
    for (let attempt = 0; attempt < 20; attempt += 1) {
      await this._loadCameras(this._cameraId);
      const shape = this._shapes.find((s) => s.id === savedId);
      if (shape && this._server?.connected) {
        this._edit(shape);
        this._message = message;
        this._renderSide();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    this._close();
  }
}

if (!customElements.get("vigil-panel")) customElements.define("vigil-panel", VigilPanel);
