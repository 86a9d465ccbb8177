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

  // A value as people read it in its unit; mirrors metrics.units.format_value (thousand
  // separators, at most two decimals, rates as percentages, durations as m:ss or hours).
  function grouped(v, decimals) {
    var text = v.toLocaleString("en-US", {minimumFractionDigits: decimals, maximumFractionDigits: decimals});
    if (decimals && text.indexOf(".") >= 0) { text = text.replace(/0+$/, "").replace(/\.$/, ""); }
    return text;
  }

  function formatValue(value, unit, currency) {
    if (value === null || value === undefined || (typeof value === "number" && isNaN(value))) { return "no data"; }
    var minus = value < 0 ? "\u2212" : "", size = Math.abs(value);
    switch (unit) {
      case "currency": return minus + (currency || "\u20ac") + grouped(size, size >= 1000 ? 0 : 2);
      case "percent": return minus + grouped(size * 100, 1) + "%";
      case "seconds": {
        var whole = Math.round(size), h = Math.floor(whole / 3600), m = Math.floor((whole % 3600) / 60), sec = whole % 60;
        var pad = function (n) { return (n < 10 ? "0" : "") + n; };
        return minus + (h ? h + ":" + pad(m) : String(m)) + ":" + pad(sec);
      }
      case "hours": return minus + grouped(size, 1) + " h";
      case "score": return minus + grouped(size, 2) + " / 5";
      case "nps": return (value < 0 ? "\u2212" : value > 0 ? "+" : "") + grouped(size, 1);
      case "count": return minus + grouped(size, size === Math.floor(size) ? 0 : 1);
      case "ratio": case "": case undefined: case null: return minus + grouped(size, 2);
      default: return minus + grouped(size, 2) + " " + unit;
    }
  }

  // A compact axis label: the unit's own form, large numbers shortened (1.2M, 350k).
  function axisValue(value, unit, currency) {
    var size = Math.abs(value);
    if ((unit === "currency" || unit === "count" || unit === "ratio" || !unit) && size >= 10000) {
      var short = size >= 1e6 ? grouped(size / 1e6, 1) + "M" : grouped(size / 1e3, 0) + "k";
      return (value < 0 ? "\u2212" : "") + (unit === "currency" ? (currency || "\u20ac") : "") + short;
    }
    return formatValue(value, unit, currency);
  }

  function percent(score) {
    return score === null || score === undefined ? "no data" : Math.round(score * 100) + "%";
  }

  // A long name on at most two lines of about `width` characters, cut with an ellipsis.
  function wrap(name, width) {
    var words = String(name).split(/\s+/), lines = [""];
    words.forEach(function (w) {
      var line = lines[lines.length - 1];
      if (line && (line + " " + w).length > width) { lines.push(w); } else { lines[lines.length - 1] = line ? line + " " + w : w; }
    });
    lines = lines.map(function (l) { return l.length > width ? l.slice(0, width - 1) + "\u2026" : l; });
    if (lines.length > 2) { lines = [lines[0], (lines[1].length > width - 1 ? lines[1].slice(0, width - 1) : lines[1]) + "\u2026"]; }
    return lines.join("\n");
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
      data: [{value: raw === "" ? 0 : Math.round(parseFloat(raw) * 100)}]}]});
    el.dataset.rendered = "1";
    resizing(chart);
  }

  function radar(el) {
    var d = data("radar-data");
    var chart = echarts.init(el);
    var zero = function (v) { return v === null ? 0 : v; };
    var series = [{name: "Target", value: d.target, labels: d.target.map(percent), lineStyle: {type: "dashed", color: "#6b7280"}, itemStyle: {color: "#6b7280"}}];
    if (d.previous.some(function (v) { return v !== null; })) {
      series.push({name: "Previous period", value: d.previous.map(zero), labels: d.previousLabels, itemStyle: {color: "#93c5fd"}});
    }
    series.push({name: "Current", value: d.current.map(zero), labels: d.currentLabels, areaStyle: {opacity: 0.25}, itemStyle: {color: "#2456d6"}});
    function draw() {
      // Axis names: the part's name on at most two short lines, then its score.
      var narrow = el.clientWidth < 900, many = d.indicators.length > 6;
      var chars = narrow ? (many ? 12 : 16) : (many ? 16 : 22);
      chart.setOption({animation: false,
        legend: {data: ["Current", "Previous period", "Target"], bottom: 0},
        tooltip: {position: beside, formatter: function (p) {
          return tip(p.name, d.indicators.map(function (axis, i) {
            return {text: axis.name + ": " + p.data.labels[i]};
          }));
        }},
        radar: {radius: narrow ? "56%" : "62%", center: ["50%", "48%"],
          axisName: {color: "#1f2937", fontSize: narrow ? 11 : 12, lineHeight: narrow ? 13 : 15},
          indicator: d.indicators.map(function (axis, i) {
            return {name: wrap(axis.name, chars) + "\n" + d.currentLabels[i], max: 1};
          })},
        series: [{type: "radar", data: series}]
      });
    }
    draw();
    el.dataset.rendered = "1";
    window.addEventListener("resize", function () { chart.resize(); draw(); });
  }

  // The strategy map: perspectives as bands, goals as boxes, and each cause → effect link
  // drawn as a path of straight segments that runs along the gaps between bands and, to
  // reach a band further off, down a lane between boxes, so it never crosses a box. The
  // path's corners are invisible points of the graph; the arrowhead is on its last segment.
  function strategyMap(el) {
    var d = data("map-data");
    var chart = echarts.init(el);
    var bandHeight = 140, height = d.bands.length * bandHeight, pad = 10;
    var most = d.nodes.reduce(function (m, n) { return Math.max(m, n.cols); }, 1);

    // Where each link leaves and enters its boxes (spread along the box's edge) and which
    // gap it runs along (each link its own track in a shared gap), so paths stay apart.
    function plan() {
      var ports = {}, tracks = {};
      var take = function (table, key, k) { (table[key] = table[key] || []).push(k); };
      var plans = d.links.map(function (link, k) {
        var a = d.nodes[link.source], b = d.nodes[link.target];
        var up = b.row < a.row, same = b.row === a.row;
        var p = {a: a, b: b, up: up, same: same,
          out: link.source + (up ? ":top" : ":bottom"), into: link.target + (up || same ? ":bottom" : ":top"),
          gap1: same ? "row" + a.row : "gap" + (up ? a.row : a.row + 1),
          gap2: same ? "row" + a.row : "gap" + (up ? b.row + 1 : b.row)};
        take(ports, p.out, k); take(ports, p.into, k); take(tracks, p.gap1, k);
        if (p.gap2 !== p.gap1) { take(tracks, p.gap2, k); }
        return p;
      });
      var slot = function (table, key, k) {
        var list = table[key], i = list.indexOf(k);
        return i - (list.length - 1) / 2;
      };
      return plans.map(function (p, k) {
        return Object.assign(p, {outSlot: slot(ports, p.out, k), intoSlot: slot(ports, p.into, k),
          track1: slot(tracks, p.gap1, k), track2: slot(tracks, p.gap2, k), k: k});
      });
    }

    function route(p, box) {
      var a = p.a, b = p.b;
      var xa = a.x + p.outSlot * 16 * box.ux, xb = b.x + p.intoSlot * 16 * box.ux, ya, y1, y2, yb;
      var gapY = function (r, slot) { return r * bandHeight + slot * 6 * box.uy; };
      if (p.same) {
        // Within a band: under the row's boxes, above the gap to the next band.
        ya = a.y + box.h; yb = b.y + box.h;
        y1 = y2 = a.y + box.h + (14 + (p.track1 + 2) * 5) * box.uy;
      } else if (p.up) {
        ya = a.y - box.h; y1 = gapY(a.row, p.track1); y2 = gapY(b.row + 1, p.track2); yb = b.y + box.h;
      } else {
        ya = a.y + box.h; y1 = gapY(a.row + 1, p.track1); y2 = gapY(b.row, p.track2); yb = b.y - box.h;
      }
      var points = [[xa, ya], [xa, y1]];
      var low = Math.min(a.row, b.row), high = Math.max(a.row, b.row);
      if (high - low > 1) {
        var between = d.nodes.filter(function (n) { return n.row > low && n.row < high; });
        var clear = function (x) {
          return x > 0 && x < 1000 && between.every(function (n) { return Math.abs(x - n.x) > box.w + 10 * box.ux; });
        };
        var candidates = [xa, xb, (xa + xb) / 2];
        for (var r = low + 1; r < high; r++) {
          var xs = [0].concat(between.filter(function (n) { return n.row === r; }).map(function (n) { return n.x; }), [1000]);
          xs.sort(function (m, n) { return m - n; });
          for (var i = 1; i < xs.length; i++) { candidates.push((xs[i - 1] + xs[i]) / 2); }
        }
        var lanes = candidates.filter(clear);
        var lane = lanes.length ? lanes.reduce(function (best, x) {
          return Math.abs(x - xa) + Math.abs(x - xb) < Math.abs(best - xa) + Math.abs(best - xb) ? x : best;
        }) : 4 * box.ux;
        lane += ((p.k % 3) - 1) * 6 * box.ux;
        points.push([lane, y1], [lane, y2]);
      }
      points.push([xb, y2], [xb, yb]);
      return points.filter(function (q, i) {
        return i === 0 || Math.abs(q[0] - points[i - 1][0]) > 1e-6 || Math.abs(q[1] - points[i - 1][1]) > 1e-6;
      });
    }

    function option() {
      var gridW = Math.max(200, el.clientWidth - 2 * pad), gridH = Math.max(200, el.clientHeight - 2 * pad);
      var boxW = Math.max(72, Math.min(170, gridW / (most + 1) - 24)), boxH = 58;
      var box = {ux: 1000 / gridW, uy: height / gridH, w: 0, h: 0};
      box.w = boxW / 2 * box.ux; box.h = boxH / 2 * box.uy;
      var chars = Math.max(8, Math.floor((boxW - 12) / 7));
      var nodes = d.nodes.map(function (n) {
        var dark = n.status === "yellow";
        return Object.assign({}, n, {value: [n.x, n.y], label: {color: dark ? "#1f2937" : "#fff"}});
      });
      var edges = [], plans = plan();
      d.links.forEach(function (link, k) {
        var points = route(plans[k], box), first = nodes.length;
        points.forEach(function (p, i) {
          nodes.push({name: link.cause + " \u2192 " + link.effect, id: "link-" + k + "-" + i, value: p, waypoint: true,
            cause: link.cause, effect: link.effect, symbolSize: 0, label: {show: false}});
        });
        for (var i = 1; i < points.length; i++) {
          edges.push({source: first + i - 1, target: first + i, cause: link.cause, effect: link.effect,
            symbol: i === points.length - 1 ? link.edgeSymbol : ["none", "none"]});
        }
      });
      return {animation: false,
        tooltip: {position: beside, formatter: function (p) {
          if (p.dataType === "node" && !p.data.waypoint) {
            var s = STATUS[p.data.status] || STATUS.grey;
            return tip(p.data.name, [{text: s.shape + " " + s.word + " \u00b7 score " + p.data.scoreLabel}]);
          }
          if (p.data && p.data.cause !== undefined) {
            return tip(null, [{text: p.data.cause + " \u2192 " + p.data.effect}]);
          }
          return tip(p.name, []);
        }},
        xAxis: {show: false, min: 0, max: 1000}, yAxis: {show: false, min: 0, max: height, inverse: true},
        grid: {left: pad, right: pad, top: pad, bottom: pad},
        series: [{
          type: "graph", layout: "none", coordinateSystem: "cartesian2d", roam: false,
          symbol: "roundRect", symbolSize: [boxW, boxH],
          // The stop-light's shape leads the label, so the colour is not the only sign.
          label: {show: true, fontWeight: "bold", lineHeight: 14, align: "center",
            formatter: function (p) {
              return wrap((STATUS[p.data.status] || STATUS.grey).shape + " " + p.data.name, chars) + "\n" + p.data.scoreLabel;
            }},
          edgeSymbol: ["none", "arrow"], edgeSymbolSize: 10, lineStyle: {color: "#374151", width: 2, curveness: 0, opacity: 0.85},
          emphasis: {lineStyle: {width: 3}},
          data: nodes,
          links: edges,
          markArea: {silent: true, label: {position: "insideTopLeft", color: "#6b7280", fontWeight: "bold"},
            data: d.bands.map(function (name, i) {
              return [{name: name, coord: [0, i * bandHeight + 4], itemStyle: {color: i % 2 ? "#f9fafb" : "#f3f4f6"}},
                      {coord: [1000, (i + 1) * bandHeight - 4]}];
            })}
        }]
      };
    }

    chart.setOption(option());
    chart.on("click", function (p) { if (p.dataType === "node" && p.data.url) { window.location.href = p.data.url; } });
    el.dataset.rendered = d.nodes.length + "-" + d.links.length;
    window.addEventListener("resize", function () { chart.resize(); chart.setOption(option(), {notMerge: true}); });
  }

  // "2025-03" → the first of that month (UTC), for a time axis.
  function monthStart(period) {
    var parts = String(period).split("-");
    return Date.UTC(parseInt(parts[0], 10), parseInt(parts[1] || "1", 10) - 1, 1);
  }

  function monthName(time) {
    var date = new Date(time);
    return date.getUTCFullYear() + "-" + (date.getUTCMonth() < 9 ? "0" : "") + (date.getUTCMonth() + 1);
  }

  function history(el) {
    var d = data("history-data");
    var chart = echarts.init(el);
    var times = d.periods.map(monthStart);
    var values = times.map(function (t, i) { return [t, d.values[i]]; });
    var targets = times.map(function (t, i) { return [t, d.target[i]]; });
    var end = times.length ? times[times.length - 1] : null, forecast = [];
    if (d.forecast) {
      var last = null;
      d.values.forEach(function (v, i) { if (v !== null) { last = i; } });
      var due = monthStart(d.forecast);
      if (last !== null) { forecast = [[times[last], d.values[last]], [due, d.target[d.target.length - 1]]]; }
      end = Math.max(end || due, due);
    }
    var baseline = times.length ? [[times[0], d.baseline], [end, d.baseline]] : [];
    var show = function (v) { return formatValue(v, d.unit, d.currency); };
    // Comments on a month's value: a pin on the value (on the target where there is none)
    // and a dotted line at that month; the axis tooltip lists the comments as text.
    var comments = (d.comments || []).map(function (c) {
      var i = d.periods.indexOf(c.period), t = monthStart(c.period);
      var y = i >= 0 && d.values[i] !== null ? d.values[i] : (i >= 0 ? d.target[i] : null);
      return {value: [t, y], lines: c.lines};
    });
    chart.setOption({animation: false,
      tooltip: {trigger: "axis", position: beside, formatter: function (params) {
        var list = [].concat(params);
        var lines = [], month = list.length ? monthName(list[0].value[0]) : "";
        list.forEach(function (p) {
          if (p.seriesName !== "Comments") {
            lines.push({text: p.seriesName + ": " + show(p.value[1]), color: p.color});
          }
        });
        comments.forEach(function (c) {
          if (monthName(c.value[0]) === month) {
            c.lines.forEach(function (text) { lines.push({text: "\u270e " + text}); });
          }
        });
        return tip(month, lines);
      }},
      legend: {bottom: 0},
      grid: {left: 64, right: 24, top: 16, bottom: 56},
      xAxis: {type: "time", minInterval: 28 * 24 * 3600 * 1000,
        axisLabel: {hideOverlap: true, formatter: {year: "{yyyy}", month: "{MMM} {yy}", day: "{MMM} {yy}"}}},
      yAxis: {type: "value", scale: true, axisLabel: {formatter: function (v) { return axisValue(v, d.unit, d.currency); }}},
      series: [
        {name: "Value", type: "line", data: values, connectNulls: false},
        {name: "Target", type: "line", step: "end", data: targets, lineStyle: {type: "dashed"}, symbol: "none"},
        {name: "Baseline", type: "line", data: baseline, lineStyle: {type: "dotted"}, symbol: "none"},
        {name: "Forecast", type: "line", data: forecast, lineStyle: {type: "dashed", color: "#16a34a"}, itemStyle: {color: "#16a34a"}}
      ].concat(comments.length ? [
        {name: "Comments", type: "scatter", data: comments, symbol: "pin", symbolSize: 26, symbolOffset: [0, -12],
          itemStyle: {color: "#7c3aed"}, z: 5,
          markLine: {silent: true, symbol: "none", label: {show: false}, lineStyle: {type: "dotted", color: "#7c3aed"},
            data: comments.map(function (c) { return {xAxis: c.value[0]}; })}}
      ] : [])
    });
    el.dataset.rendered = "1";
    el.dataset.comments = String(comments.length);
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
