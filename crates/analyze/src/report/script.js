(function () {
  "use strict";
  // Sortable tables: click a header; cells sort by their data-v value (numeric when it parses).
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, col) {
      th.addEventListener("click", function () {
        var desc = !th.classList.contains("desc");
        heads.forEach(function (h) { h.classList.remove("asc", "desc"); });
        th.classList.add(desc ? "desc" : "asc");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var key = function (row) {
          var cell = row.cells[col];
          var v = cell ? (cell.getAttribute("data-v") || cell.textContent) : "";
          var n = parseFloat(v);
          return isNaN(n) ? v.toLowerCase() : n;
        };
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          var c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
          return desc ? -c : c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  // Finding filters by severity.
  var buttons = document.querySelectorAll(".filters button");
  buttons.forEach(function (b) {
    b.addEventListener("click", function () {
      buttons.forEach(function (o) { o.classList.remove("on"); });
      b.classList.add("on");
      var min = b.getAttribute("data-min");
      var rank = { info: 0, warn: 1, crit: 2 };
      document.querySelectorAll(".finding").forEach(function (f) {
        var sev = f.getAttribute("data-sev");
        f.style.display = rank[sev] >= rank[min] ? "" : "none";
      });
    });
  });
})();
