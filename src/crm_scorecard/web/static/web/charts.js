/* The pages' charts (Apache ECharts), drawn from data the page carries in json_script
   blocks and data- attributes. Names are people's text: labels are drawn on the canvas as
   text, and every tooltip is a DOM element filled with textContent, never an HTML string
   (ECharts would set an HTML string as innerHTML; its default tooltips also carry inline
   style attributes, which the Content-Security-Policy refuses). */
(function () {
  "use strict";

  var STATUS = {
    green: {shape: "●", word: "On target"},
    yellow: {shape: "▲", word: "Watch"},
    red: {shape: "■", word: "Off target"},
    grey: {shape: "○", word: "No data"}
  };

  function data(id) {
    return JSON.parse(document.getElementById(id).textContent);
  }

  function number(v, digits) {
    return v === null || v === undefined ? "no data" : String(Math.round(v * Math.pow(10, digits)) / Math.pow(10, digits));
  }

  // A tooltip: an optional bold title, then one line per {text, color}.
  function tip(title, lines) {
    var box = document.createElement("div");
    box.className = "chart-tip";
    if (title !== null && title !== undefined && title !== "") {
      var head = document.createElement("strong");
      head.textContent = String(title);
      box.appendChild(head);
    }
    lines.forEach(function (line) {
      var row = document.createElement("div");
      if (typeof line.color === "string") {
        var dot = document.createElement("span");
        dot.className = "tip-dot";
        dot.style.backgroundColor = line.color;  // through the DOM, which the policy allows
        row.appendChild(dot);
      }
      row.appendChild(document.createTextNode(String(line.text)));
      box.appendChild(row);
    });
    return box;
  }

  // Tooltips sit beside the pointer, inside the chart. A position given as a word ("top")
  // would make ECharts add an arrow as an HTML string with a style attribute (refused).
  function beside(point, params, dom, rect, size) {
    var x = Math.min(point[0] + 14, size.viewSize[0] - size.contentSize[0]);
    var y = Math.min(point[1] + 14, size.viewSize[1] - size.contentSize[1]);
    return [Math.max(0, x), Math.max(0, y)];
  }

  function resizing(chart) {
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function gauge(el) {
    var raw = el.dataset.score, g = parseFloat(el.dataset.green), y = parseFloat(el.dataset.yellow);
    var chart = echarts.init(el);
    chart.setOption({animation: false, series: [{type: "gauge", min: 0, max: 100, progress: {show: false},
      axisLine: {lineStyle: {width: 14, color: [[y, "#dc2626"], [g, "#eab308"], [1, "#16a34a"]]}},
      detail: {formatter: raw === "" ? "no data" : "{value}%", fontSize: 22, offsetCenter: [0, "70%"]},
      data: [{value: raw === "" ? 0 : Math.round(parseFloat(raw) * 1000) / 10}]}]});
    el.dataset.rendered = "1";
    resizing(chart);
  }

  function radar(el) {
    var d = data("radar-data");
    var chart = echarts.init(el);
    var zero = function (v) { return v === null ? 0 : v; };
    var series = [{name: "Target", value: d.target, lineStyle: {type: "dashed", color: "#6b7280"}, itemStyle: {color: "#6b7280"}}];
    if (d.previous.some(function (v) { return v !== null; })) {
      series.push({name: "Previous period", value: d.previous.map(zero), raw: d.previous, itemStyle: {color: "#93c5fd"}});
    }
    series.push({name: "Current", value: d.current.map(zero), raw: d.current, areaStyle: {opacity: 0.25}, itemStyle: {color: "#2456d6"}});
    chart.setOption({animation: false,
      legend: {data: ["Current", "Previous period", "Target"], bottom: 0},
      tooltip: {position: beside, formatter: function (p) {
        var shown = p.data.raw || p.data.value;
        return tip(p.name, d.indicators.map(function (axis, i) {
          return {text: axis.name + ": " + number(shown[i], 3)};
        }));
      }},
      radar: {indicator: d.indicators, radius: "65%"},
      series: [{type: "radar", data: series}]
    });
    el.dataset.rendered = "1";
    resizing(chart);
  }

  function strategyMap(el) {
    var d = data("map-data");
    var chart = echarts.init(el);
    var bandHeight = 140;
    chart.setOption({animation: false,
      tooltip: {position: beside, formatter: function (p) {
        if (p.dataType === "node") {
          var s = STATUS[p.data.status] || STATUS.grey;
          return tip(p.data.name, [{text: s.shape + " " + s.word + " · score " + number(p.data.score, 3)}]);
        }
        if (p.dataType === "edge") {
          return tip(null, [{text: p.data.cause + " → " + p.data.effect}]);
        }
        return tip(p.name, []);
      }},
      xAxis: {show: false, min: 0, max: 1000}, yAxis: {show: false, min: 0, max: d.bands.length * bandHeight, inverse: true},
      grid: {left: 10, right: 10, top: 10, bottom: 10},
      series: [{
        type: "graph", layout: "none", coordinateSystem: "cartesian2d", roam: false,
        symbol: "roundRect", symbolSize: [150, 48],
        // The stop-light's shape leads the label, so the colour is not the only sign.
        label: {show: true, color: "#fff", fontWeight: "bold", width: 140, lineHeight: 14, overflow: "break",
          formatter: function (p) { return (STATUS[p.data.status] || STATUS.grey).shape + " " + p.data.name; }},
        edgeSymbol: ["none", "arrow"], edgeSymbolSize: 12, lineStyle: {color: "#374151", width: 2, curveness: 0.15},
        data: d.nodes.map(function (n) { return Object.assign({}, n, {value: [n.x, n.y]}); }),
        links: d.links,
        markArea: {silent: true, label: {position: "insideTopLeft", color: "#6b7280", fontWeight: "bold"},
          data: d.bands.map(function (name, i) {
            return [{name: name, coord: [0, i * bandHeight + 4], itemStyle: {color: i % 2 ? "#f9fafb" : "#f3f4f6"}},
                    {coord: [1000, (i + 1) * bandHeight - 4]}];
          })}
      }]
    });
    chart.on("click", function (p) { if (p.dataType === "node" && p.data.url) { window.location.href = p.data.url; } });
    var series = chart.getModel().getSeries()[0];
    el.dataset.rendered = series.getData().count() + "-" + series.getEdgeData().count();
    resizing(chart);
  }

  function history(el) {
    var d = data("history-data");
    var chart = echarts.init(el);
    var periods = d.periods.slice(), forecast = [];
    if (d.forecast && periods.indexOf(d.forecast) < 0) { periods.push(d.forecast); }
    if (d.forecast) {
      var last = null;
      d.values.forEach(function (v, i) { if (v !== null) { last = i; } });
      forecast = periods.map(function (p, i) { return i === last ? d.values[last] : (p === d.forecast ? d.target[d.target.length - 1] : null); });
    }
    chart.setOption({animation: false,
      tooltip: {trigger: "axis", position: beside, formatter: function (params) {
        var list = [].concat(params);
        return tip(list.length ? list[0].axisValueLabel : "", list.map(function (p) {
          return {text: p.seriesName + ": " + number(p.value, 4), color: p.color};
        }));
      }},
      legend: {bottom: 0},
      xAxis: {type: "category", data: periods}, yAxis: {type: "value", scale: true},
      series: [
        {name: "Value", type: "line", data: d.values, connectNulls: false},
        {name: "Target", type: "line", step: "end", data: d.target, lineStyle: {type: "dashed"}, symbol: "none"},
        {name: "Baseline", type: "line", data: periods.map(function () { return d.baseline; }), lineStyle: {type: "dotted"}, symbol: "none"},
        {name: "Forecast", type: "line", data: forecast, connectNulls: true, lineStyle: {type: "dashed", color: "#16a34a"}}
      ]
    });
    el.dataset.rendered = "1";
    resizing(chart);
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.echarts) { return; }
    var charts = {"gauge": gauge, "radar": radar, "map": strategyMap, "history-chart": history};
    Object.keys(charts).forEach(function (id) {
      var el = document.getElementById(id);
      if (el) { charts[id](el); }
    });
  });
})();
