// "Статистика": draw every chart of the page with Plotly (served by the portal itself, never
// from a CDN). The numbers come from the page (#chart-data), the same ones the table beside
// each chart shows; without JavaScript the tables are the statistics.
(function () {
  "use strict";

  var source = document.getElementById("chart-data");
  if (!source || !window.Plotly) return;
  var specs = JSON.parse(source.textContent);
  var config = { displaylogo: false, displayModeBar: false, responsive: true };
  var drawn = 0;

  specs.forEach(function (spec) {
    var el = document.getElementById("chart-" + spec.id);
    if (!el) return;
    var traces = spec.series.map(function (s) {
      return { type: "bar", name: s.name, x: spec.x, y: s.values, meta: s.key };
    });
    var layout = {
      barmode: spec.stacked ? "stack" : "group",
      height: 300,
      margin: { l: 48, r: 8, t: 8, b: 64 },
      xaxis: { type: "category", automargin: true },
      yaxis: { title: { text: spec.unit }, rangemode: "tozero", automargin: true },
      legend: { orientation: "h", y: -0.25 },
      paper_bgcolor: "rgba(0,0,0,0)",
      font: { family: "system-ui, sans-serif" }
    };
    window.Plotly.newPlot(el, traces, layout, config).then(function () {
      el.setAttribute("data-drawn", "yes");
      drawn += 1;
      document.documentElement.setAttribute("data-charts-drawn", String(drawn));
    });
  });
})();
