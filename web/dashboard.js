// The sluice dashboard: polls /api/status and /api/batches once a second and draws them with uPlot.
// Each chart element carries data-points (how many values it draws), for people and tests alike.
"use strict";

(function () {
  const POLL_MS = 1000;
  const BATCHES = 300;      // the timelines show the latest 300 batches
  const TABLE_ROWS = 15;    // the latest-batches table shows the newest 15
  const BINS = 20;
  const METRICS = [
    { key: "input_rate", unit: "records/s", interval: false, color: "#2f6fb0" },
    { key: "scheduling_delay_ms", unit: "ms", interval: true, color: "#8a5cc2" },
    { key: "processing_time_ms", unit: "ms", interval: true, color: "#1f9d74" },
    { key: "total_delay_ms", unit: "ms", interval: true, color: "#d0762b" },
  ];
  const INTERVAL_COLOR = "#d64545";

  const $ = (id) => document.getElementById(id);
  const charts = {};        // key -> { timeline, histogram, histRange, intervalMs }
  let intervalMs = 1000;

  function fmt(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    if (Math.abs(value) >= 1e6) return (value / 1e6).toFixed(1) + "M";
    if (Math.abs(value) >= 1e4) return (value / 1e3).toFixed(1) + "k";
    return Number(value).toFixed(digits === undefined ? 0 : digits);
  }
  function mib(bytes) {
    return bytes === null || bytes === undefined ? "–" : (bytes / 1048576).toFixed(1);
  }
  function chartWidth(el) {
    return Math.max(200, Math.floor(el.clientWidth || el.parentElement.clientWidth / 2));
  }

  // Draws the batch interval as a vertical line on a histogram whose x axis is in ms.
  function intervalMarker(u) {
    const x = u.valToPos(intervalMs, "x", true);
    if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = INTERVAL_COLOR;
    ctx.setLineDash([6, 4]);
    ctx.lineWidth = 1.5 * devicePixelRatio;
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.restore();
  }

  function makeCharts() {
    for (const m of METRICS) {
      const tEl = $("timeline-" + m.key);
      const hEl = $("histogram-" + m.key);
      const series = [{}, { label: m.key, stroke: m.color, width: 1.5, fill: m.color + "22", points: { show: false } }];
      if (m.interval) {
        series.push({ label: "batch interval", stroke: INTERVAL_COLOR, dash: [6, 4], width: 1.5, points: { show: false } });
      }
      const timeline = new uPlot({
        width: chartWidth(tEl), height: 150,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [{ stroke: "#555", grid: { stroke: "#eee" } }, { stroke: "#555", grid: { stroke: "#eee" }, size: 60 }],
        series: series,
      }, [[], [], ...(m.interval ? [[]] : [])], tEl);

      const entry = { timeline, histogram: null, range: [0, 1] };
      const histogram = new uPlot({
        width: chartWidth(hEl), height: 150,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: { time: false, range: () => entry.range },
          y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] },
        },
        axes: [{ stroke: "#555", grid: { show: false } }, { stroke: "#555", grid: { stroke: "#eee" }, size: 40 }],
        series: [{}, {
          label: "batches", stroke: m.color, fill: m.color + "88", width: 1,
          paths: uPlot.paths.bars({ size: [0.95, Infinity] }), points: { show: false },
        }],
        hooks: m.interval ? { draw: [intervalMarker] } : {},
      }, [[], []], hEl);
      entry.histogram = histogram;
      charts[m.key] = entry;
    }
    window.addEventListener("resize", () => {
      for (const m of METRICS) {
        const c = charts[m.key];
        c.timeline.setSize({ width: chartWidth($("timeline-" + m.key)), height: 150 });
        c.histogram.setSize({ width: chartWidth($("histogram-" + m.key)), height: 150 });
      }
    });
  }

  function histogram(values, includeMax) {
    const max = Math.max(includeMax || 0, ...values, 1e-9);
    const width = max / BINS;
    const xs = [], counts = new Array(BINS).fill(0);
    for (let i = 0; i < BINS; i++) xs.push((i + 0.5) * width);
    for (const v of values) counts[Math.min(BINS - 1, Math.floor(v / width))]++;
    return { xs, counts, range: [0, max * 1.02] };
  }

  function drawBatches(batches) {
    const times = batches.map((b) => b.time_ms / 1000);
    for (const m of METRICS) {
      const values = batches.map((b) => b[m.key]);
      const c = charts[m.key];
      const data = [times, values];
      if (m.interval) data.push(times.map(() => intervalMs));
      c.timeline.setData(data);
      $("timeline-" + m.key).dataset.points = String(values.length);
      const h = histogram(values, m.interval ? intervalMs : 0);
      c.range = h.range;
      c.histogram.setData([h.xs, h.counts]);
      $("histogram-" + m.key).dataset.points = String(values.length);
      const avg = values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
      $("stat-" + m.key).textContent = values.length ? "avg " + fmt(avg, m.unit === "ms" ? 1 : 0) : "";
    }
    $("batch-hint").textContent = batches.length ? "latest " + batches.length + " batches" : "no batch yet";

    const body = $("batches");
    const rows = batches.slice(-TABLE_ROWS).reverse();
    body.replaceChildren(...rows.map((b) => row([
      [b.id, "num"], [new Date(b.time_ms).toLocaleTimeString()], [b.records, "num"],
      [b.failed, b.failed ? "num bad" : "num"], [b.blocks, "num"], [fmt(b.input_rate), "num"],
      [fmt(b.scheduling_delay_ms, 1) + " ms", "num"],
      [fmt(b.processing_time_ms, 1) + " ms", b.processing_time_ms > intervalMs ? "num bad" : "num"],
      [fmt(b.total_delay_ms, 1) + " ms", "num"],
    ])));
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const [text, cls] of cells) {
      const td = document.createElement("td");
      td.textContent = String(text);
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    return tr;
  }

  function drawStatus(s) {
    intervalMs = s.config.batch_interval_ms;
    $("meta").textContent = "batch interval " + intervalMs + " ms · block interval " + s.config.block_interval_ms +
      " ms · " + s.config.executors + " executor(s) × " + s.config.cores + " core(s) · max batch " + s.config.max_batch +
      " · up " + fmt(s.uptime_seconds) + " s · v" + s.version;
    $("meta").title = s.model;
    const badge = $("stability");
    if (s.stable === null) {
      badge.className = "badge waiting"; badge.textContent = "waiting for the first batch";
    } else if (s.stable) {
      badge.className = "badge stable"; badge.textContent = "stable";
    } else {
      badge.className = "badge unstable"; badge.textContent = "falling behind";
    }
    $("card-input").textContent = fmt(s.frames.received_per_second);
    $("card-answered").textContent = fmt(s.frames.answered_per_second);
    $("card-p99").textContent = s.latency_ms.samples ? fmt(s.latency_ms.p99, 1) : "–";
    $("card-queue").textContent = fmt(s.queue.frames_in_flight);
    $("card-frames").textContent = fmt(s.frames.received);
    $("card-errors").textContent = fmt(s.frames.failed);
    $("card-errors").classList.toggle("bad", s.frames.failed > 0);
    $("card-rss").textContent = mib(s.resident_memory_bytes);
    $("card-store").textContent = mib(s.queue.store_bytes);

    $("sources").replaceChildren(...s.sources.map((src) => {
      const drops = Object.entries(src.dropped || {});
      const dropped = drops.reduce((sum, [, n]) => sum + n, 0);
      const tr = row([
        [src.name], [src.active ? src.state + " · active" : src.state], [fmt(src.frames_per_second, 1), "num"],
        [src.rate_limit === null ? "unlimited" : fmt(src.rate_limit, 0) + "/s", "num"],
        [fmt(src.frames), "num"], [src.streams_open, "num"],
        [fmt(dropped), dropped ? "num bad" : "num"], [src.errors, src.errors ? "num bad" : "num"],
        [src.last_error || "–", "error-text"],
      ]);
      tr.dataset.state = src.state;
      tr.dataset.active = String(src.active);
      tr.children[1].className = "state " + (src.active ? "active" : src.state);
      tr.children[6].title = drops.filter(([, n]) => n > 0).map(([reason, n]) => reason + ": " + n).join(", ") || "none";
      return tr;
    }));

    const failures = Object.entries(s.failures);
    $("failures").replaceChildren(...(failures.length
      ? failures.map(([reason, n]) => row([[reason], [n, "num bad"]]))
      : [row([["none"], [""]])]));

    const labels = $("labels");
    if (!s.top_labels.length) {
      labels.replaceChildren(Object.assign(document.createElement("div"), { className: "empty", textContent: "no predictions in the last minute" }));
    } else {
      const top = s.top_labels[0].count;
      labels.replaceChildren(...s.top_labels.map((l) => {
        const line = document.createElement("div");
        line.className = "label-row";
        const name = Object.assign(document.createElement("span"), { className: "label-name", textContent: l.label });
        const bar = Object.assign(document.createElement("span"), { className: "label-bar" });
        bar.style.width = Math.max(2, (100 * l.count) / top) + "%";
        const count = Object.assign(document.createElement("span"), { className: "label-count", textContent: fmt(l.count) });
        const track = Object.assign(document.createElement("span"), { className: "label-track" });
        track.appendChild(bar);
        line.append(name, track, count);
        return line;
      }));
    }
  }

  async function poll() {
    try {
      const [status, batches] = await Promise.all([
        fetch("/api/status", { cache: "no-store" }).then((r) => r.json()),
        fetch("/api/batches?limit=" + BATCHES, { cache: "no-store" }).then((r) => r.json()),
      ]);
      drawStatus(status);
      drawBatches(batches);
      $("connection").textContent = "live · " + new Date().toLocaleTimeString();
      $("connection").className = "conn live";
    } catch (e) {
      $("connection").textContent = "sluice unreachable: " + e.message;
      $("connection").className = "conn down";
    }
    setTimeout(poll, POLL_MS);
  }

  makeCharts();
  poll();
})();
