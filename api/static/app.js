// Progressive enhancement of the staff pages: everything works without it.
import { initAll } from "./vendor/govuk/govuk-frontend.min.js";

initAll();

// The override reason is asked for only when the chosen outcome is below the rules' recommendation.
// The server decides what a step-down is and refuses one without a reason; this only saves a round trip.
function showOverrideReasons(root) {
  root.querySelectorAll("[data-step-down-ranks]").forEach((group) => {
    const recommended = Number(group.dataset.recommendedRank);
    const target = document.getElementById(group.dataset.overrideTarget);
    if (!target) return;
    const update = () => {
      const chosen = group.querySelector("input[type=radio]:checked");
      const stepDown = chosen !== null && Number(chosen.dataset.rank) < recommended;
      const hasError = target.querySelector(".govuk-form-group--error") !== null;
      target.hidden = !(stepDown || hasError);
    };
    group.addEventListener("change", update);
    update();
  });
}

showOverrideReasons(document);
document.body.addEventListener("htmx:afterSwap", (event) => showOverrideReasons(event.target));
