// cerflow pages: progressive enhancement only; every page works without this file.
(function () {
  "use strict";
  // htmx requests carry the session's CSRF token (forms carry it as a hidden field).
  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.body.getAttribute("data-csrf");
    if (token) { event.detail.headers["X-CSRF-Token"] = token; }
  });

  function cellValue(row, index) {
    var cell = row.children[index];
    if (!cell) { return ""; }
    var text = cell.textContent.trim();
    var number = Number(text.replace(/,/g, ""));
    return text !== "" && text !== "–" && !isNaN(number) ? number : text.toLowerCase();
  }

  // Sortable tables: a header is a button for keyboard users; aria-sort says the order.
  function makeSortable(table) {
    var headers = table.querySelectorAll("thead th");
    headers.forEach(function (th, index) {
      th.setAttribute("tabindex", "0");
      th.setAttribute("aria-sort", "none");
      function sort() {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (other) { other.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = cellValue(a, index), y = cellValue(b, index);
          if (x === y) { return 0; }
          return (x > y ? 1 : -1) * (ascending ? 1 : -1);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); }
      });
    });
  }

  // Filters: a minimum count on a column and a "flagged only" switch.
  function applyFilters(tableId) {
    var table = document.getElementById(tableId);
    if (!table) { return; }
    var minInput = document.querySelector('[data-filter-table="' + tableId + '"][data-filter-col]');
    var flagInput = document.querySelector('[data-filter-table="' + tableId + '"][data-filter-flag]');
    var min = minInput ? Number(minInput.value || 0) : 0;
    var col = minInput ? Number(minInput.getAttribute("data-filter-col")) : 0;
    var flaggedOnly = flagInput ? flagInput.checked : false;
    // Select filters: the row's cell in that column must contain the chosen text.
    var contains = Array.prototype.map.call(
      document.querySelectorAll('[data-filter-table="' + tableId + '"][data-filter-contains]'),
      function (el) { return { col: Number(el.getAttribute("data-filter-contains")), text: el.value.toLowerCase() }; }
    );
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var value = cellValue(row, col);
      var hide = (typeof value === "number" && value < min) ||
        (flaggedOnly && row.getAttribute("data-flag") !== "1");
      contains.forEach(function (c) {
        var cell = row.children[c.col];
        if (c.text && cell && cell.textContent.toLowerCase().indexOf(c.text) === -1) { hide = true; }
      });
      row.hidden = hide;
    });
  }

  // Live events (job progress, new alerts) over the session's socket; polling stays as
  // the fallback, the socket only makes it prompt. Reconnects with a growing delay.
  function connectLive(delay) {
    if (!window.WebSocket || !document.body.getAttribute("data-csrf")) { return; }
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + "/live");
    var newAlerts = 0;
    socket.onopen = function () { delay = 1000; };
    socket.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (event.type === "job.state" || event.type === "job.progress") {
        document.body.dispatchEvent(new CustomEvent("cerflow:job", { detail: event }));
      } else if (event.type === "alert") {
        newAlerts += 1;
        var badge = document.getElementById("live-alerts");
        if (badge) {
          badge.textContent = newAlerts + " new";
          badge.hidden = false;
        }
      }
    };
    socket.onclose = function (closed) {
      if (closed.code === 1008) { return; }  // signed out or refused: do not hammer
      setTimeout(function () { connectLive(Math.min(delay * 2, 30000)); }, delay);
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    connectLive(1000);
    document.querySelectorAll("table.sortable").forEach(makeSortable);
    document.querySelectorAll("[data-filter-table]").forEach(function (input) {
      var id = input.getAttribute("data-filter-table");
      input.addEventListener("input", function () { applyFilters(id); });
      input.addEventListener("change", function () { applyFilters(id); });
    });
  });
})();
