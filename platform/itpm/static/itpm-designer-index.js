/* The designers' index: "New" opens the designer of a new definition of that kind by its name. */
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("form.itpm-designer-new"), function (form) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var name = form.querySelector("input[name=name]").value;
      var type = form.querySelector("select[name=record_type]");
      window.location.href = form.getAttribute("action") + form.getAttribute("data-kind") + "/" + encodeURIComponent(name) +
        "?new=1" + (type ? "&record_type=" + encodeURIComponent(type.value) : "");
    });
  });
})();
