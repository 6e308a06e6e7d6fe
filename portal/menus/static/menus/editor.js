// The menu editor: the outside-number field shows only when "Внешний номер…" is chosen.
(function () {
  "use strict";
  function sync(select) {
    var input = select.parentNode.querySelector("input[name='" + select.name + "_number']");
    if (input) { input.hidden = select.value !== "number"; }
  }
  document.querySelectorAll("select[data-target-select]").forEach(function (select) {
    sync(select);
    select.addEventListener("change", function () { sync(select); });
  });
})();
