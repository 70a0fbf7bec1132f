// The dashboard: traffic over the last 24 hours (hourly) or 7 days (daily) from
// /admin/api/usage (totals, series, and the same range grouped by model, key and account
// tier), account states and cache sizes from /admin/api/metrics. The numbers on the cards
// are the API's totals as they came; the charts draw the series (gaps filled with zeros).
import { $, $$, api, fill, fmt, h, showError, t } from './core.js';

const HOUR = 3600;
const DAY = 86400;
/** Groups drawn by name in a breakdown; the rest are summed as "other". */
const TOP = 8;

const state = { range: '24h' };
const charts = new Map();

/** The palette from the stylesheet's variables, so dark mode reads as well. */
function palette() {
  const css = getComputedStyle(document.documentElement);
  const v = (name) => css.getPropertyValue(name).trim();
  return {
    text: v('--muted'), line: v('--line'), accent: v('--accent'), ok: v('--ok'),
    bad: v('--bad'), warn: v('--warn'),
    series: [v('--accent'), '#16a34a', '#f59e0b', '#db2777', '#0891b2', '#7c3aed', '#dc2626',
      '#65a30d', '#94a3b8'],
  };
}

/** The window a range covers: whole buckets, the current one last. */
function rangeWindow(range, now = Math.floor(Date.now() / 1000)) {
  if (range === '7d') {
    const day0 = now - (now % DAY);
    return { from: day0 - 6 * DAY, to: now, size: DAY, count: 7 };
  }
  const hour0 = now - (now % HOUR);
  return { from: hour0 - 23 * HOUR, to: now, size: HOUR, count: 24 };
}

function bucketLabel(bucket, size) {
  const d = new Date(bucket * 1000);
  if (size === DAY) return d.toISOString().slice(5, 10); // daily buckets are UTC days
  return d.toLocaleTimeString(document.documentElement.lang, { hour: '2-digit', minute: '2-digit', hour12: false });
}

/** Every bucket of the window, zeros where the API has no row. */
function filled(series, win) {
  const byBucket = new Map(series.map((row) => [row.bucket, row]));
  const out = [];
  for (let i = 0; i < win.count; i += 1) {
    const bucket = win.from + i * win.size;
    out.push(byBucket.get(bucket) ?? { bucket, requests: 0, failures: 0, prompt_tokens: 0,
      completion_tokens: 0, total_tokens: 0, avg_duration_ms: null, avg_ttft_ms: null });
  }
  return out;
}

/** A grouped series summed per group, largest first, beyond TOP folded into "other". */
function byGroup(answer, nameOf = (g) => g) {
  const sums = new Map();
  for (const row of answer.series) {
    const name = nameOf(row.group) || t('datacenter.unknown');
    sums.set(name, (sums.get(name) ?? 0) + row.requests);
  }
  const sorted = [...sums.entries()].sort((a, b) => b[1] - a[1]);
  const head = sorted.slice(0, TOP);
  const rest = sorted.slice(TOP).reduce((n, [, c]) => n + c, 0);
  if (rest) head.push([t('datacenter.other'), rest]);
  return head;
}

function stat(id, label, value, hint) {
  return h('div', { class: 'stat', id: `stat-${id}` },
    h('div', { class: 'label' }, label),
    h('div', { class: 'value' }, value),
    hint ? h('div', { class: 'muted small' }, hint) : null);
}

/** Draw (or redraw) the chart on canvas `id`. */
function draw(id, config) {
  const old = charts.get(id);
  if (old) old.destroy();
  const canvas = document.getElementById(id);
  const colors = palette();
  const chart = new window.Chart(canvas, {
    ...config,
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: { duration: 250 },
      interaction: { mode: 'index', intersect: false },
      ...config.options,
      plugins: {
        legend: { labels: { color: colors.text, boxWidth: 12 } },
        ...(config.options?.plugins ?? {}),
      },
    },
  });
  charts.set(id, chart);
  return chart;
}

function axes(colors, { stacked = false, horizontal = false } = {}) {
  const grid = { color: colors.line };
  const value = { stacked, beginAtZero: true, ticks: { color: colors.text, precision: 0 }, grid };
  const category = { stacked, ticks: { color: colors.text, autoSkip: true, maxRotation: 0 }, grid: { display: false } };
  return horizontal ? { x: value, y: category } : { x: category, y: value };
}

function showTraffic(totals) {
  const rate = totals.requests ? (totals.requests - totals.failures) / totals.requests : null;
  fill($('#traffic-cards'),
    stat('requests', t('datacenter.requests'), fmt.number(totals.requests)),
    stat('success-rate', t('datacenter.success_rate'), fmt.percent(rate),
      t('datacenter.failed_n', { n: fmt.number(totals.failures) })),
    stat('tokens', t('datacenter.tokens'), fmt.number(totals.total_tokens),
      t('datacenter.tokens_split', { p: fmt.number(totals.prompt_tokens), c: fmt.number(totals.completion_tokens) })),
    stat('ttft', t('datacenter.avg_ttft'), fmt.duration(totals.avg_ttft_ms)),
    stat('latency', t('datacenter.avg_latency'), fmt.duration(totals.avg_duration_ms)),
    stat('streams', t('datacenter.streams'), fmt.number(totals.streams)));
}

function showSeries(series, win) {
  const rows = filled(series, win);
  const labels = rows.map((r) => bucketLabel(r.bucket, win.size));
  const c = palette();
  draw('chart-requests', {
    type: 'bar',
    data: {
      labels,
      datasets: [
        { label: t('datacenter.success'), data: rows.map((r) => r.requests - r.failures), backgroundColor: c.ok, stack: 'r' },
        { label: t('datacenter.failed'), data: rows.map((r) => r.failures), backgroundColor: c.bad, stack: 'r' },
      ],
    },
    options: { scales: axes(c, { stacked: true }) },
  });
  draw('chart-tokens', {
    type: 'bar',
    data: {
      labels,
      datasets: [
        { label: t('datacenter.prompt_tokens'), data: rows.map((r) => r.prompt_tokens), backgroundColor: c.accent, stack: 't' },
        { label: t('datacenter.completion_tokens'), data: rows.map((r) => r.completion_tokens), backgroundColor: c.series[2], stack: 't' },
      ],
    },
    options: { scales: axes(c, { stacked: true }) },
  });
  draw('chart-latency', {
    type: 'line',
    data: {
      labels,
      datasets: [
        { label: t('datacenter.avg_latency'), data: rows.map((r) => r.avg_duration_ms), borderColor: c.accent, backgroundColor: c.accent, spanGaps: true, tension: 0.25 },
        { label: t('datacenter.avg_ttft'), data: rows.map((r) => r.avg_ttft_ms), borderColor: c.series[3], backgroundColor: c.series[3], spanGaps: true, tension: 0.25 },
      ],
    },
    options: { scales: { ...axes(c), y: { ...axes(c).y, suggestedMax: 10, ticks: { color: c.text, precision: 0, callback: (v) => fmt.duration(v) } } } },
  });
}

function showBreakdown(id, pairs, type = 'bar') {
  const c = palette();
  const data = {
    labels: pairs.map(([name]) => name),
    datasets: [{ label: t('datacenter.requests'), data: pairs.map(([, n]) => n), maxBarThickness: 28,
      backgroundColor: pairs.map((_, i) => c.series[i % c.series.length]) }],
  };
  if (type === 'doughnut') {
    draw(id, { type, data, options: { plugins: { legend: { position: 'right', labels: { color: c.text, boxWidth: 12 } } } } });
  } else {
    draw(id, { type, data, options: { indexAxis: 'y', scales: axes(c, { horizontal: true }), plugins: { legend: { display: false } } } });
  }
}

function showAccounts(tokens) {
  fill($('#account-cards'),
    stat('accounts-total', t('datacenter.total'), fmt.number(tokens.total)),
    stat('accounts-active', t('datacenter.active'), fmt.number(tokens.active)),
    stat('accounts-cooling', t('datacenter.cooling'), fmt.number(tokens.cooling)),
    stat('accounts-expired', t('datacenter.expired'), fmt.number(tokens.expired)),
    stat('accounts-disabled', t('datacenter.disabled'), fmt.number(tokens.disabled)),
    stat('accounts-calls', t('datacenter.total_calls'), fmt.number(tokens.total_calls)));
  const c = palette();
  const states = [['active', c.ok], ['cooling', c.warn], ['expired', c.bad], ['disabled', '#94a3b8']];
  draw('chart-accounts', {
    type: 'doughnut',
    data: {
      labels: states.map(([s]) => t(`datacenter.${s}`)),
      datasets: [{ data: states.map(([s]) => tokens[s]), backgroundColor: states.map(([, col]) => col) }],
    },
    options: { plugins: { legend: { position: 'right', labels: { color: c.text, boxWidth: 12 } } } },
  });
}

function cacheRow(id, label, s) {
  const bar = h('span', {});
  bar.style.width = `${Math.min(100, s.usage_percent ?? 0)}%`;
  const limit = s.limited ? fmt.bytes(s.limit_bytes) : t('common.unlimited');
  return h('div', { id: `cache-${id}` },
    h('div', { class: 'row between' }, h('strong', {}, label),
      h('span', { class: 'muted' }, t('datacenter.files_n', { n: fmt.number(s.count) }))),
    h('div', { class: 'row' }, h('div', { class: 'progress' }, bar),
      h('span', { class: 'small' }, `${fmt.bytes(s.size_bytes)} / ${limit}`)));
}

function showCache(cache) {
  fill($('#cache-usage'),
    cacheRow('image', t('datacenter.images'), cache.local_image),
    cacheRow('video', t('datacenter.videos'), cache.local_video),
    h('a', { href: '/admin/cache', class: 'small' }, t('datacenter.manage_cache')));
}

async function load() {
  const win = rangeWindow(state.range);
  const q = { from: win.from, to: win.to };
  const [total, models, keys, tiers, metrics] = await Promise.all([
    api('/admin/api/usage', { query: q }),
    api('/admin/api/usage', { query: { ...q, group_by: 'model' } }),
    api('/admin/api/usage', { query: { ...q, group_by: 'key' } }),
    api('/admin/api/usage', { query: { ...q, group_by: 'tier' } }),
    api('/admin/api/metrics'),
  ]);
  showTraffic(total.totals);
  showSeries(total.series, win);
  showBreakdown('chart-models', byGroup(models));
  const names = keys.key_names ?? {};
  showBreakdown('chart-keys', byGroup(keys, (g) => names[g] || g));
  showBreakdown('chart-tiers', byGroup(tiers), 'doughnut');
  showAccounts(metrics.tokens);
  showCache(metrics.cache);
  fill($('#updated'), t('datacenter.updated', { time: new Date().toLocaleTimeString(document.documentElement.lang, { hour12: false }) }));
  document.body.dataset.loaded = state.range;
}

function reload() {
  delete document.body.dataset.loaded;
  load().catch(showError);
}

for (const button of $$('#range button')) {
  button.addEventListener('click', () => {
    state.range = button.dataset.range;
    for (const b of $$('#range button')) b.classList.toggle('on', b === button);
    reload();
  });
}
$('#refresh').addEventListener('click', reload);
reload();
