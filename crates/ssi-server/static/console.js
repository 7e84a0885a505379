// Developer console: copy buttons. A button with data-copy="ID" copies the
// text of the element with that id. Loaded from 'self' (no inline script).
"use strict";

function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text);
  }
  // Plain-HTTP deployments: the older selection-based copy.
  return new Promise(function (resolve, reject) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "sr";
    document.body.appendChild(area);
    area.select();
    var ok = document.execCommand("copy");
    document.body.removeChild(area);
    if (ok) { resolve(); } else { reject(new Error("copy refused")); }
  });
}

document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) { return; }
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (!source) { return; }
  var label = button.getAttribute("data-label") || button.textContent;
  button.setAttribute("data-label", label);
  copyText(source.textContent.trim()).then(function () {
    button.textContent = "Copied";
    button.classList.add("copied");
  }, function () {
    // The browser refused: select the text so that the user can copy it.
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Press Ctrl+C";
  });
  window.setTimeout(function () {
    button.textContent = label;
    button.classList.remove("copied");
  }, 2000);
});
