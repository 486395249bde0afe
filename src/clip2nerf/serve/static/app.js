"use strict";
// The clip2nerf page: plain DOM calls against the JSON API (no framework, no CDN).
const $ = (id) => document.getElementById(id);
let pending = 0;

function busy(on, what) {
  pending += on ? 1 : -1;
  $("busy").hidden = pending === 0;
  if (what) $("busy-text").textContent = what;
  document.body.classList.toggle("is-busy", pending > 0);
  for (const b of document.querySelectorAll("button")) b.disabled = pending > 0;
}

function showError(msg) {
  const el = $("error");
  el.textContent = msg || "";
  el.hidden = !msg;
}

async function call(url, options, what) {
  busy(true, what);
  try {
    const r = await fetch(url, options);
    const type = r.headers.get("content-type") || "";
    if (!r.ok) {
      const body = type.includes("json") ? await r.json() : { error: await r.text() };
      throw new Error(body.error || `HTTP ${r.status}`);
    }
    return type.includes("json") ? await r.json() : await r.blob();
  } finally {
    busy(false);
  }
}

function el(tag, attrs = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.appendChild(c);
  return e;
}

function kValue() {
  const k = parseInt($("k").value, 10);
  return Number.isFinite(k) ? k : 8;
}

function showResults(data, label) {
  const grid = $("results");
  grid.replaceChildren();
  $("results-head").textContent =
    `${data.results.length} results for ${label} · catalogue ${data.version} (${data.size} NeRFs)`;
  for (const h of data.results) {
    const tile = el("div", { class: "tile", "data-id": h.id, title: h.caption || h.id }, [
      el("img", { src: h.thumbnail, alt: h.id, loading: "lazy" }),
      el("div", { class: "cls", text: `${h.rank}. ${h.class}` }),
      el("div", { class: "meta", text: `score ${h.score.toFixed(3)}` }),
      el("div", { class: "meta", text: h.id }),
    ]);
    tile.addEventListener("click", () => showDetail(h.id, tile));
    grid.appendChild(tile);
  }
}

async function showDetail(id, tile) {
  for (const t of document.querySelectorAll(".tile.selected")) t.classList.remove("selected");
  if (tile) tile.classList.add("selected");
  try {
    const info = await call(`/api/nerfs/${encodeURIComponent(id)}`, {}, "loading views…");
    $("detail").hidden = false;
    $("detail-title").textContent = `${info.id} · ${info.class}`;
    $("detail-views").replaceChildren(...info.views.map((u) => el("img", { src: u, alt: "view" })));
    const meta = $("detail-meta");
    meta.replaceChildren();
    for (const [k, v] of [["class", info.class], ["caption", info.caption || "—"],
                          ["file", info.file || "—"], ["added", info.added || "original"],
                          ["version", info.version]]) {
      meta.append(el("dt", { text: k }), el("dd", { text: v }));
    }
  } catch (e) { showError(e.message); }
}

$("text-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("text-query").value.trim();
  if (!text) return;
  showError("");
  try {
    const data = await call("/api/search/text", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ text, k: kValue() }) }, "searching…");
    showResults(data, `“${text}”`);
  } catch (e) { showError(e.message); }
});

async function searchImages(files) {
  files = [...files].filter((f) => f.type.startsWith("image/") || f.type === "");
  if (!files.length) { showError("drop image files (PNG, JPEG, …)"); return; }
  showError("");
  $("query-previews").replaceChildren(...files.slice(0, 16).map(
    (f) => el("img", { src: URL.createObjectURL(f), alt: f.name })));
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  form.append("k", String(kValue()));
  try {
    const data = await call("/api/search/images", { method: "POST", body: form }, "searching…");
    showResults(data, files.length > 1 ? `${files.length} photos` : "the photo");
  } catch (e) { showError(e.message); }
}

const drop = $("drop-zone");
drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (ev) => {
  ev.preventDefault();
  drop.classList.remove("over");
  searchImages(ev.dataTransfer.files);
});
$("image-input").addEventListener("change", (ev) => searchImages(ev.target.files));

$("nerf-input").addEventListener("change", async (ev) => {
  const file = ev.target.files[0];
  if (!file) return;
  const out = $("classify-result");
  out.replaceChildren();
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const r = await call("/api/classify", { method: "POST", body: form }, "labelling…");
    const top = r.scores[0].score, low = r.scores[r.scores.length - 1].score;
    const bars = r.scores.slice(0, 5).map((s) => el("div", { class: "bar" }, [
      el("span", { text: s.class }),
      el("span", { class: "b", style: `width:${Math.max(4, 100 * (s.score - low) / Math.max(top - low, 1e-6))}%` }),
      el("span", { text: s.score.toFixed(3) })]));
    out.append(el("div", { class: "label", id: "nerf-label", text: r.label }),
               el("div", { class: "muted", text: `${r.file} · score ${r.score.toFixed(3)}` +
                   (r.stored_class && r.stored_class !== "unknown" ? ` · stored class ${r.stored_class}` : "") }),
               el("div", { class: "bars" }, bars));
  } catch (e) {
    out.append(el("div", { class: "error", text: e.message }));
  }
});

$("generate-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("generate-text").value.trim();
  const out = $("generate-result");
  out.replaceChildren();
  try {
    const blob = await call("/api/generate/text", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ text, views: 4 }) }, "generating…");
    out.append(el("img", { src: URL.createObjectURL(blob), alt: "generated views", id: "generated" }));
  } catch (e) {
    out.append(el("div", { class: "error", text: e.message }));
  }
});

(async () => {
  try {
    const c = await call("/api/catalogue", {}, "loading…");
    $("info").textContent = `${c.size} NeRFs · ${c.version} · VLM ${c.vlm} · ${c.classes.length} classes`;
  } catch (e) { $("info").textContent = "catalogue unavailable"; showError(e.message); }
})();
