// Tiny DOM helper: builds elements with textContent only (never innerHTML with data).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  fill(el, children, false);
  return el;
}

/** Replace (or append to) an element's children; arrays are flattened, null/false skipped. */
export function fill(el, children, replace = true) {
  const nodes = [];
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    nodes.push(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  if (replace) el.replaceChildren(...nodes);
  else el.append(...nodes);
  return el;
}

export function $(id) {
  return document.getElementById(id);
}
