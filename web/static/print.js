// The print button of print pages: the browser's print dialog (Ctrl+P does the same).
document.querySelectorAll("[data-print]").forEach(function (b) {
  b.addEventListener("click", function () { window.print(); });
});
