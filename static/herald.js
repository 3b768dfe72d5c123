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

// Phones: the navigation folds behind a "Menu" button (without this file it simply wraps).
document.addEventListener("DOMContentLoaded", () => {
  const toggle = document.querySelector(".nav-toggle");
  const nav = document.getElementById("mainnav");
  if (!toggle || !nav) return;
  document.documentElement.classList.add("has-nav-toggle");
  toggle.hidden = false;
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("open", open);
  });
});

// Phones: tables become stacked cards; each cell is labelled with its column's heading.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".table-wrap table").forEach((table) => {
    const headings = Array.from(table.querySelectorAll("thead th")).map((th) => th.textContent.trim());
    table.querySelectorAll("tbody tr").forEach((row) => {
      let column = 0;
      Array.from(row.children).forEach((cell) => {
        if (headings[column]) cell.setAttribute("data-label", headings[column]);
        column += cell.colSpan || 1;
      });
    });
    table.classList.add("stackable");
  });
});

// Request/response panels of an attempt become tabs (without this file both show, one above
// the other).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-tabs]").forEach((box, boxIndex) => {
    const panels = Array.from(box.querySelectorAll(":scope > .tab-panel"));
    if (panels.length < 2) return;
    const list = document.createElement("div");
    list.setAttribute("role", "tablist");
    list.className = "tab-list";
    const buttons = panels.map((panel, i) => {
      const id = `tabs-${boxIndex}-${i}`;
      panel.id = id;
      panel.setAttribute("role", "tabpanel");
      const title = panel.querySelector(".tab-title");
      if (title) title.hidden = true;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "tab";
      button.setAttribute("role", "tab");
      button.setAttribute("aria-controls", id);
      button.textContent = panel.getAttribute("data-tab");
      button.addEventListener("click", () => select(i));
      list.appendChild(button);
      return button;
    });
    function select(chosen) {
      panels.forEach((panel, i) => { panel.hidden = i !== chosen; });
      buttons.forEach((button, i) => {
        button.setAttribute("aria-selected", String(i === chosen));
        button.tabIndex = i === chosen ? 0 : -1;
      });
    }
    box.insertBefore(list, panels[0]);
    select(0);
  });
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

// Dead letters: a "select all on this page" box in the table's heading (hidden without script).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("input.select-all").forEach((all) => {
    const table = all.closest("table");
    const boxes = () => Array.from(table.querySelectorAll("tbody input[type=checkbox][name=ids]"));
    if (boxes().length === 0) return;
    all.hidden = false;
    const sync = () => {
      const checked = boxes().filter((b) => b.checked).length;
      all.checked = checked > 0 && checked === boxes().length;
      all.indeterminate = checked > 0 && checked < boxes().length;
    };
    all.addEventListener("change", () => {
      boxes().forEach((b) => { b.checked = all.checked; });
      sync();
    });
    boxes().forEach((b) => b.addEventListener("change", sync));
  });
});

// Small Copy buttons beside ids and bodies: `data-copy-text` copies its own value,
// `data-copy-of` the text of the element with that id. Hidden where the clipboard is not
// available (the text stays selectable).
document.addEventListener("DOMContentLoaded", () => {
  if (!(navigator.clipboard && window.isSecureContext)) return;
  document.querySelectorAll("[data-copy-text], [data-copy-of]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", () => {
      const source = button.getAttribute("data-copy-of");
      const text = source
        ? (document.getElementById(source) || { textContent: "" }).textContent
        : button.getAttribute("data-copy-text");
      navigator.clipboard.writeText(text).then(() => {
        const label = button.textContent;
        button.textContent = "Copied";
        window.setTimeout(() => { button.textContent = label; }, 1500);
      });
    });
  });
});

// Phones: a list's filters fold under a "Filters" summary (open when a filter is in use), so
// the list itself is on the first screen.
document.addEventListener("DOMContentLoaded", () => {
  if (!window.matchMedia("(max-width: 640px)").matches) return;
  document.querySelectorAll("form.filters").forEach((form) => {
    const fields = Array.from(form.querySelectorAll("select, input:not([type=hidden])"));
    const inUse = fields.some((field) => field.value && field.value.trim() !== "");
    const fold = document.createElement("details");
    fold.className = "filters-fold";
    fold.open = inUse;
    const summary = document.createElement("summary");
    summary.textContent = inUse ? "Filters (in use)" : "Filters";
    form.parentNode.insertBefore(fold, form);
    fold.appendChild(summary);
    fold.appendChild(form);
  });
});

// Webhook form: show only the fields of the options chosen. A block marked
// data-show-when="field=value" (or "field=a|b") stays visible while that radio group's checked
// value (or a checkbox's "on"/"") is one of the values. Hidden inputs keep their values and are still submitted.
// After a failed submit, the error summary's heading takes the focus so it is read first.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form.webhook-form");
  if (!form) return;
  const blocks = Array.from(form.querySelectorAll("[data-show-when]"));
  const current = (name) => {
    const inputs = Array.from(form.querySelectorAll("input")).filter((i) => i.name === name);
    const chosen = inputs.find((i) => i.checked);
    if (!chosen) return "";
    return chosen.type === "checkbox" ? "on" : chosen.value;
  };
  const update = () => {
    blocks.forEach((block) => {
      const rule = block.getAttribute("data-show-when");
      const at = rule.indexOf("=");
      // "field=a|b": shown for any of the values.
      block.hidden = !rule.slice(at + 1).split("|").includes(current(rule.slice(0, at)));
    });
  };
  // Event types the chosen payload format has no mapping for are marked "skipped".
  const marks = Array.from(form.querySelectorAll("[data-skipped-by]"));
  const markSkipped = () => {
    const format = current("payload_format") || "herald";
    marks.forEach((mark) => {
      const skipped = mark.getAttribute("data-skipped-by").split(" ").includes(format);
      mark.classList.toggle("is-off", !skipped);
    });
  };
  form.addEventListener("change", (event) => {
    if (event.target.name === "payload_format") markSkipped();
  });
  markSkipped();
  const watched = new Set(blocks.map((b) => b.getAttribute("data-show-when").split("=")[0]));
  form.addEventListener("change", (event) => {
    if (watched.has(event.target.name)) update();
  });
  update();
  const summary = document.getElementById("error-summary-title");
  if (!summary) return;
  summary.focus();
  // A summary link puts the cursor in its field, not only the field in view.
  document.querySelectorAll(".error-summary a[href^='#']").forEach((link) => {
    link.addEventListener("click", (event) => {
      const field = document.getElementById(link.getAttribute("href").slice(1));
      if (!field) return;
      event.preventDefault();
      field.focus();
      field.scrollIntoView({ block: "center" });
    });
  });
});
