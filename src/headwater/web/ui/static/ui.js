// headwater web UI: the build page's log (virtual scrolling over /ui/builds/ID/lines,
// live over /ui/builds/ID/events) and its step tree. No framework, no innerHTML of
// data: every text goes through textContent, so nothing in a log is markup.
"use strict";

const MAX_LINE = 4096;     // loglines.py MAX_LINE: the same line rule as the server
const PAGE = 200;          // lines per fetched page
const KEEP_PAGES = 40;     // pages kept in memory (8000 lines), older ones dropped
const OVERSCAN = 40;       // lines rendered above and below the visible ones
const MAX_PX = 8000000;    // a taller spacer is scaled: browsers cap element heights

// -- ANSI SGR colours -> spans ------------------------------------------------------
const CSI = /\x1b\[([0-9;?]*)([@-~])/g;

function applySgr(state, params) {
  const codes = params === "" ? [0] : params.split(";").map((p) => parseInt(p || "0", 10));
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c === 0) { state.fg = null; state.bg = null; state.b = state.i = state.u = false; }
    else if (c === 1) state.b = true;
    else if (c === 3) state.i = true;
    else if (c === 4) state.u = true;
    else if (c === 22) state.b = false;
    else if (c === 23) state.i = false;
    else if (c === 24) state.u = false;
    else if (c >= 30 && c <= 37) state.fg = c - 30;
    else if (c >= 90 && c <= 97) state.fg = c - 90 + 8;
    else if (c === 39) state.fg = null;
    else if (c >= 40 && c <= 47) state.bg = c - 40;
    else if (c >= 100 && c <= 107) state.bg = c - 100;
    else if (c === 49) state.bg = null;
    else if ((c === 38 || c === 48) && codes[i + 1] === 5) {
      const n = codes[i + 2];
      if (n < 16) { if (c === 38) state.fg = n; else state.bg = n % 8; }
      i += 2;
    } else if ((c === 38 || c === 48) && codes[i + 1] === 2) { i += 4; }
  }
}

function ansiNodes(text) {
  // A line's text as DOM nodes: SGR codes become classes, every other escape is dropped.
  const cr = text.lastIndexOf("\r");
  if (cr >= 0 && cr < text.length - 1) text = text.slice(cr + 1);  // progress bars
  const out = [];
  const state = { fg: null, bg: null, b: false, i: false, u: false };
  let last = 0;
  const push = (s) => {
    if (!s) return;
    s = s.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
    if (!s) return;
    const cls = [];
    if (state.fg !== null) cls.push("f" + state.fg);
    if (state.bg !== null) cls.push("g" + state.bg);
    if (state.b) cls.push("b");
    if (state.i) cls.push("i");
    if (state.u) cls.push("u");
    if (cls.length === 0) { out.push(document.createTextNode(s)); return; }
    const span = document.createElement("span");
    span.className = cls.join(" ");
    span.textContent = s;
    out.push(span);
  };
  CSI.lastIndex = 0;
  let m;
  while ((m = CSI.exec(text)) !== null) {
    push(text.slice(last, m.index));
    if (m[2] === "m") applySgr(state, m[1]);
    last = CSI.lastIndex;
  }
  push(text.slice(last));
  return out;
}

// -- the log view ------------------------------------------------------------------
class LogView {
  constructor(el) {
    this.el = el;
    this.id = el.dataset.build;
    this.rows = el.querySelector(".log-rows");
    this.spacer = el.querySelector(".log-spacer");
    this.lineHeight = 18;
    this.total = 0;
    this.complete = false;
    this.pages = new Map();     // page number -> array of [n, step, text, open]
    this.loading = new Set();
    this.steps = {};
    this.stepNames = {};
    this.wireSteps();
    this.info = document.getElementById("log-info");
    this.follow = document.getElementById("log-follow");
    this.tail = null;           // [n, step, text, open] of the last line, when live
    this.renderQueued = false;
    el.addEventListener("scroll", () => {
      const atEnd = el.scrollTop + el.clientHeight >= el.scrollHeight - this.lineHeight;
      if (!atEnd && this.follow && this.follow.checked && this.userScrolled) {
        this.follow.checked = false;
      }
      this.userScrolled = true;
      this.queueRender();
    });
    document.getElementById("log-top").addEventListener("click", () => { el.scrollTop = 0; });
    document.getElementById("log-end").addEventListener("click", () => this.toEnd());
  }

  wireSteps() {
    // Step names for the log's margin, and a click on a step scrolls to its first line.
    document.querySelectorAll("[data-step-link]").forEach((a) => {
      this.stepNames[a.dataset.stepLink] = a.textContent;
      a.addEventListener("click", (ev) => {
        const first = this.steps[a.dataset.stepLink];
        if (first !== undefined) { ev.preventDefault(); this.scrollToLine(first); }
      });
    });
  }

  async fetchLines(start, count) {
    const q = start === null ? `count=${count}` : `start=${start}&count=${count}`;
    const r = await fetch(`/ui/builds/${this.id}/lines?${q}`, { credentials: "same-origin" });
    if (!r.ok) throw new Error(`log: ${r.status}`);
    const page = await r.json();
    this.steps = Object.assign(this.steps, page.steps);
    if (page.total >= this.total) { this.total = page.total; this.complete = page.complete; }
    for (const line of page.lines) this.store(line);
    return page;
  }

  store(line) {
    const p = Math.floor(line[0] / PAGE);
    let arr = this.pages.get(p);
    if (!arr) {
      arr = [];
      this.pages.set(p, arr);
      while (this.pages.size > KEEP_PAGES) {  // drop the page farthest from the view
        const here = Math.floor((this.topLine || 0) / PAGE);
        let far = null;
        for (const k of this.pages.keys()) {
          if (far === null || Math.abs(k - here) > Math.abs(far - here)) far = k;
        }
        this.pages.delete(far);
      }
    }
    arr[line[0] - p * PAGE] = line;
  }

  line(n) {
    const arr = this.pages.get(Math.floor(n / PAGE));
    return arr ? arr[n - Math.floor(n / PAGE) * PAGE] : undefined;
  }

  async ensure(first, last) {
    const want = [];
    for (let p = Math.floor(first / PAGE); p <= Math.floor(last / PAGE); p++) {
      const arr = this.pages.get(p);
      const full = arr && arr.length >= Math.min(PAGE, this.total - p * PAGE) &&
        !arr.includes(undefined);
      if (!full && !this.loading.has(p)) want.push(p);
    }
    await Promise.all(want.map(async (p) => {
      this.loading.add(p);
      try { await this.fetchLines(p * PAGE, PAGE); } finally { this.loading.delete(p); }
    }));
    if (want.length) this.queueRender();
  }

  queueRender() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => { this.renderQueued = false; this.render(); });
  }

  geometry() {
    // Which line is at the top of the view. Up to MAX_PX the spacer is one line per
    // lineHeight; past it the scrollbar is proportional (a 10-million-line log scrolls).
    const el = this.el;
    const lh = this.lineHeight;
    const height = Math.min(this.total * lh, MAX_PX);
    const visible = Math.ceil(el.clientHeight / lh);
    const scaled = this.total * lh > MAX_PX;
    const room = Math.max(1, height - el.clientHeight);
    const top = scaled ? Math.min(1, el.scrollTop / room) * Math.max(0, this.total - visible)
      : el.scrollTop / lh;
    return { height, visible, scaled, room, top };
  }

  render() {
    const el = this.el;
    const g = this.geometry();
    this.topLine = g.top;
    this.spacer.style.height = `${g.height}px`;
    const first = Math.max(0, Math.floor(g.top) - OVERSCAN);
    const last = Math.min(this.total - 1, Math.floor(g.top) + g.visible + OVERSCAN);
    const y = el.scrollTop - (g.top - first) * this.lineHeight;
    this.rows.style.transform = `translateY(${Math.max(0, y)}px)`;
    const frag = document.createDocumentFragment();
    let missing = false;
    let prevStep = null;
    for (let n = first; n <= last; n++) {
      const line = this.line(n);
      const row = document.createElement("div");
      row.className = "log-row";
      row.dataset.n = n;
      const num = document.createElement("span");
      num.className = "n";
      num.textContent = String(n + 1);
      const step = document.createElement("span");
      step.className = "s";
      const text = document.createElement("span");
      text.className = "t";
      if (line) {
        if (line[1] !== prevStep) step.textContent = this.stepNames[line[1]] || line[1];
        prevStep = line[1];
        text.append(...ansiNodes(line[2]));
      } else { missing = true; text.textContent = "…"; }
      row.append(num, step, text);
      frag.append(row);
    }
    this.rows.replaceChildren(frag);
    if (this.info) {
      this.info.textContent = this.complete ? `${this.total} lines` :
        `${this.total} lines so far`;
    }
    if (missing && this.total > 0) this.ensure(first, last);
  }

  scrollToLine(n) {
    if (this.follow) this.follow.checked = false;
    this.userScrolled = false;
    const g = this.geometry();
    this.el.scrollTop = g.scaled ? n / Math.max(1, this.total - g.visible) * g.room
      : n * this.lineHeight;
    this.queueRender();
  }

  async toEnd() {
    const page = await this.fetchLines(null, PAGE);  // the server reads to the end
    this.userScrolled = false;
    this.render();
    this.el.scrollTop = this.el.scrollHeight;
    this.queueRender();
    return page;
  }

  // Live output, appended with the server's rule (loglines.Splitter).
  append(step, text) {
    let tail = this.tail;
    if (tail && tail[3] && tail[1] !== step) { tail[3] = false; tail = null; }
    if (!(step in this.steps)) this.steps[step] = tail && tail[3] ? tail[0] : this.total;
    let pos = 0;
    while (pos < text.length) {
      if (!tail || !tail[3]) {
        tail = [this.total, step, "", true];
        this.total += 1;
        this.store(tail);
      }
      const room = MAX_LINE - tail[2].length;
      const nl = text.indexOf("\n", pos);
      if (nl >= 0 && nl <= pos + room) {
        tail[2] += text.slice(pos, nl);
        pos = nl + 1;
        tail[3] = false;
      } else {
        const end = Math.min(text.length, pos + room);
        tail[2] += text.slice(pos, end);
        pos = end;
        if (tail[2].length >= MAX_LINE) tail[3] = false;
      }
    }
    this.tail = tail;
  }

  afterLive() {
    this.queueRender();
    if (this.follow && this.follow.checked) {
      requestAnimationFrame(() => {
        this.userScrolled = false;
        this.el.scrollTop = this.el.scrollHeight;
      });
    }
  }
}

async function refreshSteps(view) {
  // The step tree, timings and versions as the server renders them now (the plan is
  // made when the build starts; versions are known when it ends).
  const r = await fetch(location.href, { credentials: "same-origin" });
  if (!r.ok) return;
  const doc = new DOMParser().parseFromString(await r.text(), "text/html");
  const fresh = doc.querySelector(".steps-pane");
  const old = document.querySelector(".steps-pane");
  if (fresh && old) {
    old.replaceWith(document.adoptNode(fresh));
    view.wireSteps();
    view.queueRender();
  }
  for (const sel of ["#build-status", ".times"]) {  // the status as the server knows it
    const now = doc.querySelector(sel);
    const shown = document.querySelector(sel);
    if (now && shown) shown.replaceWith(document.adoptNode(now));
  }
  if (!doc.getElementById("abort")) {
    const abort = document.getElementById("abort");
    if (abort) abort.remove();
  }
}

function setStatus(status) {
  const badge = document.getElementById("build-status");
  if (!badge) return;
  badge.textContent = status;
  badge.className = `badge st-${["succeeded", "failed", "errored", "aborted", "started",
    "pending"].includes(status) ? status : "none"}`;
  if (!["pending", "started"].includes(status)) {
    const abort = document.getElementById("abort");
    if (abort) abort.remove();
  }
}

function setStep(id, state) {
  const dot = document.querySelector(`[data-step="${CSS.escape(id)}"] > .step-line > .dot`);
  if (!dot) return;
  dot.dataset.state = state;
  dot.title = state;
  dot.className = `dot st-${state}`;
}

async function startBuildPage(el) {
  const view = new LogView(el);
  const finished = el.dataset.finished === "true";
  if (finished) {
    // First screen at once; the total (and the scrollbar) once the server read it all.
    await view.fetchLines(0, PAGE);
    view.render();
    view.fetchLines(null, 1).then(() => view.queueRender());
    return;
  }
  const page = await view.toEnd();
  const last = page.lines[page.lines.length - 1];
  view.tail = last && last[3] ? view.line(last[0]) : null;
  const source = new EventSource(`/ui/builds/${view.id}/events?after=${page.last_seq}`);
  let pending = false;
  let planAsked = false;
  source.addEventListener("event", (msg) => {
    const { event, data } = JSON.parse(msg.data);
    const origin = data.origin ? data.origin.id : null;
    if (origin && !document.querySelector(".steps") && !planAsked) {
      planAsked = true;  // the page opened before the build had a plan: fetch it once
      refreshSteps(view);
    }
    const badge = document.getElementById("build-status");
    if (badge && badge.textContent === "pending" && event !== "status") setStatus("started");
    if (event === "log") view.append(origin || "", data.payload || "");
    else if (event.startsWith("start")) setStep(origin, "started");
    else if (event.startsWith("finish")) {
      setStep(origin, data.exit_status === 0 ? "succeeded" : "failed");
    } else if (event === "error" && origin) setStep(origin, "errored");
    else if (event === "status") { setStatus(data.status); refreshSteps(view); }
    if (!pending) {
      pending = true;
      requestAnimationFrame(() => { pending = false; view.afterLive(); });
    }
  });
  source.addEventListener("end", () => {
    source.close();
    refreshSteps(view);
    view.complete = true;
    el.dataset.finished = "true";
    view.afterLive();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const log = document.getElementById("log-view");
  if (log) startBuildPage(log);
});
