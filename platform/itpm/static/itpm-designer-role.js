/* The role grid: record types (and * for every other type) by actions, each cell the rows the
   action applies to (own, assigned, team, department, client organisation, with its child
   organisations, all, or several of them), per record type its field rules (hidden, read only);
   and the role's abilities over the whole system. */
(function () {
  "use strict";
  var D = window.ItpmDesigner;
  if (!D) { return; }
  var ACTIONS = [["read", "Read", "查看"], ["create", "Create", "新建"], ["write", "Edit", "编辑"], ["delete", "Delete", "删除"],
    ["approve", "Approve", "审批"], ["export", "Export", "导出"], ["import", "Import", "导入"], ["report", "Report", "报表"]];
  var SCOPES = [["", "—"], ["own", "Own", "本人创建"], ["assigned", "Assigned", "分派给本人"], ["team", "Team", "本团队"],
    ["department", "Department", "本部门"], ["client", "Client organisation", "本客户组织"],
    ["client_tree", "Client organisation and its child organisations", "本客户组织及下属单位"], ["all", "All", "全部"]];
  var ABILITIES = [["manage_definitions", "Manage definitions (and use the designers)", "管理定义(及使用设计器)"],
    ["manage_users", "Manage users", "管理用户"], ["read_audit", "Read the audit log", "查看审计日志"],
    ["manage_personal_data", "Manage personal data requests", "处理个人数据请求"], ["administer_jobs", "Administer jobs", "管理后台任务"],
    ["manage_department", "Manage their department", "管理本部门"], ["view_portal", "Open the client portal", "进入客户门户"]];
  var open = {};

  function abilities(model) {
    var held = model.abilities || [];
    return D.h("div", {className: "itpm-d-checks", id: "itpm-d-abilities"}, [D.h("strong", {}, [D.t("Abilities", "系统权限")]), " "]
      .concat(ABILITIES.map(function (a) {
        return D.check(D.t(a[1], a[2]), held.indexOf(a[0]) >= 0, function (on) {
          var kept = (model.abilities || []).filter(function (x) { return x !== a[0]; });
          if (on) { kept.push(a[0]); }
          kept.sort(function (x, y) { return ABILITIES.map(function (b) { return b[0]; }).indexOf(x) - ABILITIES.map(function (b) { return b[0]; }).indexOf(y); });
          if (kept.length) { model.abilities = kept; } else { delete model.abilities; }
        }, "ability-" + a[0]);
      })));
  }

  function attach(type, rights) {  /* a record type's rights are in the role while they say anything */
    if (Object.keys(rights).length) { D.model.records[type] = rights; } else { delete D.model.records[type]; }
  }

  /* A cell of several scopes: a box per scope (one left: a plain scope again; none: no right). */
  function severalCell(rights, action, type) {
    var value = rights[action];
    return D.h("td", {className: "itpm-d-several"}, SCOPES.slice(1).map(function (s) {
      return D.check(D.t(s[1], s[2]), value.indexOf(s[0]) >= 0, function (on) {
        var kept = (Array.isArray(rights[action]) ? rights[action] : [rights[action]]).filter(function (x) { return x && x !== s[0]; });
        if (on) { kept.push(s[0]); }
        kept = SCOPES.map(function (x) { return x[0]; }).filter(function (x) { return kept.indexOf(x) >= 0; });
        if (kept.length > 1) { rights[action] = kept; } else if (kept.length) { rights[action] = kept[0]; } else { delete rights[action]; }
        attach(type, rights);
        if (!Array.isArray(rights[action])) { D.rerender(); }
      }, "cell-" + type + "-" + action + "-" + s[0]);
    }));
  }

  function cell(rights, action, type) {
    var value = rights[action];
    if (Array.isArray(value)) { return severalCell(rights, action, type); }
    var options = SCOPES.map(function (s) { return [s[0], s[0] ? D.t(s[1], s[2]) : s[1]]; })
      .concat([["+", D.t("several…", "多项…")]]);
    return D.h("td", {}, [D.select("", options, value || "", function (v) {
      if (v === "+") { rights[action] = value ? [value] : []; attach(type, rights); D.rerender(); return; }
      if (!v) { delete rights[action]; } else { rights[action] = v; }
    }, "cell-" + type + "-" + action)]);
  }

  function fieldRules(rights, type) {
    var fields = D.fieldsOf(type);
    return D.h("tr", {className: "itpm-d-field-rules"}, [D.h("td", {colSpan: ACTIONS.length + 2}, [D.h("div", {className: "itpm-d-row"},
      fields.map(function (f) {
        var rule = (rights.fields || {})[f.name] || "";
        return D.select(D.t(f.title) || f.name, [["", D.t("visible", "可见")], ["read_only", D.t("read only", "只读")], ["hidden", D.t("hidden", "隐藏")]],
          rule, function (v) {
            rights.fields = rights.fields || {};
            if (v) { rights.fields[f.name] = v; } else { delete rights.fields[f.name]; }
            if (!Object.keys(rights.fields).length) { delete rights.fields; }
          }, "rule-" + type + "-" + f.name);
      }))])]);
  }

  D.render = function (pane) {
    var model = D.model;
    model.records = model.records || {};
    pane.appendChild(D.titleInputs(model, "title"));
    pane.appendChild(abilities(model));
    var rows = [];
    ["*"].concat(Object.keys(D.context.record_types)).forEach(function (type) {
      var rights = model.records[type] || {};
      var title = type === "*" ? D.t("Every type not named below (*)", "下方未列出的所有类型(*)") : D.t(D.context.record_types[type].title) || type;
      var tr = D.h("tr", {dataset: {type: type}}, [D.h("th", {}, [title])]
        .concat(ACTIONS.map(function (a) { return cell(rights, a[0], type); }))
        .concat([D.h("td", {}, [type === "*" ? null : D.button(D.t("Fields", "字段") + (rights.fields ? " (" + Object.keys(rights.fields).length + ")" : ""), function () {
          open[type] = !open[type]; D.rerender();
        }, "btn-default btn-xs itpm-d-fields-" + type)])]));
      tr.addEventListener("change", function () {
        if (Object.keys(rights).length) { model.records[type] = rights; } else { delete model.records[type]; }
      });
      rows.push(tr);
      if (open[type]) {
        var rules = fieldRules(rights, type);
        rules.addEventListener("change", function () { if (Object.keys(rights).length) { model.records[type] = rights; } });
        rows.push(rules);
      }
    });
    pane.appendChild(D.h("table", {className: "table table-condensed table-bordered itpm-d-grid-table", id: "itpm-d-role-grid"}, [
      D.h("thead", {}, [D.h("tr", {}, [D.h("th", {}, [D.t("Record type", "记录类型")])].concat(ACTIONS.map(function (a) {
        return D.h("th", {}, [D.t(a[1], a[2])]);
      })).concat([D.h("th", {}, [D.t("Field rules", "字段规则")])]))]),
      D.h("tbody", {}, rows)
    ]));
  };
})();
