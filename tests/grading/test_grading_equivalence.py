"""One minimal example per error class the grader handles (equivalence policy)."""

from __future__ import annotations

import pytest

from mathgauge.grading import answers_equivalent, grade

EQUAL = [
    # normalisation
    ("\\dfrac{1}{2}", "\\frac12", "dfrac/tfrac and one-digit arguments"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})", "left/right"),
    ("10,\\!080", "10080", "thousands separator ,\\!"),
    ("1\\,234", "1234", "thousands separator \\,"),
    ("54,000", "54000", "plain thousands separator"),
    ("\\$32,\\!348", "32348", "currency"),
    ("15\\mbox{ cm}^2", "15", "units in mbox"),
    ("100\\text{ square units}", "100", "units in text"),
    ("9 customers", "9", "noun after the number"),
    ("12^{\\mathrm{th}} \\text{ grade}", "12", "ordinal suffix"),
    ("145^\\circ", "145", "degree sign"),
    ("76°", "76^\\circ", "unicode degree sign"),
    ("25\\%", "25", "percent"),
    ("x = 5", "5", "variable prefix"),
    ("y=\\frac{3}{4}", "0.75", "variable prefix with fraction"),
    ("4.", "4", "trailing period"),
    ("\\text{Evelyn}", "Evelyn", "word answer"),
    ("\\text{4:30 p.m.}", "4:30 \\text{ p.m.}", "text with punctuation"),
    ("12π", "12\\pi", "unicode pi"),
    ("√5", "\\sqrt{5}", "unicode radical"),
    ("137 \\frac{1}{2}", "137.5", "mixed number"),
    ("x \\approx 600", "600", "approximately-equals prefix"),
    ("3/24 = 1/8", "\\frac{1}{8}", "equation chain: last member"),
    # numbers
    ("\\frac{1}{2}", "0.5", "rational = decimal"),
    ("2\\sqrt{2}", "\\sqrt{8}", "radicals"),
    ("\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}", "radical forms"),
    ("6-5i", "6 - 5i", "complex"),
    ("2^{10}", "1024", "powers evaluated exactly"),
    ("\\binom{5}{2}", "10", "binomial"),
    # symbolic
    ("\\frac{\\cos x}{\\sin x}", "\\cot x", "trig identity"),
    ("\\frac{9a + 11}{20}", "\\frac{11+9a}{20}", "reordered polynomial"),
    ("x^8 + x^7 + x^6 + x^5 + x^4 + x^3 + x^2 + x + 1", "\\frac{x^9-1}{x-1}", "rational function"),
    # structure
    ("(1, 2)", "(1,2)", "tuple"),
    ("-2, 1", "1,-2", "all solutions as a set"),
    ("x=1, x=-2", "1,-2", "all solutions with variable prefixes"),
    ("3 + 2\\sqrt{2}, 3 - 2\\sqrt{2}", "3 \\pm 2 \\sqrt{2}", "pm expands to a set"),
    ("\\{-2, 1\\pm\\sqrt{5}\\}", "\\{1\\pm\\sqrt{5},-2\\}", "braced sets"),
    ("(0, 9) \\cup (9, 36)", "(9,36) \\cup (0,9)", "unions of intervals"),
    ("[-1, 3)", "[-1,3)", "half-open interval"),
    ("\\begin{pmatrix} -\\frac{1}{3} \\\\ \\frac{2}{3} \\end{pmatrix}", "\\begin{pmatrix} -1/3 \\\\ 2/3 \\end{pmatrix}", "pmatrix"),
    ("\\begin{bmatrix} 1 & 0 \\\\ 0 & 1 \\end{bmatrix}", "\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}", "matrix kinds"),
    ("pmatrix(-2,-14,-7)", "\\begin{pmatrix} -2 \\\\ -14 \\\\ -7 \\end{pmatrix}", "flattened pmatrix"),
    ("20x - 28y + 44z + 16 = 0", "5x - 7y + 11z + 4 = 0", "equation up to a factor"),
    ("y = 2x + 3", "y=3+2x", "equation with same left side"),
    ("x > 3", "3 < x", "inequality flipped"),
    ("x \\in [2, 5]", "[2,5]", "x in prefix"),
    ("52_8", "52_8", "base subscript"),
    ("4210", "4210_{5}", "base subscript left off"),
    ("1112112₃", "1112112_3", "unicode subscript"),
    ("\\textbf{(B)}", "\\text{(B)}", "multiple choice"),
    ("(3, \\infty)", "x > 3", "inequality as interval"),
    ("(1, +\\infty)", "(1,\\infty)", "signed infinity"),
    ("5 \\pmod{7}", "5", "trailing modulus"),
    ("x \\equiv 5 \\pmod{7}", "5", "congruence"),
    ("[2, 5]", "2 \\le x \\le 5", "double inequality as interval"),
    ("2x+1", "f^{-1}(x) = 2x + 1", "function-name prefix"),
    ("\\lfloor x \\rfloor", "\\lfloor x\\rfloor", "floor brackets"),
    ("\\frac{5}{3}", "1.\\overline{6}", "repeating decimal"),
    ('"7"', "7", "quoted answer"),
    ("\\#4", "4", "number sign"),
    ("i", "\\sqrt{-1}", "imaginary unit (no negative-zero branch cut)"),
    ("B", "\\text{(B)}", "bare choice letter"),
    ("c", "\\text{(C)}", "choice letters case-insensitive"),
    ("0.05", "5\\%", "percent as a decimal"),
    ("12\\text{ percent}", "\\frac{3}{25}", "percent word as a fraction"),
    ("1:2", "\\frac{1}{2}", "ratio as a fraction"),
    ("2:4", "1 : 2", "ratio in other terms"),
]

DIFFERENT = [
    ("13535", "13536", "integers exactly (no relative tolerance)"),
    ("0.333", "\\frac{1}{3}", "rounded decimal"),
    ("7.27", "\\sqrt{53}", "decimal approximation of a radical"),
    ("[-\\sqrt{3}, \\sqrt{3}]", "(-\\sqrt{3}, \\sqrt{3})", "interval brackets"),
    ("(2, 1)", "(1, 2)", "tuple order"),
    ("1", "1,-2", "missing solution"),
    ("1, -1", "1", "extra solution"),
    ("52_{10}", "52_8", "different base"),
    ("\\text{(C)}", "\\text{(B)}", "different choice"),
    ("x + 1", "x - 1", "different expression"),
    ("3.14", "\\pi", "pi approximation"),
    ("2x + 3", "y = 2x + 4", "different right side"),
    ("x \\ge 3", "x > 3", "strict vs non-strict"),
    ("(-\\infty, 2)", "(\\infty, 2)", "infinity sign"),
    ("neither even nor odd", "\\text{odd}", "negated word answer"),
    ("6 \\pmod{7}", "5", "wrong residue"),
    ("\\sqrt{2}x", "2x", "radical is not text"),
    ("0.5", "5\\%", "percent read as the wrong fraction"),
    ("12\\%", "13\\%", "different percentage"),
    ("3:12", "9:36", "times of day are not ratios"),
    ("2:1", "1:2", "ratio order"),
]


@pytest.mark.parametrize("cand,gold,why", EQUAL, ids=[w for *_, w in EQUAL])
def test_equal(cand, gold, why):
    v = answers_equivalent(cand, gold)
    assert v.correct, (why, v)
    assert v.reason is None


@pytest.mark.parametrize("cand,gold,why", DIFFERENT, ids=[w for *_, w in DIFFERENT])
def test_different(cand, gold, why):
    v = answers_equivalent(cand, gold)
    assert not v.correct, (why, v)
    assert v.reason in ("mismatch", "parse_error", "too_large")


RESPONSES = [
    # extraction classes found on the labelled set
    ("The midpoint is **(-1, 6)**.", "(-1,6)", "boxed", True, "bold final statement"),
    ("So the answer is 9 customers.", "9", "boxed", True, "answer-is with a noun"),
    ("Therefore, the GCF is 12.\n\nSo, the result is 23.\n\nI think that's the answer.", "23", "boxed", True,
     "closing remark after the conclusion"),
    ("Thus, the equation of the plane is:\n\\[\n5x - 7y + 11z + 4 = 0\n\\]", "5x - 7y + 11z + 4 = 0", "boxed", True,
     "display-math conclusion"),
    ("I'm confident that 44 is the correct answer.", "44", "boxed", True, "X is the correct answer"),
    ('{"reasoning": "...", "answer": "54,000"}', "54000", "json_answer_field", True, "json thousands"),
    ('{"reasoning": "...", "answer": "-1 + i"}', "-1", "json_answer_field", False, "json extra term"),
    ('{"reasoning": "...", "answer": "12 or 13"}', "12", "json_answer_field", False, "two answers"),
    ("</think> <answer> 13/18. </answer>", "\\frac{13}{18}", "think_answer_tags", True, "answer tag with period"),
    ("</think> <answer>15 cm²</answer>", "15\\mbox{ cm}^2", "think_answer_tags", True, "answer tag units"),
    ("</think> <answer>The largest angle in the quadrilateral is 120 degrees </answer>", "120", "think_answer_tags",
     True, "sentence in answer tag"),
    ("</think><answer>... permutation of 5 things = 5!/(5-3)! = 60\n</answer>", "60", "think_answer_tags", True,
     "equation chain in answer tag"),
    ("</think> <answer> <insert the answer here> </answer>", "4", "think_answer_tags", False, "placeholder"),
    ("Since x is positive, x = -", "2", "boxed", False, "cut off response"),
    ("\\boxed{x^2}<|end_of_solution|>", "x^2", "boxed", True, "special tokens"),
    ("Everything checks out. I think the answer is definitely \\(8000\\).", "8000", "boxed", True, "adverb before answer"),
    ("Therefore, I'm confident that the answer is three boxes contain neither.", "3", "boxed", True, "number word"),
    ("6. **Conclusion**: Both values equal 7. This shows the method works.", "7", "boxed", True, "equal verb"),
    ("Then, the remainder when it is divided by 7, given $n \\equiv 2 \\pmod{7}$, is 3.", "3", "boxed", True,
     "is after a congruence"),
    ("</think>\n<Solve> so $x = -\\frac{\\pi}{6}$. $\\text{Answer: } -\\frac{\\pi}{6}.$\n</answer>", "-\\frac{\\pi}{6}",
     "think_answer_tags", True, "closing answer tag only"),
    ("</think>\nAnswer: Karla would have saved 550 gallons of gasoline.", "550", "think_answer_tags", True,
     "answer line sentence"),
    ("</think> <answer> This equation represents an ellipse.</answer>", "\\text{ellipse}", "think_answer_tags", True,
     "word answer in a sentence"),
    ('Answer: "7"', "7", "json_answer_field", True, "malformed JSON answer line"),
    ('{"answer": "576"}\nQuestion: ...\n{"answer": "___"}', "576", "json_answer_field", True, "placeholder JSON answer"),
    ('{"final_answer": "12"}', "12", "json_answer_field", True, "final_answer key"),
    ("\\boxed{\\text{The answer is } 5}", "5", "boxed", True, "sentence inside the box"),
    ("\\boxed{4 \\text{ (since } x > 0)}", "4", "boxed", True, "remark inside the box"),
    ("\\boxed{\\text{The answer is } 6}", "5", "boxed", False, "sentence inside the box, wrong value"),
    ("</think><answer>It is not 5 apples.</answer>", "5", "think_answer_tags", False, "negated statement"),
    ("What is $\\log_2 64$? \\boxed{}. \\boxed{}.", "6", "boxed", False, "echoed question with empty boxes"),
]


@pytest.mark.parametrize("resp,gold,fmt,expected,why", RESPONSES, ids=[r[-1] for r in RESPONSES])
def test_response_classes(resp, gold, fmt, expected, why):
    v = grade(resp, gold, answer_format=fmt)
    assert v.correct is expected, (why, v)
