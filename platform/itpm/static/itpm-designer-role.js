/* The role grid: record types by actions, each cell the rows the action applies to (own,
   assigned, team, department, client organisation, all), and per record type its field rules
   (hidden, read only). */
(function () {
  "use strict";
  var D = window.ItpmDesigner;
  if (!D) { return; }
  var ACTIONS = [["read", "Read", "查看"], ["create", "Create", "新建"], ["write", "Edit", "编辑"], ["delete", "Delete", "删除"],
    ["approve", "Approve", "审批"], ["export", "Export", "导出"], ["import", "Import", "导入"], ["report", "Report", "报表"]];
  var SCOPES = [["", "—"], ["own", "Own", "本人创建"], ["assigned", "Assigned", "分派给本人"], ["team", "Team", "本团队"],
    ["department", "Department", "本部门"], ["client", "Client organisation", "本客户组织"], ["all", "All", "全部"]];
  var open = {};

  function cell(rights, action, type) {
    var value = rights[action];
    var options = SCOPES.map(function (s) { return [s[0], s[0] ? D.t(s[1], s[2]) : s[1]]; });
    if (Array.isArray(value)) { options.push([value.join("+"), value.join(" + ")]); }
    return D.h("td", {}, [D.select("", options, Array.isArray(value) ? value.join("+") : value || "", function (v) {
      if (!v) { delete rights[action]; } else { rights[action] = v.indexOf("+") >= 0 ? v.split("+") : v; }
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
    var rows = [];
    Object.keys(D.context.record_types).forEach(function (type) {
      var rights = model.records[type] || {};
      var tr = D.h("tr", {dataset: {type: type}}, [D.h("th", {}, [D.t(D.context.record_types[type].title) || type])]
        .concat(ACTIONS.map(function (a) { return cell(rights, a[0], type); }))
        .concat([D.h("td", {}, [D.button(D.t("Fields", "字段") + (rights.fields ? " (" + Object.keys(rights.fields).length + ")" : ""), function () {
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
