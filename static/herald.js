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

// Copy buttons beside values shown once (tokens, signing secrets). The button stays hidden
// without the Clipboard API (or on plain http, where browsers withhold it): the value is then
// a read-only field to select and copy by hand, and focusing it selects it all.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("input.secret-value").forEach((field) => {
    field.addEventListener("focus", () => field.select());
  });
  if (!(navigator.clipboard && window.isSecureContext)) return;
  document.querySelectorAll("[data-copy-from]").forEach((button) => {
    const field = document.getElementById(button.getAttribute("data-copy-from"));
    if (!field) return;
    const status = document.getElementById(button.getAttribute("aria-describedby"));
    const say = (text) => {
      if (status) status.textContent = text;
    };
    button.hidden = false;
    button.addEventListener("click", () => {
      navigator.clipboard.writeText(field.value).then(
        () => {
          button.textContent = "Copied";
          say("Copied to the clipboard.");
          window.setTimeout(() => {
            button.textContent = "Copy";
          }, 2000);
        },
        () => {
          field.focus();
          field.select();
          say("Copying was refused by the browser: the value is selected, press Ctrl+C (⌘C) to copy it.");
        },
      );
    });
  });
});
