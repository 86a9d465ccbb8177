/* Customers › Segments and Cohorts: the RFM segments bar chart and the cohort heat map
   (Apache ECharts), drawn from the page's json_script blocks. Labels are drawn on the
   canvas as text; tooltips are DOM elements filled with textContent (no HTML strings, no
   inline styles: the Content-Security-Policy refuses them). */
(function () {
  "use strict";

  function data(id) {
    return JSON.parse(document.getElementById(id).textContent);
  }

  function grouped(v, decimals) {
    return v.toLocaleString("en-US", {minimumFractionDigits: 0, maximumFractionDigits: decimals});
  }

  function money(v, symbol) {
    return v === null || v === undefined ? "not seen" : (symbol || "\u20ac") + grouped(v, v >= 1000 ? 0 : 2);
  }

  function share(v) {
    return v === null || v === undefined ? "not seen" : grouped(v * 100, 1) + "%";
  }

  function tip(title, lines) {
    var box = document.createElement("div");
    box.className = "chart-tip";
    var head = document.createElement("strong");
    head.textContent = String(title);
    box.appendChild(head);
    lines.forEach(function (line) {
      var row = document.createElement("div");
      row.textContent = String(line);
      box.appendChild(row);
    });
    return box;
  }

  function beside(point, params, dom, rect, size) {
    var x = Math.min(point[0] + 14, size.viewSize[0] - size.contentSize[0]);
    var y = Math.min(point[1] + 14, size.viewSize[1] - size.contentSize[1]);
    return [Math.max(0, x), Math.max(0, y)];
  }

  function rfmChart(el) {
    var d = data("rfm-data");
    var chart = echarts.init(el);
    var labels = d.labels.slice().reverse(), customers = d.customers.slice().reverse(), revenue = d.revenue.slice().reverse();
    chart.setOption({animation: false,
      legend: {data: ["Customers", "Revenue"], bottom: 0},
      tooltip: {trigger: "axis", axisPointer: {type: "shadow"}, position: beside, formatter: function (params) {
        var i = [].concat(params)[0].dataIndex;
        return tip(labels[i], [grouped(customers[i], 0) + " customers", money(revenue[i], d.currency) + " revenue"]);
      }},
      grid: {left: 130, right: 30, top: 50, bottom: 60},
      yAxis: {type: "category", data: labels, axisLabel: {width: 120, overflow: "truncate"}},
      // Customers on the bottom scale, revenue on its own scale along the top
      xAxis: [{type: "value", name: "Customers", nameLocation: "middle", nameGap: 26, position: "bottom"},
              {type: "value", name: "Revenue", nameLocation: "middle", nameGap: 26, position: "top",
               splitLine: {show: false},
               axisLabel: {formatter: function (v) {
                 return v.toLocaleString("en-US", {notation: "compact", maximumFractionDigits: 1});
               }}}],
      series: [
        {name: "Customers", type: "bar", xAxisIndex: 0, data: customers, itemStyle: {color: "#2456d6"}},
        {name: "Revenue", type: "bar", xAxisIndex: 1, data: revenue, itemStyle: {color: "#93c5fd"}}
      ]
    });
    el.dataset.rendered = String(labels.length);
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function cohortChart(el) {
    var d = data("cohort-data");
    var chart = echarts.init(el);
    var months = [];
    for (var k = 0; k < d.months; k++) { months.push(String(k)); }
    function draw(view) {
      var values = view === "retention" ? d.retention : d.revenue, cells = [], later = [];
      values.forEach(function (row, i) {
        row.forEach(function (v, j) {
          if (v !== null) { cells.push([j, i, v]); if (j > 0 || d.months === 1) { later.push(v); } }
        });
      });
      // Month 0 is everyone's buying month, and a cohort of two can reach 100% by chance:
      // the colours run up to the 95th percentile of the months after acquisition (higher
      // cells show at the darkest colour), so the pattern of return stays visible.
      later.sort(function (a, b) { return a - b; });
      var high = later.length ? later[Math.min(later.length - 1, Math.floor(later.length * 0.95))] : 0;
      var show = view === "retention" ? share : function (v) { return money(v, d.currency); };
      chart.setOption({animation: false,
        tooltip: {position: beside, formatter: function (p) {
          var i = p.data[1], j = p.data[0];
          return tip(d.cohorts[i] + " \u00b7 month " + j, [show(p.data[2]), grouped(d.sizes[i], 0) + " customers acquired"]);
        }},
        grid: {left: 80, right: 20, top: 10, bottom: 90},
        xAxis: {type: "category", data: months, name: "Months since acquisition", nameLocation: "middle", nameGap: 28, splitArea: {show: true}},
        yAxis: {type: "category", data: d.cohorts, inverse: true, splitArea: {show: true}},
        visualMap: {min: 0, max: high || 1, calculable: false, orient: "horizontal", left: "center", bottom: 0,
          inRange: {color: ["#eff6ff", "#93c5fd", "#1d4ed8"]},
          formatter: function (v) { return show(v); }},
        series: [{type: "heatmap", data: cells,
          label: {show: d.cohorts.length <= 24 && d.months <= 24, fontSize: 10,
            formatter: function (p) { return view === "retention" ? Math.round(p.data[2] * 100) + "%" : grouped(p.data[2], 0); }}}]
      }, {notMerge: true});
      el.dataset.rendered = view;
    }
    draw("retention");
    document.querySelectorAll("button.cohort-view").forEach(function (button) {
      button.addEventListener("click", function () {
        document.querySelectorAll("button.cohort-view").forEach(function (b) {
          var on = b === button;
          b.setAttribute("aria-pressed", on ? "true" : "false");
          b.classList.toggle("secondary", !on);
        });
        draw(button.dataset.view);
      });
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.echarts) { return; }
    var rfm = document.getElementById("rfm-chart");
    if (rfm) { rfmChart(rfm); }
    var cohort = document.getElementById("cohort-chart");
    if (cohort) { cohortChart(cohort); }
  });
})();
