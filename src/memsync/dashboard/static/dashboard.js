// mem-sync dashboard: draws the charts described by the page's JSON block and makes table
// rows clickable. No fetch(): every figure is in the page, so the same file works served
// by `mem-sync dashboard` and opened from file:// in the static build.
(function () {
  "use strict";
  var TYPE_COLORS = {decision: "#6366f1", bugfix: "#ef4444", feature: "#22c55e", discovery: "#f59e0b",
    refactor: "#8b5cf6", change: "#64748b", proposed: "#94a3b8", accepted: "#22c55e", rejected: "#ef4444",
    modified: "#818cf8"};
  var PALETTE = ["#6366f1", "#06b6d4", "#f59e0b", "#22c55e", "#ef4444", "#8b5cf6", "#ec4899", "#64748b"];

  function drawCharts() {
    var block = document.getElementById("chart-data");
    if (!block || !window.Chart) return;
    var specs;
    try { specs = JSON.parse(block.textContent || "[]"); } catch (e) { return; }
    window.Chart.defaults.color = "#94a3b8";
    window.Chart.defaults.borderColor = "rgba(255,255,255,.06)";
    window.Chart.defaults.animation = false;
    specs.forEach(function (spec) {
      var canvas = document.getElementById(spec.id);
      if (!canvas) return;
      var round = spec.type === "doughnut";
      var datasets = spec.datasets.map(function (ds, i) {
        var color = PALETTE[i % PALETTE.length];
        var out = {label: ds.label, data: ds.data, borderWidth: round ? 0 : 2};
        if (round) {
          out.backgroundColor = spec.labels.map(function (l, j) { return TYPE_COLORS[l] || PALETTE[j % PALETTE.length]; });
        } else {
          out.backgroundColor = spec.type === "line" ? color + "33" : color;
          out.borderColor = color;
          out.fill = spec.type === "line" && i === 0;
          out.tension = 0.3;
          out.borderRadius = spec.type === "bar" ? 4 : 0;
        }
        return out;
      });
      var options = {responsive: true, maintainAspectRatio: true,
        plugins: {legend: {display: round || spec.datasets.length > 1, position: round ? "right" : "top"}}};
      if (spec.horizontal) options.indexAxis = "y";
      canvas.setAttribute("data-drawn", "1");
      new window.Chart(canvas, {type: spec.type, data: {labels: spec.labels, datasets: datasets}, options: options});
    });
  }

  function clickableRows() {
    document.querySelectorAll("tr[data-href]").forEach(function (row) {
      row.addEventListener("click", function (event) {
        if (event.target.closest("a,button,form")) return;
        window.location.href = row.getAttribute("data-href");
      });
    });
  }

  drawCharts();
  clickableRows();
})();
