// A small Markdown renderer for the packaged docs (static/docs/measures.md, a copy of
// docs/measures.md kept in step by scripts/sync_docs.py). It knows what those pages use:
// headings, paragraphs, "-" lists, pipe tables, `code`, **bold**, *italic* and links.
//
// Anchors, for the dashboard's links:
// - a heading's id is its text without code spans or a trailing "(...)", lowercased,
//   spaces as "-": "## Fingerprints (`reprdynamics.fingerprint(...)`)" -> #fingerprints;
// - a table row whose first cell starts with `code` gets "<section>-<code>", e.g.
//   #fingerprints-neighbour-transition, #per-sample-dynamics-aum (each code span of the
//   first cell gets one: #per-sample-dynamics-entropy_mean).

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHTML = (text) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]);

/** The anchor of a heading or a code name: lowercase letters, digits, "_" and "-". */
export function slug(text) {
  return text
    .normalize("NFKD")
    .toLowerCase()
    .replace(/[^a-z0-9_\s-]/g, "")
    .trim()
    .replace(/\s+/g, "-")
    .replace(/-+/g, "-");
}

/** A heading's anchor text: without code spans and a trailing parenthesis. */
export function headingAnchor(text) {
  const bare = text.replace(/`[^`]*`/g, "").replace(/\([^)]*\)\s*$/, "").replace(/\(\s*\)/g, "");
  return slug(bare) || slug(text);
}

/** Inline Markdown to HTML (the text is escaped; code spans are taken first, verbatim). */
export function inline(text, { resolveLink = (href) => href } = {}) {
  const codes = [];
  let out = text.replace(/`([^`]+)`/g, (_, code) => {
    codes.push(`<code>${escapeHTML(code)}</code>`);
    return `\u0000${codes.length - 1}\u0000`;
  });
  out = escapeHTML(out);
  out = out.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_, label, href) => {
    const target = resolveLink(href.replace(/&amp;/g, "&"));
    return target ? `<a href="${escapeHTML(target)}">${label}</a>` : `<span class="doc-ref" title="${escapeHTML(href)} in the repository's docs/">${label}</span>`;
  });
  out = out.replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");
  out = out.replace(/(^|[^\w*])\*([^*\s][^*]*?)\*(?!\w)/g, "$1<em>$2</em>");
  return out.replace(/\u0000(\d+)\u0000/g, (_, i) => codes[+i]);
}

/** The cells of a table row: split at "|" outside code spans. */
export function cells(line) {
  let row = line.trim();
  if (row.startsWith("|")) row = row.slice(1);
  if (row.endsWith("|") && !row.endsWith("\\|")) row = row.slice(0, -1);
  const out = [];
  let cell = "";
  let inCode = false;
  for (const ch of row) {
    if (ch === "`") inCode = !inCode;
    if (ch === "|" && !inCode) {
      out.push(cell.trim());
      cell = "";
    } else {
      cell += ch;
    }
  }
  out.push(cell.trim());
  return out;
}

const isSeparator = (line) => /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/.test(line);

/**
 * Markdown text to HTML. Links to other .md files of docs/ (not packaged) become plain
 * text naming the file; `#…` links stay; other links are kept as they are (following one
 * is the reader's choice: nothing is fetched from them).
 */
export function render(markdown) {
  const lines = markdown.replace(/\r\n?/g, "\n").split("\n");
  const html = [];
  const used = new Map();
  const unique = (id) => {
    const n = used.get(id) || 0;
    used.set(id, n + 1);
    return n ? `${id}-${n + 1}` : id;
  };
  const resolveLink = (href) => (/^[\w./-]+\.md(#.*)?$/.test(href) && !/^https?:/.test(href) ? null : href);
  const fmt = (text) => inline(text, { resolveLink });
  let section = "";
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i++;
      continue;
    }
    const heading = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      const level = heading[1].length;
      const id = unique(headingAnchor(heading[2]));
      if (level <= 2) section = id;
      html.push(`<h${level} id="${id}">${fmt(heading[2])} <a class="anchor" href="#${id}" aria-label="link to this section">#</a></h${level}>`);
      i++;
      continue;
    }
    if (line.trim().startsWith("|") && i + 1 < lines.length && isSeparator(lines[i + 1])) {
      const head = cells(line);
      i += 2;
      const rows = [];
      while (i < lines.length && lines[i].trim().startsWith("|")) rows.push(cells(lines[i++]));
      const body = rows.map((row) => {
        const names = [...(row[0] || "").matchAll(/`([^`]+)`/g)].map((m) => slug(m[1])).filter(Boolean);
        const ids = names.length && /^\s*`/.test(row[0]) ? names.map((name) => unique(`${section}-${name}`)) : [];
        const anchors = ids.slice(1).map((id) => `<span id="${id}"></span>`).join("");
        const tds = row.map((cell, c) => `<td>${c === 0 ? anchors : ""}${fmt(cell)}</td>`).join("");
        return `<tr${ids.length ? ` id="${ids[0]}"` : ""}>${tds}</tr>`;
      });
      html.push(`<table><thead><tr>${head.map((h) => `<th>${fmt(h)}</th>`).join("")}</tr></thead><tbody>${body.join("")}</tbody></table>`);
      continue;
    }
    if (/^\s*[-*]\s+/.test(line)) {
      const items = [];
      while (i < lines.length && (/^\s*[-*]\s+/.test(lines[i]) || (/^\s{2,}\S/.test(lines[i]) && items.length))) {
        if (/^\s*[-*]\s+/.test(lines[i])) items.push(lines[i].replace(/^\s*[-*]\s+/, ""));
        else items[items.length - 1] += ` ${lines[i].trim()}`;
        i++;
      }
      html.push(`<ul>${items.map((item) => `<li>${fmt(item)}</li>`).join("")}</ul>`);
      continue;
    }
    const para = [];
    while (i < lines.length && lines[i].trim() && !/^(#{1,6})\s/.test(lines[i]) && !/^\s*[-*]\s+/.test(lines[i]) && !lines[i].trim().startsWith("|")) {
      para.push(lines[i].trim());
      i++;
    }
    if (!para.length) {
      // A line that starts a block the loop above did not take (a lone "|" row).
      para.push(lines[i].trim());
      i++;
    }
    html.push(`<p>${fmt(para.join(" "))}</p>`);
  }
  return html.join("\n");
}

/** Render `source` (a URL of this server) into `target`, then go to the URL's anchor. */
export async function show(source, target) {
  try {
    const response = await fetch(source, { cache: "no-cache" });
    if (!response.ok) throw new Error(`${source} answered ${response.status}`);
    target.innerHTML = render(await response.text());
    document.title = `${target.querySelector("h1")?.textContent.replace(/#$/, "").trim() || "Docs"} — ReprDynamics`;
  } catch (err) {
    target.textContent = `Could not show the docs: ${err.message}`;
    target.dataset.state = "error";
    return;
  }
  target.dataset.state = "ready";
  goToAnchor();
}

function goToAnchor() {
  const id = decodeURIComponent(location.hash.slice(1));
  const node = id && document.getElementById(id);
  for (const old of document.querySelectorAll(".target")) old.classList.remove("target");
  if (!node) return;
  (node.tagName === "SPAN" ? node.closest("tr") || node : node).classList.add("target");
  node.scrollIntoView({ block: "start" });
}

if (typeof window !== "undefined") window.addEventListener("hashchange", goToAnchor);
