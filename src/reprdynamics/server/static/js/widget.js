// The anywidget front end of reprdynamics.widget (the Python side: reprdynamics/widget/).
//
// It shows the dashboard's page for the widget (static/widget.html: the dashboard's own
// heat map, data map and projection) in an iframe on the dashboard server the kernel
// started, and keeps the selection in step with the model both ways through
// window.postMessage. An iframe, not the views mounted in the notebook's page: the views
// find their elements by id and the page's CSS is global (two widgets, or the notebook's
// own styles, would clash), and every request stays on the dashboard's own origin, so its
// guard against other sites' requests (same-origin POSTs only) holds unchanged.
//
// The model's traits: url (the server, as the browser reaches it), run_name (its name there),
// height (CSS pixels, or null: as tall as the views), theme ("light", "dark", or null:
// the notebook's), and _selection: the sorted sample ids as int32 little-endian bytes (a
// binary buffer, not a JSON list). See js/../embed.js for the messages.

const SOURCE = "reprdynamics";
/** How long the page may take to say hello before the widget says it cannot be reached. */
const UNREACHABLE_MS = 8000;

/** The ids in the model's bytes (a DataView, an ArrayBuffer or a typed array). */
export function decodeIds(value) {
  if (!value) return new Int32Array(0);
  if (Array.isArray(value)) return Int32Array.from(value);
  const view = value instanceof DataView ? value
    : ArrayBuffer.isView(value) ? new DataView(value.buffer, value.byteOffset, value.byteLength)
    : new DataView(value);
  const ids = new Int32Array(view.byteLength >> 2);
  for (let i = 0; i < ids.length; i++) ids[i] = view.getInt32(4 * i, true);
  return ids;
}

/** The model's bytes of `ids` (int32 little-endian), as a DataView (a binary buffer). */
export function encodeIds(ids) {
  const view = new DataView(new ArrayBuffer(4 * ids.length));
  for (let i = 0; i < ids.length; i++) view.setInt32(4 * i, ids[i], true);
  return view;
}

function same(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The notebook's theme: JupyterLab marks its body with data-jp-theme-light. */
function notebookTheme() {
  const light = document.body?.dataset?.jpThemeLight;
  return light === "false" ? "dark" : "light";
}

function render({ model, el }) {
  const base = String(model.get("url") || "").replace(/\/+$/, "");
  const origin = new URL(base, location.href).origin;
  const theme = model.get("theme") || notebookTheme();
  const query = new URLSearchParams({ run: model.get("run_name") || "", theme, origin: location.origin });
  const frame = document.createElement("iframe");
  frame.src = `${base}/static/widget.html?${query}`;
  frame.title = "ReprDynamics: heat map, data map and projection";
  frame.className = "reprdynamics-widget";
  const fixed = model.get("height");
  Object.assign(frame.style, {
    width: "100%",
    height: `${fixed || 640}px`,
    border: "0",
    display: "block",
    colorScheme: "normal",
  });
  el.replaceChildren(frame);
  // A browser that cannot reach the kernel's server (a remote kernel) shows an empty frame:
  // say why, and what to do.
  const hint = document.createElement("div");
  hint.className = "reprdynamics-unreachable";
  Object.assign(hint.style, {
    padding: "6px 10px",
    marginBottom: "4px",
    borderLeft: "3px solid #d9730d",
    font: "13px system-ui, sans-serif",
  });
  hint.textContent = `The widget's dashboard server at ${base} does not answer this browser. ` +
    "It runs in the kernel on 127.0.0.1: with a kernel on another machine, forward its port " +
    "(rd.widget(run, port=PORT) and ssh -L PORT:127.0.0.1:PORT); see docs/notebook.md.";
  const unreachable = setTimeout(() => el.prepend(hint), UNREACHABLE_MS);

  let shown = decodeIds(model.get("_selection")); // what the page shows, as far as we know
  const send = (ids) => frame.contentWindow?.postMessage({ source: SOURCE, type: "select", ids }, origin);

  const onMessage = (event) => {
    const data = event.data;
    if (event.source !== frame.contentWindow || event.origin !== origin || data?.source !== SOURCE) return;
    if (data.type === "hello") {
      clearTimeout(unreachable);
      hint.remove();
      shown = decodeIds(model.get("_selection"));
      send(shown);
    } else if (data.type === "selection") {
      const ids = Int32Array.from(data.ids || []);
      if (same(ids, shown)) return;
      shown = ids;
      model.set("_selection", encodeIds(ids));
      model.save_changes();
    } else if (data.type === "height" && !fixed) {
      const height = Math.max(120, Math.min(Number(data.height) || 0, 6000));
      frame.style.height = `${height}px`;
    } else if (data.type === "error") {
      el.dataset.error = String(data.message || "error");
    } else if (data.type === "ready") {
      el.dataset.ready = "true";
    }
  };
  window.addEventListener("message", onMessage);

  const onChange = () => {
    const ids = decodeIds(model.get("_selection"));
    if (same(ids, shown)) return; // our own set, or no change
    shown = ids;
    send(ids);
  };
  model.on("change:_selection", onChange);

  return () => {
    clearTimeout(unreachable);
    window.removeEventListener("message", onMessage);
    model.off("change:_selection", onChange);
  };
}

export default { render };
