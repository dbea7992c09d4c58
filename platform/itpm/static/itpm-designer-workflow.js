/* The workflow designer: states and transitions on an AntV X6 canvas (drag from a state's port to
   another state to add a transition), each transition's roles, condition, required fields and
   approval chain (sequential steps; any, all or N of the approvers; approvers by role, by a
   person field, by name or the requester's manager; escalation; self-approval) in the side
   panel, and a lint of the workflow before it is published. Where a state is drawn is kept in the
   definition's `x-layout` (the engine ignores it) once the admin moves a state; until then the
   canvas lays the states out by their distance from the initial state. */
(function () {
  "use strict";
  var D = window.ItpmDesigner;
  if (!D) { return; }
  var CATEGORIES = [["open", "Open", "待处理"], ["in_progress", "In progress", "处理中"], ["waiting", "Waiting", "等待"],
    ["done", "Done", "完成"], ["cancelled", "Cancelled", "取消"]];
  var positions = {};  /* where each state is drawn: x-layout's, else laid out here */
  var band = 1e9;  /* the height of a band of columns, when the layout wraps */
  var selected = null;  /* {state: obj} or {transition: obj} */
  var warned = [];  /* the states and transitions the last check warned about (drawn in orange) */

  function states() { return D.model.states; }
  function roleOptions() { return Object.keys(D.context.roles).map(function (r) { return [r, D.t(D.context.roles[r].title) || r]; }); }
  function stateOptions() { return states().map(function (s) { return [s.name, D.t(s.title) || s.name]; }); }
  /* Fields naming people, here or on a record this one refers to (project.manager), and `current`;
     the assignee too for an approver (a state's waits_for is besides the assignee). */
  function peoplePaths(current, assignee) {
    var found = (assignee ? [["assignee", D.t("Assignee", "处理人")]] : []).concat([["owner", D.t("Owner", "负责人")]]);
    D.fieldsOf(D.model.record_type).forEach(function (f) {
      if (f.type === "person" || f.type === "people") { found.push([f.name, D.t(f.title) || f.name]); }
      if (f.type === "reference" && D.context.record_types[f.ref]) {
        D.fieldsOf(f.ref).forEach(function (g) {
          if (g.type === "person" || g.type === "people") {
            found.push([f.name + "." + g.name, (D.t(f.title) || f.name) + " → " + (D.t(g.title) || g.name)]);
          }
        });
      }
    });
    if (current && !found.some(function (o) { return o[0] === current; })) { found.push([current, current]); }
    return found;
  }

  /* The input of a value a transition sets, by the field's type (a number stays a number). */
  function setValueInput(sets, f) {
    var name = "sets-" + f.name;
    if (f.options) {
      return D.select("", f.options.map(function (o) { return [String(o.value), D.t(o.en || String(o.value), o.zh || String(o.value))]; }),
        String(sets[f.name]), function (v) { sets[f.name] = f.value_type === "integer" || f.value_type === "number" ? Number(v) : v; }, name);
    }
    if (f.type === "yes_no") { return D.check(D.t("yes", "是"), sets[f.name], function (on) { sets[f.name] = on; }, name); }
    var numeric = ["number", "whole_number", "money"].indexOf(f.type) >= 0;
    var holder = {v: sets[f.name]};
    return D.input("", holder, "v", {type: numeric ? "number" : "text", name: name, change: function (raw) {
      sets[f.name] = numeric ? Number(raw) : raw;
    }});
  }

  function setsBox(t) {
    var fields = D.fieldsOf(D.model.record_type).filter(function (f) { return f.type !== "json"; });
    var sets = t.sets || {};
    var rows = Object.keys(sets).map(function (name) {
      var f = fields.filter(function (x) { return x.name === name; })[0];
      return D.h("div", {className: "itpm-d-row", dataset: {sets: name}}, [
        D.h("span", {}, [f ? D.t(f.title) || name : name, " ="]),
        f ? setValueInput(sets, f) : D.h("code", {}, [JSON.stringify(sets[name])]),
        D.button("", function () { delete sets[name]; if (!Object.keys(sets).length) { delete t.sets; } D.rerender(); }, "btn-link", "fa-trash")
      ]);
    });
    var free = fields.filter(function (f) { return !(f.name in sets); });
    return D.h("div", {id: "itpm-d-sets"}, [D.h("strong", {}, [D.t("It sets", "执行时设置")])].concat(rows).concat([
      D.select("", [["", D.t("Add a field it sets…", "添加要设置的字段…")]].concat(free.map(function (f) { return [f.name, D.t(f.title) || f.name]; })), "",
        function (v) {
          if (!v) { return; }
          var f = fields.filter(function (x) { return x.name === v; })[0];
          t.sets = sets;
          sets[v] = f.options && f.options.length ? f.options[0].value : f.type === "yes_no" ? true
            : ["number", "whole_number", "money"].indexOf(f.type) >= 0 ? 0 : "";
          D.rerender();
        }, "sets-add")
    ]));
  }

  /* A state's title too long for its box on two lines, broken at the space nearest its middle (or, with
     none, as Chinese is, at its middle). */
  function twoLines(title) {
    var wide = /[\u3000-\u9fff]/.test(title);
    if (title.length <= (wide ? 9 : 18)) { return title; }
    var middle = Math.floor(title.length / 2), at = -1;
    for (var i = 0; i < title.length; i++) { if (title[i] === " " && (at < 0 || Math.abs(i - middle) < Math.abs(at - middle))) { at = i; } }
    return at < 0 ? title.slice(0, middle) + "\n" + title.slice(middle) : title.slice(0, at) + "\n" + title.slice(at + 1);
  }

  function unique(base, taken) { var name = base, n = 2; while (taken.indexOf(name) >= 0) { name = base + "_" + n++; } return name; }

  /* Where states not yet placed (no x-layout) go: by their distance from the initial state, one
     column per step, wrapping to a new band below when the columns pass the canvas's width. */
  function layout(width) {
    var saved = D.model["x-layout"] || {};
    positions = {};
    Object.keys(saved).forEach(function (name) { positions[name] = {x: saved[name].x, y: saved[name].y}; });
    var depth = {}, queue = [D.model.initial];
    depth[D.model.initial] = 0;
    while (queue.length) {
      var s = queue.shift();
      (D.model.transitions || []).forEach(function (t) {
        if ((t.from || []).indexOf(s) >= 0 && depth[t.to] === undefined) { depth[t.to] = depth[s] + 1; queue.push(t.to); }
      });
    }
    var rows = {}, deepest = 0, tallest = 1;
    Object.keys(depth).forEach(function (k) { deepest = Math.max(deepest, depth[k]); });
    var column = function (s) { return depth[s.name] === undefined ? deepest + 1 : depth[s.name]; };
    states().forEach(function (s) { var d = column(s); rows[d] = (rows[d] || 0) + 1; tallest = Math.max(tallest, rows[d]); });
    var across = Math.max(2, Math.floor(((width || 900) - 170) / 300) + 1);  /* 140 wide, 300 apart: room for a label */
    rows = {};
    band = tallest * 110 + 50;
    states().forEach(function (s) {
      if (positions[s.name]) { return; }
      var d = column(s);
      rows[d] = (rows[d] || 0) + 1;
      positions[s.name] = {x: 30 + (d % across) * 300, y: 30 + Math.floor(d / across) * band + (rows[d] - 1) * 110};
    });
  }

  function canvas(box) {
    if (D.graph) { D.graph.dispose(); }
    box.innerHTML = "";
    layout(box.clientWidth);
    var graph = new window.X6.Graph({
      container: box, grid: 10, background: {color: "#fbfcfd"}, panning: true, mousewheel: {enabled: true, modifiers: ["ctrl"]},
      connecting: {allowBlank: false, allowLoop: false, allowMulti: true, snap: true, highlight: true,
        createEdge: function () { return this.createEdge({attrs: {line: {stroke: "#337ab7", strokeWidth: 2}}}); }}
    });
    var port = {r: 6, magnet: true, stroke: "#337ab7", fill: "#fff", strokeWidth: 1};
    states().forEach(function (s) {
      var final = s.category === "done" || s.category === "cancelled";
      graph.addNode({id: "s:" + s.name, zIndex: 2, x: positions[s.name].x, y: positions[s.name].y, width: 140, height: 46,
        label: twoLines(D.t(s.title) || s.name), data: {state: s.name},
        attrs: {body: {rx: 8, ry: 8, fill: s.name === D.model.initial ? "#e8f1fb" : final ? "#eef7ee" : "#fff",
          stroke: selected && selected.state === s ? "#d9534f" : warned.indexOf(s) >= 0 ? "#ec971f" : "#5b7083",
          strokeWidth: warned.indexOf(s) >= 0 ? 3 : final ? 3 : 1.5, strokeDasharray: warned.indexOf(s) >= 0 ? "6 3" : ""}, label: {fontSize: 13}},
        ports: {groups: {out: {position: "right", attrs: {circle: port}}}, items: [{id: "out", group: "out"}]}});
    });
    (D.model.transitions || []).forEach(function (t) {
      (t.from || []).forEach(function (from) {
        if (!positions[from] || !positions[t.to]) { return; }
        var back = positions[t.to].x < positions[from].x && positions[t.to].y - positions[from].y >= band - 60;  /* to a band below: around the states */
        /* A way back between the same two states (wait / resume): each drawn beside the other, not on it. */
        var shift = {};
        if (from !== t.to && D.model.transitions.some(function (x) { return x.to === from && (x.from || []).indexOf(t.to) >= 0; })) {
          var across = Math.abs(positions[t.to].x - positions[from].x) >= Math.abs(positions[t.to].y - positions[from].y);
          var side = from < t.to ? -1 : 1;
          shift = across ? {dy: 11 * side} : {dx: 11 * side};
        }
        var anchor = shift.dx || shift.dy ? {name: "center", args: shift} : undefined;
        graph.addEdge({source: {cell: "s:" + from, anchor: anchor}, target: {cell: "s:" + t.to, anchor: anchor}, data: {transition: t.name}, zIndex: 0,  /* under the states: their ports stay reachable */
          router: back ? {name: "manhattan", args: {padding: 16, startDirections: ["bottom"], endDirections: ["top"]}} : undefined,
          labels: [{attrs: {label: {text: (D.t(t.title) || t.name) + (t.approval ? " ✔" : "")}},
            /* a way back drawn beside its pair; one going left nearer its start, so labels of crossing ways part */
            position: anchor ? {distance: 0.5, offset: (shift.dy || shift.dx) > 0 ? 12 : -12}
              : positions[t.to].x < positions[from].x && !back ? {distance: 0.3} : undefined}],
          attrs: {line: {stroke: selected && selected.transition === t ? "#d9534f" : warned.indexOf(t) >= 0 ? "#ec971f" : "#8396a8",
            strokeWidth: t.approval || warned.indexOf(t) >= 0 ? 2.5 : 1.5, strokeDasharray: warned.indexOf(t) >= 0 ? "6 3" : ""}}});
      });
    });
    graph.on("node:moved", function (e) {  /* one state moved: every state's place is kept, so none jumps later */
      positions[e.node.getData().state] = e.node.getPosition();
      var kept = D.model["x-layout"] = {};
      states().forEach(function (s) {
        if (positions[s.name]) { kept[s.name] = {x: Math.round(positions[s.name].x), y: Math.round(positions[s.name].y)}; }
      });
    });
    graph.on("node:click", function (e) {
      selected = {state: states().filter(function (s) { return s.name === e.node.getData().state; })[0]};
      D.rerender();
    });
    graph.on("edge:click", function (e) {
      var data = e.edge.getData() || {};
      selected = {transition: D.model.transitions.filter(function (t) { return t.name === data.transition; })[0]};
      if (selected.transition) { D.rerender(); }
    });
    graph.on("edge:connected", function (e) {
      if (!e.isNew) { return; }
      var from = e.edge.getSourceCellId().slice(2), to = e.edge.getTargetCellId().slice(2);
      var target = states().filter(function (s) { return s.name === to; })[0];
      var t = {name: unique("to_" + to, D.model.transitions.map(function (x) { return x.name; })),
        title: {en: "To " + ((target.title || {}).en || to), zh: "转到" + ((target.title || {}).zh || to)},
        from: [from], to: to, roles: ["admin"]};
      D.model.transitions.push(t);
      selected = {transition: t};
      setTimeout(D.rerender, 0);
    });
    D.graph = graph;
  }

  /* A state's new name, also where transitions, the start and rejections name it. */
  function renameState(s, name) {
    var old = s.name;
    s.name = name;
    var layout = D.model["x-layout"];
    if (layout && layout[old]) { layout[name] = layout[old]; delete layout[old]; }
    if (D.model.initial === old) { D.model.initial = name; }
    D.model.transitions.forEach(function (t) {
      t.from = (t.from || []).map(function (f) { return f === old ? name : f; });
      if (t.to === old) { t.to = name; }
      if (t.approval && t.approval.rejected_to === old) { t.approval.rejected_to = name; }
    });
  }

  function statePanel(s) {
    return D.h("div", {id: "itpm-d-state-panel"}, [
      D.h("h4", {}, [D.t("State", "状态"), " ", D.h("code", {}, [s.name])]),
      D.input(D.t("Name", "名称"), {v: s.name}, "v", {name: "state-name", change: function (raw) {
        if (/^[a-z][a-z0-9_]{0,39}$/.test(raw) && !states().some(function (x) { return x !== s && x.name === raw; })) { renameState(s, raw); }
      }}),
      D.titleInputs(s, "title"),
      D.select(D.t("Meaning", "含义"), CATEGORIES.map(function (c) { return [c[0], D.t(c[1], c[2])]; }), s.category,
        function (v) { s.category = v; D.rerender(); }, "category"),
      D.select(D.t("Whose move it is here, besides the assignee", "在此状态下,除处理人外还在等谁"),
        [["", D.t("(nobody else)", "(无其他人)")]].concat(peoplePaths(s.waits_for ? s.waits_for.field : "")),
        s.waits_for ? s.waits_for.field : "", function (v) { if (v) { s.waits_for = {field: v}; } else { delete s.waits_for; } }, "waits-for"),
      D.button(D.t("Delete state", "删除状态"), function () {
        D.model.states = states().filter(function (x) { return x !== s; });
        if (D.model["x-layout"]) { delete D.model["x-layout"][s.name]; }
        D.model.transitions = D.model.transitions.filter(function (t) {
          t.from = (t.from || []).filter(function (f) { return f !== s.name; });
          return t.to !== s.name && t.from.length;
        });
        selected = null; D.rerender();
      }, "btn-link", "fa-trash")
    ]);
  }

  function approversInput(step) {
    var a = step.approvers = step.approvers || {role: Object.keys(D.context.roles)[0]};
    var by = a.role !== undefined ? "role" : a.field !== undefined ? "field" : a.users !== undefined ? "users" : "requester_manager";
    var value = null;
    if (by === "role") { value = D.select("", roleOptions(), a.role, function (v) { a.role = v; }, "approver-role"); }
    if (by === "field") { value = D.select("", peoplePaths(a.field, true), a.field, function (v) { a.field = v; }, "approver-field"); }
    if (by === "users") {
      value = D.input(D.t("User names (comma separated)", "用户名(逗号分隔)"), {v: (a.users || []).join(",")}, "v", {name: "approver-users",
        change: function (raw) { a.users = raw.split(",").map(function (x) { return x.trim(); }).filter(Boolean); }});
    }
    return D.h("div", {className: "itpm-d-row"}, [
      D.select(D.t("Approvers", "审批人"), [["role", D.t("People with a role", "某角色的人")], ["field", D.t("The person in a field", "字段中的人")],
        ["users", D.t("Named people", "指定的人")], ["requester_manager", D.t("The requester's manager", "申请人的上级")]], by, function (v) {
        step.approvers = v === "role" ? {role: Object.keys(D.context.roles)[0]} : v === "field" ? {field: peoplePaths("", true)[0][0]}
          : v === "users" ? {users: []} : {requester_manager: true};
        D.rerender();
      }, "approvers-by"), value]);
  }

  function stepBox(t, step, index) {
    var steps = t.approval.steps;
    var decide = step.decide === undefined ? "any" : typeof step.decide === "object" ? "quorum" : step.decide;
    var self = step.self_approval === undefined ? "" : typeof step.self_approval === "object" ? "role" : step.self_approval;
    step.title = step.title || {};
    return D.h("div", {className: "itpm-d-step", dataset: {step: String(index)}}, [
      D.h("div", {className: "itpm-d-row"}, [D.h("strong", {}, [D.t("Step", "步骤") + " " + (index + 1)]),
        D.input(D.t("Name", "名称"), step, "name", {name: "step-name"}),
        index ? D.button("", function () { steps.splice(index - 1, 0, steps.splice(index, 1)[0]); D.rerender(); }, "btn-link", "fa-arrow-up") : null,
        D.button("", function () { steps.splice(index, 1); if (!steps.length) { delete t.approval; } D.rerender(); }, "btn-link", "fa-trash")]),
      D.titleInputs(step, "title"),
      approversInput(step),
      D.h("div", {className: "itpm-d-row"}, [
        D.select(D.t("Decided by", "决定方式"), [["any", D.t("Any one of them", "任一人")], ["all", D.t("All of them", "全部")],
          ["quorum", D.t("N of them", "其中 N 人")]], decide, function (v) {
          if (v === "any") { delete step.decide; } else if (v === "all") { step.decide = "all"; } else { step.decide = {quorum: 2}; }
          D.rerender();
        }, "decide"),
        decide === "quorum" ? D.input("N", step.decide, "quorum", {type: "number", name: "quorum"}) : null,
        D.select(D.t("If the requester is the only approver", "申请人即唯一审批人时"), [["", D.t("refuse, naming the step", "拒绝并指明步骤")],
          ["skip", D.t("skip the step", "跳过此步骤")], ["manager", D.t("ask their manager", "交其上级")], ["role", D.t("ask a role", "交某角色")]],
          self, function (v) {
            if (!v) { delete step.self_approval; } else { step.self_approval = v === "role" ? {role: Object.keys(D.context.roles)[0]} : v; }
            D.rerender();
          }, "self-approval"),
        self === "role" ? D.select("", roleOptions(), step.self_approval.role, function (v) { step.self_approval.role = v; }, "self-approval-role") : null,
        D.check(D.t("Requester may approve", "申请人可自批"), step.allow_self, function (on) { if (on) { step.allow_self = true; } else { delete step.allow_self; } }, "allow-self")
      ]),
      D.h("div", {className: "itpm-d-row"}, [
        D.input(D.t("Escalate after (business hours)", "超时升级(工作小时)"), {v: step.escalate ? step.escalate.after_hours : ""}, "v", {type: "number", name: "escalate-hours",
          change: function (raw) {
            if (!raw) { delete step.escalate; return; }
            step.escalate = {after_hours: Number(raw), to_role: step.escalate ? step.escalate.to_role : Object.keys(D.context.roles)[0]};
          }}),
        D.select(D.t("to the role", "升级给角色"), roleOptions(), step.escalate ? step.escalate.to_role : "", function (v) {
          if (step.escalate) { step.escalate.to_role = v; }
        }, "escalate-role")
      ]),
      D.conditionBuilder(step, "when", D.model.record_type, D.t("This step only when", "仅在以下条件时需要此步骤"))
    ]);
  }

  function transitionPanel(t) {
    var approval = t.approval;
    var fields = D.fieldsOf(D.model.record_type);
    return D.h("div", {id: "itpm-d-transition-panel"}, [
      D.h("h4", {}, [D.t("Transition", "转换"), " ", D.h("code", {}, [t.name])]),
      D.input(D.t("Name", "名称"), t, "name", {name: "transition-name"}),
      D.titleInputs(t, "title"),
      D.h("div", {}, [D.h("strong", {}, [D.t("From", "从")]), " "].concat(states().map(function (s) {
        return D.check(D.t(s.title) || s.name, (t.from || []).indexOf(s.name) >= 0, function (on) {
          t.from = (t.from || []).filter(function (f) { return f !== s.name; });
          if (on) { t.from.push(s.name); }
        }, "from-" + s.name);
      }))),
      D.select(D.t("To", "到"), stateOptions(), t.to, function (v) { t.to = v; D.rerender(); }, "to"),
      D.h("div", {}, [D.h("strong", {}, [D.t("Who may take it", "谁可执行")]), " "].concat(Object.keys(D.context.roles).map(function (r) {
        return D.check(D.t(D.context.roles[r].title) || r, (t.roles || []).indexOf(r) >= 0, function (on) {
          t.roles = (t.roles || []).filter(function (x) { return x !== r; });
          if (on) { t.roles.push(r); }
        }, "role-" + r);
      }))),
      D.h("div", {}, [D.h("strong", {}, [D.t("Fields to fill", "需填写字段")]), " "].concat(fields.map(function (f) {
        return D.check(D.t(f.title) || f.name, (t.requires || []).indexOf(f.name) >= 0, function (on) {
          t.requires = (t.requires || []).filter(function (x) { return x !== f.name; });
          if (on) { t.requires.push(f.name); }
          if (!t.requires.length) { delete t.requires; }
        }, "requires-" + f.name);
      }))),
      setsBox(t),
      t.when && t.when.expression !== undefined
        ? D.input(D.t("Only when (expression)", "仅当(表达式)"), t.when, "expression", {name: "expression"})
        : D.conditionBuilder(t, "when", D.model.record_type, D.t("Only when", "仅当")),
      D.h("h5", {}, [D.t("Approval chain", "审批链")]),
      approval ? D.select(D.t("A rejection sends it back to", "驳回后回到"), [["", D.t("(stays where it was)", "(保持原状态)")]].concat(stateOptions()),
        approval.rejected_to || "", function (v) { if (v) { approval.rejected_to = v; } else { delete approval.rejected_to; } }, "rejected-to") : null,
      D.h("div", {id: "itpm-d-steps"}, approval ? approval.steps.map(function (step, i) { return stepBox(t, step, i); }) : []),
      D.button(D.t("Add approval step", "添加审批步骤"), function () {
        t.approval = t.approval || {steps: []};
        var n = t.approval.steps.length + 1;
        t.approval.steps.push({name: "step_" + n, title: {en: "Step " + n, zh: "第" + n + "步"}, approvers: {role: Object.keys(D.context.roles)[0]}});
        D.rerender();
      }, "btn-default itpm-d-add-step", "fa-plus"),
      D.h("div", {}, [D.button(D.t("Delete transition", "删除转换"), function () {
        D.model.transitions = D.model.transitions.filter(function (x) { return x !== t; });
        selected = null; D.rerender();
      }, "btn-link", "fa-trash")])
    ]);
  }

  D.render = function (pane) {
    var model = D.model;
    model.transitions = model.transitions || [];
    var box = D.h("div", {className: "itpm-d-canvas", id: "itpm-d-canvas"});
    var panel = D.h("div", {className: "itpm-d-panel"}, [
      selected && selected.trial ? D.trialPanel()
        : selected && selected.state ? statePanel(selected.state) : selected && selected.transition ? transitionPanel(selected.transition)
        : D.h("p", {className: "help-block"}, [D.t("Click a state or a transition to edit it. Drag from a state's dot to another state to add a transition.",
          "点击状态或转换进行编辑。从状态右侧的圆点拖到另一个状态即可添加转换。")])
    ]);
    pane.appendChild(D.h("div", {className: "itpm-d-row"}, [
      D.titleInputs(model, "title"),
      D.select(D.t("Starts in", "初始状态"), stateOptions(), model.initial, function (v) { model.initial = v; D.rerender(); }, "initial"),
      D.button(D.t("Add state", "添加状态"), function () {
        var name = unique("state", states().map(function (s) { return s.name; }));
        var s = {name: name, title: {en: "New state", zh: "新状态"}, category: "in_progress"};
        model.states.push(s);
        selected = {state: s};
        D.rerender();
      }, "btn-default", "fa-plus"),
      D.button(D.t("Test as a role", "以角色试运行"), function () { selected = {trial: true}; D.rerender(); }, "btn-default itpm-d-trial-open", "fa-user-check"),
      D.button(D.t("Check before publishing", "发布前检查"), function () {
        D.post(document.getElementById("itpm-designer").getAttribute("data-lint-url"), {model: model}).then(function (answer) {
          D.showProblems(answer.problems, answer.warnings, D.t("No problems found.", "未发现问题。"));
          warned = (answer.problems || []).concat(answer.warnings || []).map(function (p) {
            var at = /^\/(states|transitions)\/(\d+)/.exec(p.path || "");
            return at ? (at[1] === "states" ? model.states : model.transitions)[Number(at[2])] : null;
          }).filter(Boolean);
          canvas(box);
        });
      }, "btn-info", "fa-stethoscope")
    ]));
    pane.appendChild(D.h("div", {className: "itpm-d-form"}, [box, panel]));
    /* Names and titles typed, roles ticked: the canvas is drawn again, after typing pauses (a text
       input's change comes on blur, which may be the press that starts a drag on the canvas). */
    var timer = null;
    function later() { clearTimeout(timer); timer = setTimeout(function () { if (box.isConnected) { canvas(box); } }, 300); }
    panel.addEventListener("input", later);
    panel.addEventListener("change", function (e) { if (e.target.tagName !== "INPUT" || e.target.type === "checkbox") { later(); } });
    canvas(box);
  };
})();
