// Progressive enhancements only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // Ask before destructive buttons marked with data-confirm.
  document.querySelectorAll("[data-confirm]").forEach((el) => {
    el.addEventListener("click", (event) => {
      if (!window.confirm(el.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
});

// Auto-refresh of the deliveries and dead-letter lists (asked for with ?auto=on): reload every
// few seconds, but never while the user has selected rows or is typing in a form.
document.addEventListener("DOMContentLoaded", () => {
  const meta = document.querySelector('meta[name="herald-refresh"]');
  if (!meta) return;
  const seconds = Math.max(5, parseInt(meta.getAttribute("content"), 10) || 10);
  window.setInterval(() => {
    const busy =
      document.querySelector('input[type="checkbox"]:checked') ||
      (document.activeElement && document.activeElement.closest("form"));
    if (!busy) window.location.reload();
  }, seconds * 1000);
});
