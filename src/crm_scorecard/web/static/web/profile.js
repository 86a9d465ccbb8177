/* Customers › Profile: a heat map of two dimensions or sorted bars of one (Apache ECharts),
   drawn from the json_script block "profile-data" (web/views/profile.py). Dimension values
   are people's text: they are drawn on the canvas as text, and every tooltip is a DOM
   element filled with textContent, never an HTML string (the Content-Security-Policy
   refuses inline styles, and ECharts would set an HTML string as innerHTML). */
(function () {
  "use strict";

  function tip(title, lines) {
    var box = document.createElement("div");
    box.className = "chart-tip";
    var head = document.createElement("strong");
    head.textContent = String(title);
    box.appendChild(head);
    lines.forEach(function (text) {
      var row = document.createElement("div");
      row.textContent = String(text);
      box.appendChild(row);
    });
    return box;
  }

  function beside(point, params, dom, rect, size) {
    var x = Math.min(point[0] + 14, size.viewSize[0] - size.contentSize[0]);
    var y = Math.min(point[1] + 14, size.viewSize[1] - size.contentSize[1]);
    return [Math.max(0, x), Math.max(0, y)];
  }

  function short(text, width) {
    text = String(text);
    return text.length > width ? text.slice(0, width - 1) + "\u2026" : text;
  }

  function heatmap(el, d) {
    var chart = echarts.init(el);
    var scale = function (v) {
      if (d.unit === "percent") { return Math.round(v * 100) + "%"; }
      return (d.unit === "currency" ? d.currency : "") + Math.round(v).toLocaleString("en-US");
    };
    var values = d.cells.map(function (c) { return c[2]; });
    var low = Math.min.apply(null, values), high = Math.max.apply(null, values);
    if (low === high) { low = Math.min(0, low); }
    var labelled = d.rows.length * d.columns.length <= 200;
    chart.setOption({
      animation: false,
      grid: {left: 150, right: 24, top: 36, bottom: 110},
      tooltip: {position: beside, formatter: function (p) {
        if (p.seriesIndex === 1) {
          return tip(d.rows[p.data[1]] + " \u00d7 " + d.columns[p.data[0]], ["no data (no customers)"]);
        }
        return tip(d.rows[p.data[1]] + " \u00d7 " + d.columns[p.data[0]], [d.title + ": " + p.data[3]]);
      }},
      xAxis: {type: "category", data: d.columns, name: d.columnsName, nameLocation: "middle", nameGap: 70,
        splitArea: {show: true}, axisLabel: {interval: 0, rotate: d.columns.length > 6 ? 30 : 0,
          formatter: function (v) { return short(v, 16); }}},
      yAxis: {type: "category", data: d.rows, name: d.rowsName, nameLocation: "start", inverse: true,
        splitArea: {show: true}, axisLabel: {interval: 0, formatter: function (v) { return short(v, 20); }}},
      visualMap: {min: low, max: high, calculable: false, orient: "horizontal", left: "center", bottom: 0,
        text: [scale(high), scale(low)],
        // The value is the third item of a cell ([column, row, value, label]); by default
        // ECharts would read the last one, the label.
        seriesIndex: 0, dimension: 2, inRange: {color: ["#eff6ff", "#93c5fd", "#2456d6", "#1e3a8a"]},
        formatter: scale},
      series: [
        {type: "heatmap", data: d.cells, label: {show: labelled, formatter: function (p) { return p.data[3]; }, fontSize: 11},
          itemStyle: {borderColor: "#fff", borderWidth: 1}},
        // Combinations without customers: hatched grey, never a colour of the scale.
        {type: "heatmap", data: d.empty, label: {show: labelled, formatter: "no data", color: "#6b7280", fontSize: 10},
          itemStyle: {color: "#f3f4f6", borderColor: "#fff", borderWidth: 1}}
      ]
    });
    return chart;
  }

  function bars(el, d) {
    var chart = echarts.init(el);
    chart.setOption({
      animation: false,
      grid: {left: 170, right: 90, top: 10, bottom: 30},
      tooltip: {position: beside, formatter: function (p) {
        return tip(d.labels[p.dataIndex], [d.title + ": " + d.valueLabels[p.dataIndex]]);
      }},
      xAxis: {type: "value", axisLabel: {formatter: function (v) {
        if (d.unit === "percent") { return Math.round(v * 100) + "%"; }
        return Math.abs(v) >= 1e6 ? (v / 1e6).toLocaleString("en-US") + "M" : Math.abs(v) >= 1e4 ? (v / 1e3).toLocaleString("en-US") + "k" : v.toLocaleString("en-US");
      }}},
      yAxis: {type: "category", data: d.labels, inverse: true, name: d.name, nameLocation: "start",
        axisLabel: {interval: 0, formatter: function (v) { return short(v, 24); }}},
      series: [{type: "bar", data: d.values, itemStyle: {color: "#2456d6"},
        label: {show: true, position: "right", formatter: function (p) { return d.valueLabels[p.dataIndex]; }}}]
    });
    return chart;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("profile-chart");
    if (!el || !window.echarts) { return; }
    var d = JSON.parse(document.getElementById("profile-data").textContent);
    if (d.kind === "bar") {
      // One bar per value: the chart grows with them, so labels never overlap.
      el.classList.add("bars-" + Math.min(25, Math.max(1, d.labels.length)));
    }
    var chart = d.kind === "heatmap" ? heatmap(el, d) : bars(el, d);
    el.dataset.rendered = "1";
    window.addEventListener("resize", function () { chart.resize(); });
  });
})();
