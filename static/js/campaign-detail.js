/* Campaign page: uploads a recipient CSV with a progress bar and follows a background
   import until it is done; once launched, follows the campaign's progress live and
   draws its deliveries over time as an inline SVG chart. The server's templates draw
   everything else: when something changes, the page's [data-live] regions are fetched
   again (window.smsgateway.refreshLive). */
(function () {
  "use strict";

  // Messages per second: two decimals while slow, whole numbers once fast.
  function formatRate(rate) {
    return rate >= 10 ? String(Math.round(rate)) : String(Number(rate.toFixed(2)));
  }

  const page = document.querySelector("[data-campaign-page]");
  if (!page) return;
  const { el, csrfToken, getJson, fieldErrors, refreshLive } = window.smsgateway;
  const SVG = "http://www.w3.org/2000/svg";
  const PROGRESS_EVERY_MS = 2000;
  const IMPORT_EVERY_MS = 1000;
  // After the last message was sent, reports are awaited this long before polling stops.
  const REPORTS_WAIT_MS = 30 * 60 * 1000;

  /* ---------------------------------------------------------------- confirmations */

  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  /* ---------------------------------------------------------------- upload */

  const uploadForm = page.querySelector("[data-upload-form]");
  if (uploadForm) {
    const button = uploadForm.querySelector("[data-upload-button]");
    const box = uploadForm.querySelector("[data-upload-progress]");
    const bar = box.querySelector("progress");
    const text = box.querySelector("[data-upload-progress-text]");
    const formError = uploadForm.querySelector("[data-upload-error]");

    const { clear: clearErrors, show: showErrors } = fieldErrors(uploadForm, formError);

    function busy(on) {
      button.disabled = on;
      button.classList.toggle("is-busy", on);
      box.hidden = !on;
    }

    function uploaded(status, data) {
      if (!data) {
        showErrors({ __all__: [status === 403
          ? "Your session has expired or the page is stale: reload the page and try again."
          : `The server answered HTTP ${status}. Reload the page and try again.`] });
        return;
      }
      if (status >= 400) {
        showErrors(data.errors || { __all__: [`The server answered HTTP ${status}.`] });
        return;
      }
      uploadForm.reset();
      refreshLive().then(followImports);
    }

    uploadForm.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors();
      const request = new XMLHttpRequest();
      request.open("POST", uploadForm.action);
      request.setRequestHeader("Accept", "application/json");
      request.setRequestHeader("X-CSRFToken", csrfToken(uploadForm));
      request.responseType = "json";
      request.upload.addEventListener("progress", (progress) => {
        if (!progress.lengthComputable) return;
        const percent = Math.round((100 * progress.loaded) / progress.total);
        bar.value = percent;
        text.textContent = percent < 100 ? `Uploading… ${percent}%` : "Reading the file…";
      });
      request.addEventListener("load", () => {
        busy(false);
        uploaded(request.status, request.response);
      });
      request.addEventListener("error", () => {
        busy(false);
        showErrors({ __all__: ["Could not reach smsgateway: check your connection and try again."] });
      });
      bar.value = 0;
      text.textContent = "Uploading…";
      busy(true);
      request.send(new FormData(uploadForm));
    });
  }

  /* ---------------------------------------------------------------- background imports */

  const following = new Set();

  function followImports() {
    for (const box of page.querySelectorAll("[data-import-progress]")) {
      const url = box.dataset.statusUrl;
      if (following.has(url)) continue;
      following.add(url);
      followImport(url);
    }
  }

  function followImport(url) {
    async function tick() {
      let data = null;
      try {
        data = await getJson(url);
      } catch (error) {
        // Tried again on the next tick.
      }
      if (data && data.finished) {
        following.delete(url);
        await refreshLive();
        followImports();
        return;
      }
      const box = page.querySelector(`[data-import-progress][data-status-url="${CSS.escape(url)}"]`);
      if (data && box) {
        box.querySelector("progress").value = data.progress;
        box.querySelector("[data-import-text]").textContent = data.status === "pending"
          ? "Waiting for a worker…"
          : `${data.progress}% read (${megabytes(data.bytes_read)} of ${megabytes(data.size)})` +
            ` · ${data.rows_total.toLocaleString()} rows so far`;
      }
      window.setTimeout(tick, IMPORT_EVERY_MS);
    }
    window.setTimeout(tick, IMPORT_EVERY_MS);
  }

  function megabytes(bytes) {
    return (bytes / 1e6).toFixed(1) + " MB";
  }

  followImports();

  /* ---------------------------------------------------------------- the chart */

  const CHART = { width: 640, height: 200, left: 40, right: 12, top: 12, bottom: 26, maxBars: 60 };

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    for (const child of children) node.append(child);
    return node;
  }

  /** Per-minute rows → buckets covering first..last minute, gaps included. */
  function buckets(timeline) {
    const first = Date.parse(timeline[0].minute);
    const last = Date.parse(timeline[timeline.length - 1].minute);
    const minutes = Math.round((last - first) / 60000) + 1;
    const size = Math.max(1, Math.ceil(minutes / CHART.maxBars));
    const result = [];
    for (let i = 0; i < Math.ceil(minutes / size); i++) {
      result.push({ start: new Date(first + i * size * 60000), delivered: 0, failed: 0 });
    }
    for (const row of timeline) {
      const index = Math.floor(Math.round((Date.parse(row.minute) - first) / 60000) / size);
      result[index].delivered += row.delivered;
      result[index].failed += row.failed;
    }
    return { bars: result, size };
  }

  // The dashboard's time zone and 24-hour clock, as the server writes every other time.
  const timeZone = page.querySelector("[data-chart]")?.dataset.timeZone || undefined;
  function clock(date) {
    return date.toLocaleTimeString("en-GB", {
      hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone,
    });
  }

  function drawChart(timeline) {
    const box = page.querySelector("[data-chart]");
    const empty = box.querySelector("[data-chart-empty]");
    const old = box.querySelector("svg");
    if (old) old.remove();
    empty.hidden = timeline.length > 0;
    if (!timeline.length) return;

    const { bars, size } = buckets(timeline);
    const { width, height, left, right, top, bottom } = CHART;
    const plotWidth = width - left - right;
    const plotHeight = height - top - bottom;
    const peak = Math.max(1, ...bars.map((bar) => bar.delivered + bar.failed));
    const y = (value) => top + plotHeight - (plotHeight * value) / peak;
    const slot = plotWidth / bars.length;
    const barWidth = Math.max(2, Math.min(36, slot * 0.7));

    const chart = svg("svg", {
      class: "chart__svg", viewBox: `0 0 ${width} ${height}`, role: "img", "data-chart-svg": "",
      "aria-label": `Deliveries and failures per ${size === 1 ? "minute" : size + " minutes"}`,
    });
    for (const value of new Set([0, Math.round(peak / 2), peak])) {
      chart.append(
        svg("line", { class: "chart__grid", x1: left, x2: width - right, y1: y(value), y2: y(value) }),
        svg("text", { class: "chart__label", x: left - 6, y: y(value) + 4, "text-anchor": "end" }, String(value)));
    }
    bars.forEach((bar, index) => {
      const x = left + index * slot + (slot - barWidth) / 2;
      const title = `${clock(bar.start)}: ${bar.delivered} delivered, ${bar.failed} failed`;
      const group = svg("g", { "data-bar": index }, svg("title", {}, title));
      if (bar.delivered) {
        group.append(svg("rect", {
          class: "chart__bar chart__bar--delivered", x, width: barWidth,
          y: y(bar.delivered), height: y(0) - y(bar.delivered),
        }));
      }
      if (bar.failed) {
        group.append(svg("rect", {
          class: "chart__bar chart__bar--failed", x, width: barWidth,
          y: y(bar.delivered + bar.failed), height: y(bar.delivered) - y(bar.delivered + bar.failed),
        }));
      }
      chart.append(group);
    });
    const labels = bars.length > 1 ? [0, bars.length - 1] : [0];
    for (const index of labels) {
      const x = left + index * slot + slot / 2;
      chart.append(svg("text", {
        class: "chart__label", x, y: height - 8, "data-chart-time": "",
        "text-anchor": bars.length > 1 ? (index ? "end" : "start") : "middle",
      }, clock(bars[index].start)));
    }
    box.append(chart);
  }

  /* ---------------------------------------------------------------- campaign progress */

  const progressUrl = page.dataset.progressUrl;
  const initial = document.getElementById("campaign-progress");
  if (progressUrl && initial) {
    let status = page.dataset.status;
    let idleSince = null;
    const live = page.querySelector("[data-progress-live]");

    function draw(data) {
      const stats = data.stats;
      const label = page.querySelector("[data-progress-status]");
      label.textContent = data.status_display;
      label.dataset.progressStatus = data.status;
      for (const node of page.querySelectorAll("[data-stat]")) {
        node.textContent = String(stats[node.dataset.stat]);
      }
      page.querySelector("[data-progress-done]").textContent = String(stats.delivered + stats.failed);
      page.querySelector("[data-send-rate]").textContent = formatRate(data.send_rate);
      page.querySelector("[data-delivery-rate]").textContent =
        stats.delivery_rate === null ? "—" : stats.delivery_rate.toFixed(1) + "%";
      for (const segment of data.segments) {
        const rect = page.querySelector(`[data-segment="${segment.key}"]`);
        rect.setAttribute("x", segment.x + "%");
        rect.setAttribute("width", segment.width + "%");
        rect.querySelector("title").textContent = `${segment.label}: ${segment.count}`;
        page.querySelector(`[data-segment-count="${segment.key}"]`).textContent = String(segment.count);
      }
      drawFailures(data.failures);
      drawChart(data.timeline);
    }

    function drawFailures(failures) {
      const table = page.querySelector("[data-failures]");
      table.tBodies[0].replaceChildren(...failures.map((row) => el("tr", {},
        el("td", {}, el("span", { class: "code" }, row.code)),
        el("td", {}, row.meaning || "Unknown code"),
        el("td", { class: "num" }, String(row.count)))));
      table.hidden = failures.length === 0;
      page.querySelector("[data-failures-empty]").hidden = failures.length > 0;
    }

    async function tick() {
      let data = null;
      try {
        data = await getJson(progressUrl);
      } catch (error) {
        // Tried again on the next tick.
      }
      if (data) {
        draw(data);
        if (data.status !== status) {
          status = data.status;
          page.dataset.status = status;
          // Badge, buttons and dates follow the new status.
          await refreshLive();
        }
        idleSince = data.live && data.terminal ? idleSince || Date.now() : null;
        const waitedEnough = idleSince !== null && Date.now() - idleSince > REPORTS_WAIT_MS;
        if (!data.live || waitedEnough) {
          live.hidden = true;
          return;
        }
      }
      window.setTimeout(tick, PROGRESS_EVERY_MS);
    }

    const first = JSON.parse(initial.textContent);
    draw(first);
    if (first.live) window.setTimeout(tick, PROGRESS_EVERY_MS);
  }
})();
