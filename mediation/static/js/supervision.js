/** The printable bulletin's "print" button (no inline script: the CSP forbids it). */
const button = document.getElementById("print-button");
if (button) button.addEventListener("click", () => window.print());
