/**
 * Keyboard shortcuts for the daily moves, on every page (listed on `?`):
 *   /      the search box in the header
 *   j / k  next / previous row of the page's list (a table with data-rows)
 *   Enter  open the row's case;  x  tick the row (the board's bulk actions)
 *   g b    the board;  g h  my cases
 *   ?      the help overlay;  Esc closes it
 * Keys typed into a field are the field's: nothing here fires while one has the focus.
 * Also: the board's "select all" box and the count of ticked rows (kept across live updates).
 */
const script = document.currentScript || document.querySelector('script[src*="shortcuts.js"]');
const links = { b: script?.dataset.board, h: script?.dataset.home };
let pending = null; // "g" waiting for its second key
let pendingTimer = 0;

function typing(target) {
  return target instanceof Element && (target.closest("input, textarea, select, [contenteditable]") !== null);
}

function rows() {
  const table = document.querySelector("table[data-rows]");
  return table ? [...table.querySelectorAll("tbody tr[data-case]")] : [];
}

function currentRow() {
  return document.querySelector("tr[data-case].current");
}

function move(step) {
  const all = rows();
  if (!all.length) return;
  const at = all.indexOf(currentRow());
  const next = all[Math.max(0, Math.min(all.length - 1, at < 0 ? (step > 0 ? 0 : all.length - 1) : at + step))];
  for (const r of all) r.classList.remove("current");
  next.classList.add("current");
  next.setAttribute("aria-current", "true");
  for (const r of all) if (r !== next) r.removeAttribute("aria-current");
  const link = next.querySelector("a[href]");
  (link || next).focus({ preventScroll: true });
  next.scrollIntoView({ block: "nearest" });
}

function help() {
  const dialog = document.getElementById("shortcuts-help");
  if (dialog && !dialog.open) dialog.showModal();
}

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
  if (document.getElementById("shortcuts-help")?.open) return; // Esc and the button close it
  if (pending === "g") {
    pending = null;
    clearTimeout(pendingTimer);
    if (links[e.key]) {
      e.preventDefault();
      window.location.assign(links[e.key]);
    }
    return;
  }
  switch (e.key) {
    case "/": {
      const box = document.getElementById("site-search");
      if (box) {
        e.preventDefault();
        box.focus();
        box.select();
      }
      break;
    }
    case "j": e.preventDefault(); move(1); break;
    case "k": e.preventDefault(); move(-1); break;
    case "x": {
      const box = currentRow()?.querySelector('input[type="checkbox"]');
      if (box) {
        e.preventDefault();
        box.click();
      }
      break;
    }
    case "Enter": {
      const link = currentRow()?.querySelector("a[href]");
      if (link && document.activeElement === document.body) {
        e.preventDefault();
        link.click();
      }
      break;
    }
    case "g":
      pending = "g";
      pendingTimer = setTimeout(() => { pending = null; }, 1500);
      break;
    case "?": e.preventDefault(); help(); break;
    default: break;
  }
});

// --- the board's ticked rows ------------------------------------------------------------------
const bulk = document.getElementById("bulk");
if (bulk) {
  const ticked = new Set();
  const count = bulk.querySelector("[data-bulk-count]");
  const boxes = () => [...document.querySelectorAll('input[type="checkbox"][name="case"][form="bulk"]')];
  const show = () => {
    if (count) count.textContent = count.dataset.template.replace("{n}", String(ticked.size));
  };
  const restore = () => {
    for (const box of boxes()) box.checked = ticked.has(box.value);
    const all = document.querySelector("[data-select-all]");
    if (all) all.checked = boxes().length > 0 && boxes().every((b) => b.checked);
    show();
  };
  document.addEventListener("change", (e) => {
    const box = e.target;
    if (!(box instanceof HTMLInputElement)) return;
    if (box.matches("[data-select-all]")) {
      for (const b of boxes()) {
        b.checked = box.checked;
        if (box.checked) ticked.add(b.value); else ticked.delete(b.value);
      }
    } else if (box.name === "case" && box.form === bulk) {
      if (box.checked) ticked.add(box.value); else ticked.delete(box.value);
    } else {
      return;
    }
    restore();
  });
  // A live update re-renders the rows: the ticks stay.
  document.addEventListener("live:refreshed", restore);
  // Ticked rows no longer on the page (after a live update) still go with the form.
  bulk.addEventListener("formdata", (e) => {
    const shown = new Set(boxes().filter((b) => b.checked).map((b) => b.value));
    for (const id of ticked) if (!shown.has(id)) e.formData.append("case", id);
  });
  restore();
}
