/* The case page's documents: pick files or drop them on the zone; they go up together
 * with a progress bar (XMLHttpRequest: fetch has no upload progress). Handlers are on the
 * document, not on the part: a live refresh swaps the part's HTML. */

function zoneOf(node) {
  return node instanceof Element ? node.closest("[data-dropzone]") : null;
}

function showErrors(zone, messages) {
  const list = zone.querySelector("[data-upload-errors]");
  list.replaceChildren(...messages.map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
}

export function upload(zone, files) {
  if (!files.length) return;
  const form = new FormData();
  form.append("kind", zone.querySelector("[data-upload-kind]").value);
  const attach = zone.querySelector("[data-upload-attach]");
  if (attach && attach.value) form.append("attach_to", attach.value);
  for (const file of files) form.append("files", file, file.name);
  const progress = zone.querySelector("[data-upload-progress]");
  progress.hidden = false;
  progress.value = 0;
  showErrors(zone, []);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", zone.dataset.uploadUrl);
  xhr.setRequestHeader("X-CSRFToken", zone.dataset.csrf);
  xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
  xhr.upload.addEventListener("progress", (e) => {
    if (e.lengthComputable) progress.value = Math.round((100 * e.loaded) / e.total);
  });
  xhr.addEventListener("load", () => {
    progress.value = 100;
    if (xhr.status === 201) {
      zone.dataset.uploaded = String(Number(zone.dataset.uploaded || 0) + files.length);
      return; // the document.added events re-render the list on every open page
    }
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    const errors = body.errors ? Object.values(body.errors).flat() : [body.message || `HTTP ${xhr.status}`];
    showErrors(zone, errors);
  });
  xhr.addEventListener("error", () => showErrors(zone, ["network error"]));
  xhr.send(form);
}

document.addEventListener("change", (e) => {
  const zone = zoneOf(e.target);
  if (zone && e.target.matches("[data-upload-input]")) {
    upload(zone, [...e.target.files]);
    e.target.value = "";
  }
});
for (const type of ["dragenter", "dragover"]) {
  document.addEventListener(type, (e) => {
    const zone = zoneOf(e.target);
    if (zone) { e.preventDefault(); zone.classList.add("dragging"); }
  });
}
document.addEventListener("dragleave", (e) => {
  const zone = zoneOf(e.target);
  if (zone) zone.classList.remove("dragging");
});
document.addEventListener("drop", (e) => {
  const zone = zoneOf(e.target);
  if (!zone) return;
  e.preventDefault();
  zone.classList.remove("dragging");
  upload(zone, [...(e.dataTransfer?.files || [])]);
});
