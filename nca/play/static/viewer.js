// nca play: draws the frames the server streams and sends the user's commands.
// Protocol: nca/play/protocol.py. No external assets (works offline).
"use strict";

const viewer = {
  frames: 0,          // frames received
  step: 0,            // CA step of the last frame
  state: null,        // last state message
  lastFrame: null,    // {width, height, data: Uint8ClampedArray}
  errors: [],         // error messages received
  socket: null,
};
window.ncaViewer = viewer;

const $ = (id) => document.getElementById(id);
const canvas = $("grid");
const context = canvas.getContext("2d");
const buffer = document.createElement("canvas");

function send(command) {
  if (viewer.socket && viewer.socket.readyState === WebSocket.OPEN) {
    viewer.socket.send(JSON.stringify(command));
  }
}

// Drags and sliders fire many events per frame: send the latest of each kind once per
// animation frame.
const latest = new Map();
function sendSoon(command) {
  if (latest.size === 0) {
    requestAnimationFrame(() => {
      latest.forEach((queued) => send(queued));
      latest.clear();
    });
  }
  latest.set(command.type, command);
}

function showError(message) {
  viewer.errors.push(message);
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

function drawFrame(data) {
  const view = new DataView(data);
  const step = view.getUint32(0, true);
  const height = view.getUint16(4, true);
  const width = view.getUint16(6, true);
  const fps = view.getUint32(8, true) / 100;
  const pixels = new Uint8ClampedArray(data, 12, width * height * 4);
  if (buffer.width !== width || buffer.height !== height) {
    buffer.width = width;
    buffer.height = height;
    const scale = 512 / Math.max(width, height);  // keep the grid's aspect ratio
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    canvas.style.width = `${canvas.width}px`;
    canvas.style.height = `${canvas.height}px`;
  }
  buffer.getContext("2d").putImageData(new ImageData(pixels, width, height), 0, 0);
  context.imageSmoothingEnabled = false;
  context.drawImage(buffer, 0, 0, canvas.width, canvas.height);
  viewer.frames += 1;
  viewer.step = step;
  viewer.lastFrame = { width, height, data: pixels.slice() };
  $("step").textContent = `step ${step}`;
  $("fps").textContent = `${fps.toFixed(1)} fps`;
}

function applyState(state) {
  viewer.state = state;
  if (state.run) {
    $("run").textContent = `${state.run.task} · ${state.run.rule} · ${state.run.checkpoint}`;
  }
  $("pause").textContent = state.paused ? "play" : "pause";
  // a slider being dragged keeps its own value (echoed states lag behind it)
  if (document.activeElement !== $("speed")) {
    $("speed").value = state.steps_per_frame;
    $("speed-value").textContent = state.steps_per_frame;
  }
  if (document.activeElement !== $("sigma")) {
    $("sigma").value = state.sigma;
    $("sigma-value").textContent = Number(state.sigma).toFixed(2);
  }
  $("channel").value = state.channel;
  $("view").value = state.view;
  $("view").querySelector('option[value="attention"]').disabled = !state.attention;
  $("view").querySelector('option[value="hidden"]').disabled = !state.hidden_channels;
  $("channel").max = Math.max(0, state.hidden_channels - 1);
  $("channel-label").hidden = state.view !== "hidden";
  buildHeads(state);
  buildChoices(state);
  applyVolume(state);
}

// ------------------------------------------------------------- 3-D runs
// The server draws the voxels; the page sends the camera (rotate) and the slice.
const camera = { yaw: 0, pitch: 0 };

function applyVolume(state) {
  const box = $("volume");
  box.hidden = state.dims !== 3;
  canvas.title = state.dims === 3 ? "drag to rotate, click to damage" : "click or drag to damage cells";
  if (state.dims !== 3) return;
  if (!dragging) {
    camera.yaw = state.camera.yaw;
    camera.pitch = state.camera.pitch;
  }
  const axis = state.camera.slice_axis;
  $("slice-axis").value = String(axis);
  const position = $("slice-position");
  position.disabled = axis < 0;
  position.max = axis < 0 ? 0 : state.volume[axis] - 1;
  if (document.activeElement !== position) {
    position.value = state.camera.slice_position;
    $("slice-value").textContent = state.camera.slice_position;
  }
  document.querySelector(`input[name="slice-mode"][value="${state.camera.slice_mode}"]`).checked = true;
}

function rotate(yaw, pitch) {
  camera.yaw = ((yaw + 180) % 360 + 360) % 360 - 180;
  camera.pitch = Math.max(-90, Math.min(90, pitch));
  sendSoon({ type: "rotate", yaw: camera.yaw, pitch: camera.pitch });
}

function sendSlice() {
  const axis = Number($("slice-axis").value);
  const mode = document.querySelector('input[name="slice-mode"]:checked').value;
  const position = axis < 0 ? 0 : Number($("slice-position").value);
  sendSoon({ type: "slice", axis, position, mode });
}

$("slice-axis").addEventListener("change", () => {
  const axis = Number($("slice-axis").value);
  if (axis >= 0 && viewer.state) {  // start in the middle of the new axis
    $("slice-position").max = viewer.state.volume[axis] - 1;
    $("slice-position").value = Math.floor(viewer.state.volume[axis] / 2);
  }
  sendSlice();
});
$("slice-position").addEventListener("input", (e) => {
  $("slice-value").textContent = e.target.value;
  sendSlice();
});
document.querySelectorAll('input[name="slice-mode"]').forEach((input) => input.addEventListener("change", sendSlice));
const VIEWS = { front: [0, 0], side: [-90, 0], top: [0, 90], iso: [-45, 35.26] };
for (const [id, [yaw, pitch]] of Object.entries(VIEWS)) {
  $(id).addEventListener("click", () => rotate(yaw, pitch));
}
document.addEventListener("keydown", (e) => {
  const is3d = viewer.state && viewer.state.dims === 3;
  if (!is3d || ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)) return;
  const turns = { ArrowLeft: [-10, 0], ArrowRight: [10, 0], ArrowUp: [0, 10], ArrowDown: [0, -10] };
  if (!(e.key in turns)) return;
  e.preventDefault();
  rotate(camera.yaw + turns[e.key][0], camera.pitch + turns[e.key][1]);
});

function buildHeads(state) {
  const box = $("heads");
  box.hidden = !state.heads;
  if (!state.heads || box.dataset.count === String(state.heads)) {
    box.querySelectorAll("input").forEach((input) => {
      input.checked = state.masked_heads.includes(Number(input.value));
    });
    return;
  }
  box.dataset.count = String(state.heads);
  box.querySelectorAll("label").forEach((label) => label.remove());
  for (let head = 0; head < state.heads; head += 1) {
    const label = document.createElement("label");
    label.className = "inline";
    label.innerHTML = `<input type="checkbox" value="${head}"> head ${head}`;
    box.appendChild(label);
  }
  box.querySelectorAll("input").forEach((input) => input.addEventListener("change", () => {
    const masked = [...box.querySelectorAll("input:checked")].map((i) => Number(i.value));
    send({ type: "heads", masked });
  }));
}

function buildChoices(state) {
  const box = $("choices");
  for (const choice of state.choices) {
    let select = box.querySelector(`select[name="${CSS.escape(choice.name)}"]`);
    if (!select) {
      const label = document.createElement("label");
      label.textContent = choice.label;
      select = document.createElement("select");
      select.name = choice.name;
      for (const option of choice.options) {
        select.appendChild(new Option(option, option));
      }
      select.addEventListener("change", () => send({ type: "choose", name: choice.name, value: select.value }));
      label.appendChild(select);
      box.appendChild(label);
    }
    select.value = choice.value;
  }
}

function connect() {
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  socket.binaryType = "arraybuffer";
  viewer.socket = socket;
  socket.onmessage = (event) => {
    if (typeof event.data !== "string") {
      drawFrame(event.data);
      return;
    }
    const message = JSON.parse(event.data);
    if (message.type === "state") applyState(message);
    else if (message.type === "error") showError(message.message);
  };
  socket.onclose = () => { $("run").textContent = "disconnected (reload to reconnect)"; };
}

// ------------------------------------------------------------------ controls
$("pause").addEventListener("click", () => send({ type: viewer.state && viewer.state.paused ? "play" : "pause" }));
$("stepbtn").addEventListener("click", () => send({ type: "step", count: 1 }));
$("reset").addEventListener("click", () => send({ type: "reset" }));
$("speed").addEventListener("input", (e) => {
  $("speed-value").textContent = e.target.value;
  sendSoon({ type: "speed", steps_per_frame: Number(e.target.value) });
});
$("sigma").addEventListener("input", (e) => {
  $("sigma-value").textContent = Number(e.target.value).toFixed(2);
  sendSoon({ type: "sigma", value: Number(e.target.value) });
});
$("radius").addEventListener("input", (e) => { $("radius-value").textContent = e.target.value; });
$("view").addEventListener("change", (e) => send({ type: "view", mode: e.target.value, channel: Number($("channel").value) }));
$("channel").addEventListener("change", (e) => send({ type: "view", mode: "hidden", channel: Number(e.target.value) }));

function damageAt(event) {
  const box = canvas.getBoundingClientRect();
  const x = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
  const y = Math.min(1, Math.max(0, (event.clientY - box.top) / box.height));
  const mode = document.querySelector('input[name="brush"]:checked').value;
  return { type: "damage", x, y, radius: Number($("radius").value), mode };
}
// 1-D and 2-D: a click or drag damages. 3-D: a drag rotates, a click (no move) damages.
let drawing = false;
let dragging = false;
let pressed = null;  // 3-D: where the pointer went down, and the camera then
const is3d = () => viewer.state && viewer.state.dims === 3;
canvas.addEventListener("pointerdown", (e) => {
  if (e.button !== 0) return;  // the primary button (or a touch)
  canvas.setPointerCapture(e.pointerId);
  if (is3d()) {
    pressed = { x: e.clientX, y: e.clientY, yaw: camera.yaw, pitch: camera.pitch };
    return;
  }
  drawing = true;
  send(damageAt(e));
});
canvas.addEventListener("pointermove", (e) => {
  if (pressed && (e.buttons & 1)) {
    const dx = e.clientX - pressed.x;
    const dy = e.clientY - pressed.y;
    if (dragging || Math.hypot(dx, dy) > 4) {  // a few pixels: still a click
      dragging = true;
      rotate(pressed.yaw + dx * 0.5, pressed.pitch + dy * 0.5);
    }
  } else if (drawing && (e.buttons & 1)) {
    sendSoon(damageAt(e));
  }
});
canvas.addEventListener("pointerup", (e) => {
  if (pressed && !dragging) send(damageAt(e));
});
for (const end of ["pointerup", "pointercancel", "lostpointercapture"]) {
  canvas.addEventListener(end, () => { drawing = false; dragging = false; pressed = null; });
}

connect();
