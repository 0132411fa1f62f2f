/* Blazon console behaviour: charts from json_script data, and confirmation of dangerous buttons.
   Loaded with defer; no inline scripts, so a strict Content-Security-Policy can be used. */
(function () {
  "use strict";

  function drawCharts() {
    if (typeof Chart === "undefined") { return; }
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.dataset.chart);
      if (!source || canvas.dataset.drawn) { return; }
      var data = JSON.parse(source.textContent);
      canvas.dataset.drawn = "1";
      var kind = canvas.dataset.kind || "bar";
      var stacked = Boolean(canvas.dataset.stacked);
      var palette = ["#1f4e8c", "#4a8fe7", "#9a6200", "#b3261e", "#1c7c4a", "#6b5bd2", "#3aa0a8", "#c2571a",
                     "#7a8699", "#d4a017", "#5b8c3a", "#a83279"];
      new Chart(canvas, {
        type: kind,
        data: {
          labels: data.labels,
          // several series (data.datasets, stacked when data-stacked) or one (data.values)
          datasets: data.datasets ? data.datasets.map(function (ds, i) {
            return { label: ds.label, data: ds.data, backgroundColor: palette[i % palette.length], borderWidth: 0 };
          }) : [{ label: canvas.dataset.label || "", data: data.values,
                  backgroundColor: kind === "doughnut" ? palette : "#4a8fe7", borderWidth: kind === "doughnut" ? 1 : 0 }]
        },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          indexAxis: canvas.dataset.horizontal ? "y" : "x",
          plugins: { legend: { display: kind === "doughnut" || Boolean(data.datasets), position: data.datasets ? "bottom" : "right" } },
          scales: kind === "doughnut" ? {} : { x: { stacked: stacked, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: stacked, beginAtZero: true, ticks: { precision: 0 } } }
        }
      });
    });
  }

  // progress bars: the bar's width from aria-valuenow (a style="" attribute would need
  // 'unsafe-inline' in the Content-Security-Policy; setting it from a script does not)
  function sizeProgressBars() {
    document.querySelectorAll(".progress[aria-valuenow] > span").forEach(function (bar) {
      var value = parseFloat(bar.parentElement.getAttribute("aria-valuenow"));
      bar.style.width = (isFinite(value) ? Math.max(0, Math.min(100, value)) : 0) + "%";
    });
  }

  // <form data-autosubmit> submits itself once the page is loaded (SAML POST binding).
  function autosubmit() {
    var form = document.querySelector("form[data-autosubmit]");
    if (form) { form.submit(); }
  }

  // <a data-top-redirect href="..."> moves the whole window there (a SAML logout step that ran in
  // a frame hands the browser on to the next step).
  function topRedirect() {
    var link = document.querySelector("a[data-top-redirect]");
    if (link) { window.top.location.replace(link.href); }
  }

  // <input type="checkbox" data-select-all="NAME"> ticks or unticks every checkbox named NAME
  // (no inline handler: the Content-Security-Policy forbids them).
  document.addEventListener("change", function (event) {
    var all = event.target.closest("input[data-select-all]");
    if (!all) { return; }
    document.querySelectorAll('input[type=checkbox][name="' + all.dataset.selectAll + '"]').forEach(function (box) {
      box.checked = all.checked;
    });
  });

  // <button data-confirm="..."> asks before submitting its form.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) {
      event.preventDefault();
    }
  });

  // The console's navigation: each group folds; the groups the administrator folded stay folded
  // (localStorage), except the current page's. Below 900 px the menu button shows the sidebar.
  function consoleNav() {
    var KEY = "blazon.nav.closed";
    var groups = document.querySelectorAll("details.navgroup");
    if (!groups.length) { return; }
    var remembered = [];
    try { remembered = JSON.parse(window.localStorage.getItem(KEY) || "[]"); } catch (e) { remembered = []; }
    groups.forEach(function (group) {
      group.open = Boolean(group.querySelector("a.active")) || remembered.indexOf(group.dataset.group) === -1;
      group.addEventListener("toggle", function () {
        var closed = [];
        document.querySelectorAll("details.navgroup:not([open])").forEach(function (g) { closed.push(g.dataset.group); });
        try { window.localStorage.setItem(KEY, JSON.stringify(closed)); } catch (e) { /* private mode */ }
      });
    });
    var button = document.querySelector("[data-menu-toggle]");
    var shell = document.querySelector(".shell");
    if (!button || !shell) { return; }
    function setOpen(open) {
      shell.classList.toggle("nav-open", open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }
    button.addEventListener("click", function () { setOpen(!shell.classList.contains("nav-open")); });
    document.addEventListener("keydown", function (event) { if (event.key === "Escape") { setOpen(false); } });
    document.addEventListener("click", function (event) {
      if (shell.classList.contains("nav-open") && !event.target.closest(".side, [data-menu-toggle]")) { setOpen(false); }
    });
  }

  // <input data-lookup="KIND" list="lookup-KIND">: as the administrator types, the matching
  // objects are fetched from the <datalist>'s data-lookup-url and offered (each ends in "#id").
  function lookups() {
    document.querySelectorAll("input[data-lookup]").forEach(function (input) {
      var list = document.getElementById(input.getAttribute("list"));
      if (!list || !list.dataset.lookupUrl) { return; }
      var timer = null, last = null;
      input.addEventListener("input", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () {
          var q = input.value.trim();
          if (q === last || /#\d+$/.test(q)) { return; }
          last = q;
          fetch(list.dataset.lookupUrl + "?q=" + encodeURIComponent(q), { credentials: "same-origin", headers: { "Accept": "application/json" } })
            .then(function (r) { return r.ok ? r.json() : { results: [] }; })
            .then(function (data) {
              list.replaceChildren();
              data.results.forEach(function (item) {
                var option = document.createElement("option");
                option.value = item.value;
                list.appendChild(option);
              });
            })
            .catch(function () { /* the field still takes a name typed in full */ });
        }, 200);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawCharts(); sizeProgressBars(); autosubmit(); topRedirect(); consoleNav(); lookups(); });
  document.addEventListener("htmx:afterSettle", function () { drawCharts(); sizeProgressBars(); });
})();
