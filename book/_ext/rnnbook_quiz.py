"""Sphinx extension: self-test questions checked in the page (the study guide's quizzes).

A ``quiz`` directive holds one question::

    ```{quiz}
    In the copy task without attention, which cell copied the shortest inputs?
    * the tanh RNN
    - the GRU
    - the LSTM
    > Its horizon was about five symbols, the gated cells' eight or nine (asserted over seeds).
    ```

Lines before the first option are the question; ``*`` marks the right option and ``-`` a wrong one
(multiple choice), or ``= 9 +- 1`` gives a number and its tolerance (a numeric answer); ``>`` lines
are the explanation shown after the reader checks. Plain text only (it is escaped, not parsed).

On the web page the question is a small form: the reader picks or types an answer and presses
"Check"; ``_static/rnnbook-quiz.js`` says whether it is right and shows the explanation, in the
browser, with no request leaving the page. In the PDF (and any other builder) the question is
printed with its options and, after them, the answer and the explanation.
"""

import html
import re
import string

from docutils import nodes
from sphinx import addnodes
from sphinx.util.docutils import SphinxDirective

NUMERIC = re.compile(r"^=\s*(-?[\d.]+)\s*(?:\+-|±)\s*([\d.]+)\s*$")


class QuizDirective(SphinxDirective):
    has_content = True

    def run(self):
        question, options, numeric, explanation = [], [], None, []
        for line in self.content:
            line = line.strip()
            if not line:
                continue
            if line[:2] in ("* ", "- "):
                options.append((line[2:].strip(), line[0] == "*"))
            elif line.startswith("="):
                match = NUMERIC.match(line)
                if not match:
                    raise self.error(f"quiz: a numeric answer is written '= value +- tolerance', got {line!r}")
                numeric = (float(match.group(1)), float(match.group(2)))
            elif line.startswith(">"):
                explanation.append(line[1:].strip())
            elif options or numeric:
                raise self.error(f"quiz: question text after the answers: {line!r}")
            else:
                question.append(line)
        if not question:
            raise self.error("quiz: the question is missing")
        if (numeric is None) == (not options):
            raise self.error("quiz: give either options (* right, - wrong) or one '= value +- tolerance'")
        if options and sum(right for _, right in options) != 1:
            raise self.error("quiz: mark exactly one option right with '*'")
        if not explanation:
            raise self.error("quiz: add an explanation ('> ...'), shown once the reader checks")
        question, explanation = " ".join(question), " ".join(explanation)
        serial = self.env.new_serialno("rnnbook-quiz")
        name = f"quiz-{self.env.docname.replace('/', '-')}-{serial}"

        # The web page: a form that the script checks.
        esc = html.escape
        if options:
            right = next(i for i, (_, ok) in enumerate(options) if ok)
            choices = "".join(
                f'<label><input type="radio" name="{name}" value="{i}"> {esc(text)}</label>'
                for i, (text, _) in enumerate(options)
            )
            data = f'data-kind="choice" data-answer="{right}"'
        else:
            choices = f'<label>Your answer: <input type="number" step="any" name="{name}" inputmode="decimal"></label>'
            data = f'data-kind="number" data-answer="{numeric[0]:g}" data-tolerance="{numeric[1]:g}"'
        form = (
            f'<form class="rnnbook-quiz" id="{name}" {data}>'
            f'<p class="rnnbook-quiz-question">{esc(question)}</p>'
            f'<div class="rnnbook-quiz-choices">{choices}</div>'
            f'<button type="submit">Check</button>'
            f'<p class="rnnbook-quiz-feedback" aria-live="polite" hidden></p>'
            f'<p class="rnnbook-quiz-explanation" hidden>{esc(explanation)}</p>'
            f"</form>"
        )
        web = addnodes.only(expr="html")
        web += nodes.raw("", form, format="html")

        # Every other builder (the PDF): the question, its options, then the answer.
        printed = addnodes.only(expr="not html")
        printed += nodes.paragraph("", "", nodes.strong("", "Quiz. "), nodes.Text(question))
        if options:
            listing = nodes.enumerated_list(enumtype="loweralpha", prefix="(", suffix=")")
            for text, _ in options:
                listing += nodes.list_item("", nodes.paragraph("", text))
            printed += listing
            answer = f"({string.ascii_lowercase[right]}) {options[right][0]}"
        else:
            answer = f"{numeric[0]:g} (within {numeric[1]:g})"
        printed += nodes.paragraph("", "", nodes.emphasis("", "Answer: "), nodes.Text(f"{answer}. {explanation}"))
        return [web, printed]


def setup(app):
    app.add_directive("quiz", QuizDirective)
    app.add_js_file("rnnbook-quiz.js")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
