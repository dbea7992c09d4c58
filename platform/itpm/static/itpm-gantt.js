/* The project's Gantt chart, drawn as SVG from /api/v1/planning/<type>/<id>/schedule.
   Drag a bar to move it, or one of its ends to stretch it; the server works out which dependants
   follow (the same code that saves), the chart shows them and names them, and nothing is written
   until Save. A save that meets a newer version of a task is refused by the server and shown here. */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg", DAY = 86400000, ROW = 26, HEAD = 42, EDGE = 7;

  function day(text) { var p = text.split("-"); return Date.UTC(+p[0], +p[1] - 1, +p[2]) / DAY; }
  function iso(n) { return new Date(n * DAY).toISOString().slice(0, 10); }
  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function html(name, attrs, text) {
    var node = document.createElement(name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function format(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, k) { return values[k] === undefined ? "" : values[k]; });
  }
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function Gantt(root) {
    this.root = root;
    this.url = root.getAttribute("data-url");
    this.t = JSON.parse(root.getAttribute("data-texts"));
    this.notice = document.getElementById("itpm-gantt-notice");
    this.pending = null;
    this.scale = null;
    var self = this;
    document.querySelectorAll("[data-gantt-scale]").forEach(function (b) {
      b.addEventListener("click", function () { self.scale = +b.getAttribute("data-gantt-scale"); self.draw(); });
    });
    this.load();
  }

  Gantt.prototype.request = function (method, url, body) {
    return fetch(url, {
      method: method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf(), "Accept-Language": document.documentElement.lang || "en"},
      body: body ? JSON.stringify(body) : undefined
    }).then(function (r) { return r.json().then(function (data) { return {status: r.status, data: data}; }); });
  };

  Gantt.prototype.load = function () {
    var self = this;
    return this.request("GET", this.url).then(function (r) {
      if (r.status !== 200) { self.say("danger", r.data.message || String(r.status)); return; }
      self.take(r.data);
    });
  };

  Gantt.prototype.take = function (data) {
    this.data = data;
    this.byId = {};
    var self = this;
    data.tasks.forEach(function (t) { self.byId[t.id] = t; });
    this.rows = data.tasks.filter(function (t) { return t.start && t.due; });
    this.rows.sort(function (a, b) { return a.start < b.start ? -1 : a.start > b.start ? 1 : a.id - b.id; });
    this.unscheduled = data.tasks.length - this.rows.length;
    this.draw();
  };

  /* The dates a task is shown with: the pending move's when it moves, its own otherwise. */
  Gantt.prototype.dates = function (t) {
    var moved = this.pending && this.pending.byId[t.id];
    return moved ? [day(moved.start), day(moved.due)] : [day(t.start), day(t.due)];
  };

  Gantt.prototype.draw = function () {
    var began = window.performance ? performance.now() : 0;
    var self = this, rows = this.rows, t = this.t;
    var first = Infinity, last = -Infinity;
    rows.forEach(function (r) {
      var d = self.dates(r);
      first = Math.min(first, d[0], r.baseline_start ? day(r.baseline_start) : Infinity);
      last = Math.max(last, d[1], r.baseline_due ? day(r.baseline_due) : -Infinity);
    });
    var today = Math.floor(Date.now() / DAY);
    if (!rows.length) { first = today; last = today + 30; }
    first -= 3; last += 10;
    var label = this.root.clientWidth < 600 ? 130 : 280;
    if (!this.scale) { this.scale = Math.max(3, Math.min(24, Math.floor((Math.max(this.root.clientWidth, 320) - label - 20) / (last - first + 1)))); }
    var scale = this.scale, width = label + (last - first + 1) * scale, height = HEAD + rows.length * ROW + 4;
    var x = function (n) { return label + (n - first) * scale; };
    var critical = this.pending ? this.pending.critical : null;
    var svg = el("svg", {width: width, height: height, "class": "itpm-gantt-svg", role: "img", "aria-label": t.chart});
    var defs = el("defs", {}, svg);
    var marker = el("marker", {id: "itpm-arrow", viewBox: "0 0 6 6", refX: 5, refY: 3, markerWidth: 6, markerHeight: 6, orient: "auto"}, defs);
    el("path", {d: "M0,0 L6,3 L0,6 z", "class": "itpm-g-arrowhead"}, marker);
    /* the rows' stripes under everything, then the calendar: months and Mondays */
    rows.forEach(function (r, i) {
      if (i % 2) { el("rect", {x: 0, y: HEAD + i * ROW, width: width, height: ROW, "class": "itpm-g-stripe"}, svg); }
    });
    var grid = el("g", {"class": "itpm-g-grid"}, svg);
    for (var n = first; n <= last; n++) {
      var date = new Date(n * DAY);
      if (date.getUTCDay() === 1) {
        el("line", {x1: x(n), x2: x(n), y1: 20, y2: height, "class": "itpm-g-week"}, grid);
        if (scale >= 5) { el("text", {x: x(n) + 2, y: 36, "class": "itpm-g-day"}, grid).textContent = String(date.getUTCDate()); }
      }
      var nextMonth = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1) / DAY;
      if (date.getUTCDate() === 1 || (n === first && (nextMonth - first) * scale >= 60)) {
        el("text", {x: x(n) + 2, y: 14, "class": "itpm-g-month"}, grid).textContent = iso(n).slice(0, 7);
      }
    }
    var row = {};
    rows.forEach(function (r, i) { row[r.id] = i; });
    /* dependencies under the bars */
    var links = el("g", {"class": "itpm-g-links"}, svg);
    rows.forEach(function (r) {
      (r.depends_on || []).forEach(function (before) {
        if (row[before] === undefined) { return; }
        var b = self.byId[before], bd = self.dates(b), rd = self.dates(r);
        var x1 = x(bd[1] + 1), y1 = HEAD + row[before] * ROW + ROW / 2, x2 = x(rd[0]), y2 = HEAD + row[r.id] * ROW + ROW / 2;
        var bend = Math.max(x1 + 4, Math.min(x2 - 4, x1 + 8));
        el("path", {d: "M" + x1 + "," + y1 + " H" + bend + " V" + y2 + " H" + x2, "class": "itpm-g-link", "marker-end": "url(#itpm-arrow)"}, links);
      });
    });
    var bars = el("g", {"class": "itpm-g-bars"}, svg);
    rows.forEach(function (r, i) {
      var y = HEAD + i * ROW, d = self.dates(r);
      var isCritical = critical ? critical.indexOf(r.id) >= 0 : r.critical;
      var moving = self.pending && self.pending.byId[r.id];
      var g = el("g", {"class": "itpm-g-row" + (isCritical ? " itpm-g-critical" : "") + (r.done ? " itpm-g-done" : "") + (moving ? " itpm-g-moving" : ""), "data-task": r.id}, bars);
      var a = el("a", {href: r.link}, g);
      var name = r.number + " " + r.title, room = Math.floor((label - 10) / 7);
      el("text", {x: 4, y: y + 17, "class": "itpm-g-label"}, a).textContent = name.length > room ? name.slice(0, room - 1) + "…" : name;
      el("title", {}, a).textContent = name;
      if (r.baseline_start && r.baseline_due) {
        el("rect", {x: x(day(r.baseline_start)), y: y + ROW - 7, width: Math.max(2, (day(r.baseline_due) - day(r.baseline_start) + 1) * scale), height: 4, "class": "itpm-g-baseline"}, g);
      }
      var shape;
      if (r.milestone) {
        var cx = x(d[0]) + scale / 2, cy = y + ROW / 2 - 2;
        shape = el("polygon", {points: [cx, cy - 8, cx + 8, cy, cx, cy + 8, cx - 8, cy].join(" "), "class": "itpm-g-milestone"}, g);
      } else {
        shape = el("rect", {x: x(d[0]), y: y + 4, width: Math.max(3, (d[1] - d[0] + 1) * scale), height: ROW - 12, rx: 3, "class": "itpm-g-bar"}, g);
        if (r.progress) {
          el("rect", {x: x(d[0]), y: y + 4, width: Math.max(0, (d[1] - d[0] + 1) * scale * Math.min(100, r.progress) / 100), height: 4, "class": "itpm-g-progress"}, g);
        }
      }
      el("title", {}, shape).textContent = format(t.bar, {number: r.number, title: r.title, start: iso(d[0]), due: iso(d[1])});
      if (r.writable) { shape.classList.add("itpm-g-draggable"); self.draggable(shape, r); }
    });
    if (today >= first && today <= last) {  /* today, over the bars */
      el("line", {x1: x(today), x2: x(today), y1: 18, y2: height, "class": "itpm-g-today"}, svg);
    }
    this.root.textContent = "";
    this.root.appendChild(svg);
    if (began) { this.root.setAttribute("data-drawn-ms", Math.round(performance.now() - began)); }
    var foot = document.getElementById("itpm-gantt-foot");
    if (foot) {
      foot.textContent = format(t.summary, {count: rows.length}) + (this.unscheduled ? " " + format(t.unscheduled, {count: this.unscheduled}) : "") +
        " " + (this.data.baseline === "gate" ? t.baseline_gate : t.baseline_first) + (this.data.problem ? " " + this.data.problem : "");
    }
  };

  Gantt.prototype.draggable = function (shape, task) {
    var self = this;
    shape.addEventListener("pointerdown", function (e) {
      if (e.button !== 0) { return; }
      e.preventDefault();
      var box = shape.getBoundingClientRect(), mode = "move";
      if (!task.milestone && e.clientX > box.right - EDGE) { mode = "due"; } else if (!task.milestone && e.clientX < box.left + EDGE) { mode = "start"; }
      var start = self.dates(task), x0 = e.clientX, shift = 0;
      var baseX = +(shape.getAttribute("x") || 0), baseW = +(shape.getAttribute("width") || 0), points = shape.getAttribute("points");
      shape.setPointerCapture(e.pointerId);
      shape.classList.add("itpm-g-dragging");
      function moveTo(ev) {
        shift = Math.round((ev.clientX - x0) / self.scale);
        var px = shift * self.scale;
        if (task.milestone) {
          shape.setAttribute("transform", "translate(" + px + ",0)");
        } else if (mode === "move") {
          shape.setAttribute("x", baseX + px);
        } else if (mode === "due") {
          shape.setAttribute("width", Math.max(self.scale, baseW + px));
        } else {
          var w = Math.max(self.scale, baseW - px);
          shape.setAttribute("x", baseX + baseW - w); shape.setAttribute("width", w);
        }
      }
      function done() {
        shape.removeEventListener("pointermove", moveTo);
        shape.removeEventListener("pointerup", done);
        shape.removeEventListener("pointercancel", done);
        shape.classList.remove("itpm-g-dragging");
        if (!shift) { if (points) { shape.setAttribute("points", points); } return; }
        var s = start[0], d = start[1];
        if (mode === "move") { s += shift; d += shift; }
        else if (mode === "due") { d = Math.max(s, d + shift); }
        else { s = Math.min(d, s + shift); }
        self.preview(task, iso(s), iso(d));
      }
      shape.addEventListener("pointermove", moveTo);
      shape.addEventListener("pointerup", done);
      shape.addEventListener("pointercancel", done);
    });
  };

  Gantt.prototype.preview = function (task, start, due) {
    var self = this;
    return this.request("POST", this.url + "/preview", {task: task.id, start: start, due: due}).then(function (r) {
      if (r.status !== 200) { self.pending = null; self.draw(); self.say("danger", r.data.message); return; }
      var byId = {};
      r.data.moves.forEach(function (m) { byId[m.id] = m; });
      self.pending = {task: task.id, start: start, due: due, moves: r.data.moves, byId: byId, critical: r.data.critical};
      self.draw();
      self.offer();
    });
  };

  /* The notice of a pending move: what moves, and Save / Cancel. */
  Gantt.prototype.offer = function () {
    var self = this, t = this.t, p = this.pending, box = html("div", {"class": "alert alert-info itpm-gantt-pending", role: "status"});
    var main = p.byId[p.task] || {number: this.byId[p.task].number, title: this.byId[p.task].title, start: p.start, due: p.due};
    box.appendChild(html("p", {}, format(t.moving, {number: main.number, title: main.title, start: main.start, due: main.due})));
    var others = p.moves.filter(function (m) { return m.id !== p.task; });
    if (others.length) {
      box.appendChild(html("p", {}, format(t.also, {count: others.length})));
      var ul = html("ul", {"class": "itpm-gantt-dependants"});
      others.forEach(function (m) {
        var old = self.byId[m.id];
        ul.appendChild(html("li", {"data-task": m.id}, format(t.dependant, {number: m.number, title: m.title, old_start: old.start, old_due: old.due, start: m.start, due: m.due})));
      });
      box.appendChild(ul);
    } else {
      box.appendChild(html("p", {}, t.alone));
    }
    var save = html("button", {type: "button", "class": "btn btn-primary btn-sm", id: "itpm-gantt-save"}, t.save);
    var cancel = html("button", {type: "button", "class": "btn btn-default btn-sm", id: "itpm-gantt-cancel"}, t.cancel);
    save.addEventListener("click", function () { save.disabled = true; self.save(); });
    cancel.addEventListener("click", function () { self.pending = null; self.notice.textContent = ""; self.draw(); });
    var bar = html("div", {"class": "btn-toolbar"});
    bar.appendChild(save); bar.appendChild(cancel);
    box.appendChild(bar);
    this.notice.textContent = "";
    this.notice.appendChild(box);
  };

  Gantt.prototype.save = function () {
    var self = this, p = this.pending, versions = {};
    this.data.tasks.forEach(function (task) { versions[task.id] = task.version; });
    return this.request("POST", this.url, {task: p.task, start: p.start, due: p.due, versions: versions}).then(function (r) {
      if (r.status === 200) {
        self.pending = null;
        self.take(r.data);
        self.say("success", format(self.t.saved, {count: p.moves.length}));
        return;
      }
      var box = self.say(r.status === 409 ? "warning" : "danger", (r.status === 409 ? self.t.conflict + " " : "") + (r.data.message || r.status));
      var again = html("button", {type: "button", "class": "btn btn-default btn-sm", id: "itpm-gantt-reload"}, self.t.reload);
      again.addEventListener("click", function () { self.pending = null; self.notice.textContent = ""; self.load(); });
      box.appendChild(again);
    });
  };

  Gantt.prototype.say = function (kind, message) {
    var box = html("div", {"class": "alert alert-" + kind + " itpm-gantt-message", role: kind === "success" ? "status" : "alert"});
    box.appendChild(html("p", {}, message));
    this.notice.textContent = "";
    this.notice.appendChild(box);
    return box;
  };

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("itpm-gantt");
    if (root) { window.itpmGantt = new Gantt(root); }
  });
})();
