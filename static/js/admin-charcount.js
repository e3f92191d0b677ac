// Live character counts under the callout fields of the organization settings page. The count
// goes under the field, where the help text goes: inside the row's flex container it would sit
// far to the right of a wide box.
document.addEventListener("DOMContentLoaded", () => {
  for (const field of document.querySelectorAll(
    "input[data-charcount][maxlength], textarea[data-charcount][maxlength]",
  )) {
    const counter = document.createElement("div");
    counter.className = "help charcount";
    counter.setAttribute("aria-live", "polite");
    const update = () => {
      counter.textContent = `${field.value.length} / ${field.maxLength}`;
    };
    field.addEventListener("input", update);
    const row = field.closest(".flex-container") || field;
    row.insertAdjacentElement("afterend", counter);
    update();
  }
});
