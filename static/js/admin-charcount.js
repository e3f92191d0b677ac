// Live character counts under the callout fields of the organization settings page.
document.addEventListener("DOMContentLoaded", () => {
  for (const input of document.querySelectorAll("input[data-charcount][maxlength]")) {
    const counter = document.createElement("div");
    counter.className = "help charcount";
    counter.setAttribute("aria-live", "polite");
    const update = () => {
      counter.textContent = `${input.value.length} / ${input.maxLength}`;
    };
    input.addEventListener("input", update);
    input.insertAdjacentElement("afterend", counter);
    update();
  }
});
