// tasktail demo page: one WebSocket per task, resumable across reloads. No build step.
//
// Each task keeps {epoch, lastSeq, state, items} in sessionStorage, saved together after
// every frame, so a reload re-renders what it had and reconnects with
// ?epoch=E&after_seq=lastSeq: the server replays exactly what came after, nothing is lost
// and nothing repeats (frames at or below lastSeq are ignored too). The epoch names the
// task's incarnation (SPEC WIRE-4): the server opens with a hello frame, or with a reset
// frame when the task it knows under this id is a later one (restarted, expired and
// reused): then what the page had is forgotten and the new incarnation shown from its start. Reconnects back off exponentially up to ~5 s; close codes
// 4000 (another tab took over), 4002 (expired), 1008/1009 (refused) and a finished task
// end the stream for good.
"use strict";

const LIST_KEY = "tasktail.tasks";
const MAX_ITEMS = 2000;
const FINAL = new Set(["success", "error", "expired", "refused"]);
const views = new Map();
const $ = (selector, root = document) => root.querySelector(selector);

function load(key, fallback) {
  try { return JSON.parse(sessionStorage.getItem(key)) ?? fallback; } catch { return fallback; }
}
function saveList() {
  sessionStorage.setItem(LIST_KEY, JSON.stringify([...views.values()].map((v) => v.info)));
}

class TaskView {
  constructor(info) {
    this.info = info;
    this.key = "tasktail.task." + info.task_id;
    const saved = load(this.key, {});
    this.epoch = saved.epoch || "";
    this.lastSeq = saved.lastSeq || 0;
    this.state = saved.state || "running";
    this.items = saved.items || [];
    this.ws = null;
    this.attempts = 0;
    this.timer = null;
    this.el = $("#task-template").content.firstElementChild.cloneNode(true);
    this.el.dataset.taskId = info.task_id;
    $(".label", this.el).textContent = info.label || info.task_id;
    $(".label", this.el).title = info.kind + " " + info.task_id;
    $(".forget", this.el).addEventListener("click", () => this.forget());
    this.items.forEach((item) => this.render(item));
    this.setStatus(this.state);
  }

  connect() {
    if (FINAL.has(this.state) || this.forgotten) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/ws/${encodeURIComponent(this.info.task_id)}?epoch=${encodeURIComponent(this.epoch)}&after_seq=${this.lastSeq}`;
    this.setConn("connecting", "connecting");
    const ws = (this.ws = new WebSocket(url));
    ws.onopen = () => this.setConn("connected", "live");
    ws.onmessage = (event) => { this.attempts = 0; this.receive(JSON.parse(event.data)); };
    ws.onclose = (event) => { if (this.ws === ws) this.closed(event); };
  }

  receive(frame) {
    if (frame.type === "hello") {
      this.epoch = frame.epoch;
      this.save();
    } else if (frame.type === "reset") {
      // another incarnation of this id: what we show belongs to a task that is gone
      this.epoch = frame.epoch;
      this.lastSeq = 0;
      this.items = [];
      this.state = "running";
      $(".log", this.el).replaceChildren();
      this.keep({ notice: true, text: "the server restarted this task: showing it from its start" }, 0);
    } else if (frame.type === "gap") {
      if (frame.last_seq <= this.lastSeq) return;
      this.keep({ gap: true, first: frame.first_seq, last: frame.last_seq, count: frame.count, reason: frame.reason },
                frame.last_seq);
    } else if (frame.type === "log") {
      if (frame.seq <= this.lastSeq) return; // already shown: never repeat a line
      const { seq, timestamp, level, message, progress, finished } = frame;
      if (finished) this.state = level === "error" ? "error" : "success";
      this.keep({ seq, timestamp, level, message, progress, finished }, seq);
      if (finished) { this.ws.close(1000, "finished"); this.setConn("closed", "done"); }
    }
  }

  keep(item, seq) {
    this.lastSeq = seq;
    this.items.push(item);
    if (this.items.length > MAX_ITEMS) this.items.splice(0, this.items.length - MAX_ITEMS);
    this.render(item);
    this.setStatus(this.state);
    this.save();
  }

  save() {
    sessionStorage.setItem(this.key, JSON.stringify(
      { epoch: this.epoch, lastSeq: this.lastSeq, state: this.state, items: this.items }));
  }

  closed(event) {
    this.ws = null;
    const reason = event.reason ? `: ${event.reason}` : "";
    if (FINAL.has(this.state) || this.forgotten) return;
    if (event.code === 4000) return this.setConn("replaced", "opened in another tab; reload to follow here");
    if (event.code === 4002) { this.setStatus("expired"); return this.setConn("closed", "expired on the server"); }
    if (event.code === 1008 || event.code === 1009) {
      this.setStatus("refused"); return this.setConn("refused", `refused (${event.code}${reason})`);
    }
    const delay = Math.min(5000, 250 * 2 ** this.attempts) * (0.8 + 0.4 * Math.random());
    this.attempts += 1;
    this.setConn("disconnected", `disconnected (${event.code}), retrying in ${(delay / 1000).toFixed(1)} s`);
    this.timer = setTimeout(() => this.connect(), Math.min(delay, 5000));
  }

  render(item) {
    const li = document.createElement("li");
    if (item.notice) {
      li.className = "gap";
      li.textContent = item.text;
    } else if (item.gap) {
      li.className = "gap";
      li.dataset.first = item.first;
      li.dataset.last = item.last;
      li.textContent = `${item.count} message(s) #${item.first}-#${item.last} ` +
        (item.reason === "dropped" ? "were dropped: the queue was full" : "are no longer kept by the server");
    } else {
      li.dataset.seq = item.seq;
      li.dataset.level = item.level;
      const time = new Date(item.timestamp).toLocaleTimeString();
      for (const [cls, text] of [["seq", item.seq], ["ts", time], ["lvl", item.level], ["msg", item.message]]) {
        const span = li.appendChild(document.createElement("span"));
        span.className = cls;
        span.textContent = text; // never innerHTML: messages may carry anything from a CSV
      }
      if (item.progress !== null && item.progress !== undefined) this.setProgress(item.progress);
    }
    const log = $(".log", this.el);
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.appendChild(li);
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  setProgress(value) {
    const bar = $(".bar", this.el);
    bar.setAttribute("aria-valuenow", String(value));
    $(".fill", this.el).style.width = value + "%";
    $(".pct", this.el).textContent = Math.round(value) + "%";
  }

  setStatus(state) {
    this.state = state;
    this.el.dataset.state = state;
    const badge = $(".status", this.el);
    badge.dataset.state = state;
    badge.textContent = state;
    if (FINAL.has(state) && !this.ws) this.setConn("closed", "done");
  }

  setConn(state, text) {
    const badge = $(".conn", this.el);
    badge.dataset.state = state;
    badge.textContent = text;
    updateOnline();
  }

  forget() {
    this.forgotten = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "forgotten");
    this.el.remove();
    views.delete(this.info.task_id);
    sessionStorage.removeItem(this.key);
    saveList();
    updateOnline();
  }
}

function updateOnline() {
  const states = [...views.values()].map((v) => $(".conn", v.el).dataset.state);
  const live = states.filter((s) => s === "connected").length;
  const down = states.filter((s) => s === "disconnected").length;
  const badge = $("#online");
  badge.dataset.state = down ? "disconnected" : live ? "connected" : "idle";
  badge.textContent = down ? `${down} disconnected, ${live} live` : live ? `${live} live` : "no live tasks";
}

function follow(info) {
  if (views.has(info.task_id)) return;
  const view = new TaskView(info);
  views.set(info.task_id, view);
  $("#tasks").prepend(view.el);
  saveList();
  view.connect();
}

async function request(url, options) {
  const notice = $("#notice");
  notice.textContent = "";
  try {
    const response = await fetch(url, options);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    return body;
  } catch (error) {
    notice.textContent = error.message;
    return null;
  }
}

async function followFromHash() {
  const ids = new URLSearchParams(location.hash.slice(1)).get("task");
  for (const id of (ids || "").split(",").filter(Boolean)) {
    if (views.has(id)) continue;
    const info = await request(`/api/tasks/${encodeURIComponent(id)}`);
    if (info) follow(info);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  load(LIST_KEY, []).forEach(follow);
  followFromHash();
  window.addEventListener("hashchange", followFromHash);
  $("#csv-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = $("#csv-file").files[0];
    if (!file) return;
    const info = await request(`/api/tasks/csv?name=${encodeURIComponent(file.name)}`,
                               { method: "POST", body: file, headers: { "Content-Type": "text/csv" } });
    if (info) { follow(info); event.target.reset(); }
  });
  $("#train-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const info = await request("/api/tasks/training", { method: "POST" });
    if (info) follow(info);
  });
  updateOnline();
});
