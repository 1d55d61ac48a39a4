// Two gaps of Django's stock admin widgets that axe-core reports as serious or critical, closed once for every page:
// - the two-box selector (SelectFilter2.js: users' and groups' permissions) draws its search icon as a
//   <span aria-label="..."> with no role: it names the search box beside it, so it is given the role of an image;
// - a date-and-time field (AdminSplitDateTime: an API key's expiry, a user's last login) is two inputs under one
//   row label that names neither: each gets the row's label with "date" or "time".
"use strict";
function labelAdminWidgets() {
  for (const icon of document.querySelectorAll("span.search-label-icon[aria-label]:not([role])")) {
    icon.setAttribute("role", "img");
  }
  for (const pair of document.querySelectorAll("p.datetime")) {
    const row = pair.closest(".form-row, .fieldBox, td");
    const rowLabel = row && row.querySelector("label") ? row.querySelector("label").textContent.replace(/:\s*$/, "") : "";
    pair.querySelectorAll("input").forEach((input, index) => {
      const labelled = input.id && document.querySelector(`label[for="${CSS.escape(input.id)}"]`);
      if (!labelled && !input.hasAttribute("aria-label")) {
        input.setAttribute("aria-label", `${rowLabel} ${index === 0 ? "date" : "time"}`.trim());
      }
    });
  }
}
// SelectFilter2 and the calendar build their widgets in their own load listeners, registered before this one.
window.addEventListener("load", () => setTimeout(labelAdminWidgets, 0));
