// The study guide's quizzes (book/_ext/rnnbook_quiz.py): check an answer in the page, offline.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form.rnnbook-quiz").forEach((form) => {
    const feedback = form.querySelector(".rnnbook-quiz-feedback");
    const explanation = form.querySelector(".rnnbook-quiz-explanation");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      let right;
      if (form.dataset.kind === "choice") {
        const picked = form.querySelector("input[type=radio]:checked");
        if (!picked) {
          feedback.textContent = "Pick an answer first.";
          feedback.className = "rnnbook-quiz-feedback";
          feedback.hidden = false;
          return;
        }
        right = picked.value === form.dataset.answer;
      } else {
        const value = parseFloat(form.querySelector("input[type=number]").value);
        if (Number.isNaN(value)) {
          feedback.textContent = "Type a number first.";
          feedback.className = "rnnbook-quiz-feedback";
          feedback.hidden = false;
          return;
        }
        right = Math.abs(value - parseFloat(form.dataset.answer)) <= parseFloat(form.dataset.tolerance);
      }
      feedback.textContent = right ? "Right." : "Not quite: try again, or read why below.";
      feedback.className = "rnnbook-quiz-feedback " + (right ? "right" : "wrong");
      feedback.hidden = false;
      explanation.hidden = false;
    });
  });
});
