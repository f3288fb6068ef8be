/**
 * Safe and visible actions, on every page (served by the app: no CDN; no inline script).
 *
 * - Confirmation: a form (or its submit button) with data-confirm="<what will happen>"
 *   asks first, in a dialog that says it, with data-confirm-ok as the words of the button
 *   that goes ahead (default: the button's own words) and the body's data-word-back as
 *   the words of the one that does not. Nothing is sent until the user says yes.
 *   "{name}" in the words is replaced by what is chosen in the form's field of that name.
 * - Where the user was: submitting a form remembers the section it sits in (the nearest
 *   element with an id) and the scroll position; on the page that answers, within a
 *   minute, that section is scrolled back into view, and the result of the action (the
 *   flash messages, or the form's own error) is shown there, not out of view at the top.
 * - [data-print] buttons print the page.
 * - The bar's "更多" menu closes on Esc and on a click or focus outside it.
 */
(function () {
  "use strict";
  const KEY = "mediation:last-action";
  const body = document.body;

  function words(name, fallback) {
    return (body && body.dataset[name]) || fallback;
  }

  function ask(message, okWords) {
    return new Promise((resolve) => {
      const dialog = document.createElement("dialog");
      dialog.className = "confirm-dialog";
      dialog.setAttribute("aria-labelledby", "confirm-dialog-text");
      const text = document.createElement("p");
      text.id = "confirm-dialog-text";
      text.textContent = message;
      const row = document.createElement("p");
      row.className = "confirm-buttons";
      const back = document.createElement("button");
      back.type = "button";
      back.className = "secondary";
      back.textContent = words("wordBack", "不，返回");
      const ok = document.createElement("button");
      ok.type = "button";
      ok.className = "danger";
      ok.dataset.confirmOk = "";
      ok.textContent = okWords;
      row.append(back, ok);
      dialog.append(text, row);
      document.body.append(dialog);
      const done = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
      back.addEventListener("click", () => done(false));
      ok.addEventListener("click", () => done(true));
      dialog.addEventListener("cancel", (e) => { e.preventDefault(); done(false); });
      dialog.showModal();
      back.focus(); // the safe answer is the one Enter gives
    });
  }

  function remember(form) {
    const section = form.closest("[id]");
    try {
      sessionStorage.setItem(KEY, JSON.stringify({
        anchor: section ? section.id : "", y: window.scrollY, at: Date.now(),
      }));
    } catch (e) { /* private mode: the page still works, only less helpfully */ }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    const button = event.submitter;
    const holder = button && button.dataset.confirm ? button : form;
    // "{status}" in the words stands for what is chosen in the form's field "status".
    const message = holder.dataset.confirm && holder.dataset.confirm.replace(/\{(\w+)\}/g, (all, name) => {
      const field = form.elements.namedItem(name);
      if (field instanceof HTMLSelectElement) return field.selectedOptions[0] ? field.selectedOptions[0].text : "";
      return field && "value" in field ? field.value : all;
    });
    if (message && form.dataset.confirmed !== "yes") {
      event.preventDefault();
      const okWords = holder.dataset.confirmOk || (button && button.textContent.trim()) || "OK";
      ask(message, okWords).then((yes) => {
        if (!yes) return;
        form.dataset.confirmed = "yes";
        remember(form);
        if (form.requestSubmit) form.requestSubmit(button || undefined); else form.submit();
        delete form.dataset.confirmed;
      });
      return;
    }
    remember(form);
  }, true);

  function showResult() {
    let last = null;
    try {
      last = JSON.parse(sessionStorage.getItem(KEY) || "null");
      sessionStorage.removeItem(KEY);
    } catch (e) { last = null; }
    if (!last || Date.now() - last.at > 60000) return;
    const target = last.anchor && document.getElementById(last.anchor);
    const flashes = Array.from(document.querySelectorAll("main > .flash"));
    if (target) {
      if (flashes.length) {
        const box = document.createElement("div");
        box.className = "action-result";
        box.id = "action-result";
        box.tabIndex = -1;
        flashes.forEach((f) => box.append(f));
        target.prepend(box);
      }
      const alert = target.querySelector(".action-result, [role=alert], .field-error");
      (alert || target).scrollIntoView({ block: "center" });
      if (alert) alert.focus && alert.focus({ preventScroll: true });
    } else if (flashes.length) {
      window.scrollTo(0, 0); // the section is gone (e.g. the form vanished): the top says it
    } else {
      window.scrollTo(0, last.y || 0);
    }
  }

  document.addEventListener("click", (event) => {
    const el = event.target instanceof Element && event.target.closest("[data-print]");
    if (el) window.print();
  });

  // The bar's "更多" menu is a <details> (keyboard: Tab to it, Enter or Space opens it):
  // Esc closes it and puts the focus back on it; a click or focus elsewhere closes it.
  function closeMenus(except, refocus) {
    document.querySelectorAll("details.more[open]").forEach((menu) => {
      if (except && menu.contains(except)) return;
      menu.open = false;
      if (refocus) menu.querySelector("summary").focus();
    });
  }
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && document.querySelector("details.more[open]")) {
      closeMenus(null, event.target instanceof Element && !!event.target.closest("details.more"));
    }
  });
  document.addEventListener("click", (event) => closeMenus(event.target instanceof Element ? event.target : null, false));
  document.addEventListener("focusin", (event) => closeMenus(event.target instanceof Element ? event.target : null, false));

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", showResult);
  else showResult();
})();
