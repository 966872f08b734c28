"""Variants of each error class of the second grader round (issue 13), grouped by class.

Every class has at least ten variants written in the style of real model output (other numbers, wording,
LaTeX styles, surrounding prose, model families' chat templates), positive and negative, each checked under the
answer formats that apply to it. They check that a class is handled in general, not only for the example of
``test_grading_classes.py``. The responses are written for these tests (made-up content).
"""

from __future__ import annotations

import json

import pytest

from mathgauge.grading import Grader, answers_equivalent, extract_final_answer


@pytest.fixture(scope="module")
def grader():
    with Grader() as g:
        yield g


def _check_response(grader, response, gold, expected, formats):
    wrong = {}
    for fmt in formats:
        v = grader.grade(response, gold, answer_format=fmt)
        if v.correct is not expected:
            wrong[fmt] = (v.extracted, v.reason)
    assert not wrong, wrong


def _check_pair(grader, cand, gold, expected):
    """A bare answer pair, also as the last box of a response (where its braces balance) and as a JSON answer
    field."""
    got = {"bare": answers_equivalent(cand, gold).correct,
           "json": grader.grade(json.dumps({"reasoning": "done", "answer": cand}), gold,
                                answer_format="json_answer_field").correct}
    if not cand.endswith("\\"):
        got["boxed"] = grader.grade(f"Putting it together, the result is $\\boxed{{{cand}}}$.", gold,
                                    answer_format="boxed").correct
    assert all(v is expected for v in got.values()), got


def _ids(cases):
    return [f"{i}:{str(c[0])[:40]}" for i, c in enumerate(cases)]


# ---------------------------------------------------------------- class 1: answer stated in prose, no box

PROSE = [
    ("Multiplying the choices gives 5 * 4 * 3 * 2 = 120.\n\nSo 120 is the number of distinct arrangements.",
     "120", True),
    ("Since $2^3 = 8 \\equiv 1 \\pmod 7$ and $100 = 3 \\cdot 33 + 1$, we get $2^{100} \\equiv 2$.\n\n"
     "Thus, the remainder when $2^{100}$ is divided by 7 is $2$.", "2", True),
    ("There are 3 favourable outcomes out of 8.\n\nHence, the probability is $\\frac{3}{8}$.", "\\frac{3}{8}", True),
    ("Checking $n = 17$ works and $n = 18$ fails.\n\nTherefore, the largest possible value of $n$ is **17**.",
     "17", True),
    ("The base angles are equal, so each is $(180 - 110)/2 = 35$.\n\nSo the answer is 35 degrees.", "35", True),
    ("I am confident that $\\frac{5}{12}$ is the correct probability.", "\\frac{5}{12}", True),
    ("Adding 12 and 15 gives the total.\nSo 27 is the correct total of 12 and 15.", "27", True),
    ("Adding 12 and 15 gives the total.\nSo 27 is the correct total of 12 and 15.", "12", False),
    ("Solving, $3x - 6 \\ge 0$.\n\nThus $x \\ge 2$ is the solution set.", "[2, \\infty)", True),
    ("Dividing both sides by $-2$ flips the sign.\nWe obtain $x > -3$.", "x > -3", True),
    ("Plugging in, $f(3) = 9 + 6 + 2$.\n\nTherefore, $f(3) = 17$.", "17", True),
    ("Each shirt costs \\$2.50 and she buys 5.\n\nPutting it together, the total cost is \\$12.50.", "12.5", True),
    ("We need $4x = 16$.\n\nThus **x = 4**.", "4", True),
    ("Only the last graph passes the vertical line test.\n\nTherefore the correct choice is (D).", "D", True),
    ("A parabola has eccentricity exactly 1.\n\nHence the only possible option is **(C) Parabola**.", "C", True),
    ("Since $3 \\cdot 5 = 15 = 1 + 2 \\cdot 7$,\nthus $3^{-1} \\equiv **5** \\pmod{7}$.", "5", True),
    ("We have $y - 3 < 1$.\n\nSo we get $y<4$.", "(-\\infty, 4)", True),
    ("Both roots are checked.\n\nTherefore, $x = 3$ or $x = -2$.", "-2, 3", True),
    ("Both roots are checked.\n\nTherefore, $x = 3$ or $x = -2$.", "3", False),
    ("The volume is $\\boxed{36}$ and the area is $\\boxed{12}$; Final Answer: The final answer is $36\\pi$. "
     "I hope it is correct.", "36\\pi", True),
    ("So, the final answer is $\\frac{\\sqrt{3}}{2}$.", "\\frac{\\sqrt3}{2}", True),
    ("After simplifying we find that the sum equals $-\\frac{7}{4}$.", "-\\frac74", True),
    ("The smallest such number is 1001.", "1001", True),
    ("In conclusion, the answer is $\\textbf{(B)}$.", "(B)", True),
    ("## Step 4: Add the results.\n3 + 4 = 7\n\nThe final answer is: $\\boxed{7}$", "7", True),
    ("**Answer:** The smallest possible value is $\\dfrac{1}{2}$.", "\\frac12", True),
    ("So, the number of ways is \\( 210 \\).", "210", True),
    ("The answer is $\\text{(C)}\\ 12$", "C", True),
    ("The sum of the roots is therefore $-\\frac{b}{a} = -\\frac{-6}{2} = 3$.", "3", True),
    ("In conclusion, $x = -1$ and $x = 4$ are the solutions.", "-1, 4", True),
    ("In conclusion, $x = -1$ and $x = 4$ are the solutions.", "4", False),
    ("The remainder is 3 when $2^{100}$ is divided by 7.", "3", True),
    ("The remainder is 3 when $2^{100}$ is divided by 7.", "7", False),
    ("Answer = 12", "12", True),
    ("Result: $x = 7$", "7", True),
    ("∴ x = 7", "7", True),
    ("$\\therefore$ the answer is $7$.", "7", True),
    ("We solve: 2x = 14 => x = 7", "7", True),
    ("Dividing by 2:\n$$\\Rightarrow x = 7$$", "7", True),
    ("**The answer is 7**", "7", True),
    ("The answer is **$\\frac{3}{4}$**.", "\\frac34", True),
    ("The value of $k$ is $\\mathbf{5}$.", "5", True),
    ("The solution set is $\\{x \\mid x > 2\\}$.", "(2,\\infty)", True),
    ("The solutions are $x = 2$ and $x = -3$.", "2", False),
    ("Since 221 = 13 × 17, the largest prime factor is 17.", "17", True),
    ("The answer is 0.5 (i.e., $\\frac{1}{2}$).", "\\frac12", True),
    ("The answer is $4\\sqrt{2}$, approximately 5.66.", "4\\sqrt2", True),
    ("The answer is $4\\sqrt{2}$, approximately 5.66.", "5.66", False),
    ("The probability is about 0.33.", "\\frac13", False),
    ("There are $\\binom{6}{2} = 15$ ways.", "15", True),
    ("Thus the minimum value of $f$ is $-\\frac{9}{4}$, attained at $x = \\frac{3}{2}$.", "-\\frac94", True),
    ("The answer is A.", "A", True),
    ("I choose option (b).", "(B)", True),
    ("The answer is 4 4/9.", "\\frac{40}{9}", True),
    ("The answer is $3\\tfrac12$ cups.", "3.5", True),
    # a LaTeX dollar sign (\\$) inside or beside a math span is currency, never a delimiter
    ("So she paid $\\$1,\\!250$ in total.", "1250", True),
    ("The price is $\\$12.50$, so the change is $\\$7.50$.", "7.50", True),
    ("The price is $\\$12.50$, so the change is $\\$7.50$.", "12.50", False),
    ("He earns \\$8 an hour, so he makes $8 \\cdot 5 = \\$40$.", "40", True),
    ("Thus the total is $ \\frac{1}{2} \\$ + \\frac{3}{2} \\$ = \\$2 $.", "2", True),
    # a concluding sentence whose one math span is a value, whatever its verb
    ("Therefore she paid $1,\\!250$.", "1250", True),
    ("Hence Bob walks $\\frac{3}{2}$ miles in total.", "1.5", True),
    ("So the recipe needs $2\\tfrac14$ cups of flour.", "\\frac94", True),
    ("Thus the dog weighs $12\\text{ pounds}$.", "12", True),
    ("Thus $3$ cannot be the weight.", "3", False),
    ("So we still need to compute $x^2 + 1$.", "5", False),
    # a relative clause: a remark on the value after it, or the value itself when the main clause only names it
    ("So the answer is 12, which is divisible by 3.", "12", True),
    ("So the answer is 12, which is divisible by 3.", "3", False),
    ("Thus the answer is $\\frac{1}{2}$, which is $0.5$ as a decimal.", "\\frac12", True),
    ("The answer is 1, 2, 3, which are the roots of the cubic.", "1,2,3", True),
    ("Hence, we add one more to reach our desired number, which is 5.", "5", True),
    ("So the set of all roots of the equation is the one found above, which is $\\{1, 2, 4\\}$.", "\\{1,2,4\\}", True),
    ("Therefore we need the smallest such number, which is the one we computed above.", "1", False),
    # math in \\( \\) like in $ $; a condition put first; an "Answer:" line that opens the whole solution
    ("Therefore, it will take the lion \\(12\\) minutes to catch the elephant.", "12", True),
    ("Based on the analysis, the correct graph is \\(C\\).", "C", True),
    ("Based on the analysis, the correct graph is \\(C\\).", "A", False),
    ("Therefore, when $a = 4$, the value of $b$ is $0$.", "0", True),
    ("Therefore, when $a = 4$, the value of $b$ is $0$.", "4", False),
    # the last statement of an align-like display; the word that marks a conclusion; a count ("there are N ...")
    ("Finally, we calculate $AB + B$:\n\n\\begin{align*}\nAB + B &= 10 + 2 \\\\\n&= 12.\n\\end{align*}", "12", True),
    ("Thus the minimum is:\n\\begin{align*}\nf(15) &= 30 - 15 \\\\\n&= 15.\n\\end{align*}", "15", True),
    ("We translate back:\n\\begin{equation*}\nw = (4 - 2i) + (2 - 3i) = 6 - 5i.\n\\end{equation*}", "6-5i", True),
    ("Finally, $a + b + c = 7 + (-2) + 0 = 5$.", "5", True),
    ("Finally, $a + b + c = 7 + (-2) + 0 = 5$.", "7", False),
    ("Therefore, there are $3$ positive two-digit integers that are factors of both 100 and 150.", "3", True),
    ("Therefore, there are $3$ positive two-digit integers that are factors of both 100 and 150.", "100", False),
    ("So the regular polygon has 15 sides in all.", "15", True),
    ("Thus there are $480$ ways to stack the books so that the math books are not next to each other.", "480", True),
    ("Therefore, there are no solutions with 3 digits.", "3", False),
    # a lone \\( \\) span after "the answer is"; two values joined by "and" are two; bold around a value with a unit
    ("The final answer is \\(4\\).", "4", True),
    ("The answer is $2$ and $3$.", "2", False),
    ("The answer is \\(2\\) and \\(3\\).", "3", False),
    ("**Answer:** **225** battalions.", "225", True),
    ("**Answer:** Bill is **1.25** miles from his starting point.", "1.25", True),
    # a word answer restated on its own last line, after the sentence that concludes with it
    ("Comparing the earnings, Navin earns the most after an eight-hour day.\n\nNavin", "\\text{Navin}", True),
    ("Comparing the earnings, Navin earns the most after an eight-hour day.\n\nNavin", "\\text{Luka}", False),
    ("<|begin_of_thought|>\nEvelyn has the greatest speed.\n<|end_of_thought|>\n<|begin_of_solution|>\nEvelyn\n"
     "<|end_of_solution|>", "\\text{Evelyn}", True),
    ("We still have to compare Navin and Luka.\n\nTherefore", "\\text{Navin}", False),
    ("Answer: To find the volume of the cone, we use the formula \\( V = \\frac{1}{3}Bh \\) with B = 30 and h = 6.5:\n"
     "\\[ V = \\frac{1}{3} \\cdot 30 \\cdot 6.5 = 65 \\]\nThus, the volume of the cone is \\( 65 \\) cubic units.", "65", True),
]


@pytest.mark.parametrize("response,gold,expected", PROSE, ids=_ids(PROSE))
def test_class1_prose_variants(grader, response, gold, expected):
    _check_response(grader, response, gold, expected, ("boxed", "auto"))


# ---------------------------------------------------------------- class 2: text after the committed answer

_CODE = "```python\nfrom itertools import permutations\n" + "count = 0\n" * 30 + "print(count)\n```\n"
TRAILING = [
    ("The final answer is $\\boxed{12}$.\n\n```python\nprint(3 * 4)\n```\n```output\n12\n```", "12", True),
    ("So the answer is 7.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat about 8 + 1?<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\nThe answer is 9.", "7", True),
    ("So the answer is 7.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat about 8 + 1?<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\nThe answer is 9.", "9", False),
    ("Thus the answer is 15. </s>[INST] Now solve $x^2 = 4$. [/INST] The solutions are $x = \\boxed{\\pm 2}$.",
     "15", True),
    ("Thus the answer is 15.\n[INST] Now solve $x^2 = 4$. [/INST] The solutions are $x = \\boxed{\\pm 2}$.",
     "15", True),
    ("Therefore, the answer is $\\frac{1}{3}$.<end_of_turn>\n<start_of_turn>user\nAnd 1/4 + 1/4?<end_of_turn>\n"
     "<start_of_turn>model\nThat is $\\boxed{\\frac12}$.", "\\frac13", True),
    ("So the final answer is $\\boxed{5}$.<|im_end|>\n<|im_start|>user\nSolve 2x = 12.<|im_end|>\n"
     "<|im_start|>assistant\nx = \\boxed{6}", "5", True),
    ("The answer is $\\boxed{-4}$.<｜end▁of▁sentence｜><｜User｜>What is 3 squared?<｜Assistant｜>\\boxed{9}",
     "-4", True),
    ("So the final answer is 24.\n\n<tool_call>\n{\"name\": \"python\", \"arguments\": {\"code\": \"print(4*6)\"}}\n"
     "</tool_call>", "24", True),
    ("Thus, the final answer is 3.\n\nLet me verify with a quick script:\n" + _CODE, "3", True),
    ("Therefore the answer is $-2$.\n\nNote: the other root, $x = 5$, is extraneous since it makes the "
     "denominator zero.", "-2", True),
    ("So the final answer is $10$.\n\n" + _CODE + "```output\n10\n```\nTool call limit reached", "10", True),
    ("The interior angles sum to (7-2)·180.\n900", "900", True),
    ("Hence the answer is 45.\n\nI hope this helps! Let me know if you have any other questions.", "45", True),
    ("**Final Answer**\n\\[\n\\boxed{6}\n\\]\n\n```python\nfrom itertools import permutations\n"
     "print(len(set(permutations('AAB'))))\n```\n```output\n3\n```", "6", True),
    ("So the answer is $4-i$.<|endoftext|><|im_start|>user\nThanks<|im_end|>", "4-i", True),
    ("The answer is 8.<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>And 9?<|END_OF_TURN_TOKEN|>"
     "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>The answer is 9.", "8", True),
    ("<|channel|>analysis<|message|>Add 2 and 3: maybe 6? No, 5.<|end|><|start|>assistant<|channel|>final"
     "<|message|>The answer is $\\boxed{5}$.<|return|>", "5", True),
    ("<|channel|>analysis<|message|>Add 2 and 3: the answer is 5.", "5", False),  # only the analysis channel
    ("<s>[INST] What is 2+3? [/INST] The answer is $\\boxed{5}$.</s>", "5", True),
    ("So the answer is $\\boxed{5}$.</s><s>[INST] And 3+3? [/INST] \\boxed{6}", "5", True),
    ("<|start_header_id|>assistant<|end_header_id|>\n\nThe answer is 5.<|eot_id|>", "5", True),
    ("So the answer is 5.\n\n<tool_call>\n{\"name\": \"python\"}\n</tool_call>\n<tool_response>\n5\n"
     "</tool_response>\nThe tool confirms the answer is 5.", "5", True),
    ("**Final Answer**\n\\boxed{5}\n\n---\n\n**Summary of steps:**\n1. We computed 2+3.\n2. We got 5.", "5", True),
    ("The answer is 12.<|end|>\n<|user|>\nNext one: 5 + 8?<|end|>\n<|assistant|>\n13", "12", True),
    ("The product is 6 * 7 = 42.\nLet me also compute 6 * 8 =", "42", False),
    ("The final answer is $\\frac{3}{", "\\frac34", False),
    # cut off: at a list's first item, inside an expression or a math span, in the middle of a number
    ("The function is zero on the boundary.\n\nNext, we compute the partial derivatives:\n\n1.", "1", False),
    ("Now we solve each case:\n\n- ", "2", False),
    ("Adding the fractions, so $s_6 = \\frac{35553 + 1560}{20160} = \\frac{37113", "\\frac{37113}{20160}", False),
    ("So, the sum of the two possible values of $c$ is $", "440", False),
    ("The area is equal to $a^2 - (b - c)^2,$ where $a,$ $b,$ and $c$ are the sides of triangle $ABC,$", "a^2-(b-c)^2",
     False),
    ("We try $k = 7$ next, so there is a corresponding factor of 200", "200", False),
    ("The angle is 180 - 2 * 90 = 0 degrees, but this is not correct because the arc is larger.", "0", False),
    # not cut off: a statement without its period
    ("The corrected code shows that the probability is $\\frac{1}{3}$, which confirms our earlier result", "\\frac13",
     True),
    ("So the answer is 12", "12", True),
    ("The maximum value is $\\sqrt{2},$ which is achieved at $(1, 1)$ and $(-1, -1).$", "\\sqrt2", True),
    ("So the minimum is 3, attained when x = 1.", "3", True),
    ("So, the total amount is $32,253.99, which rounds to $32,254.\n\nI think that's correct.", "32253.99", True),
]

THOUGHT_FORMAT = [
    # visible-thought format: a solution cut off before it commits leaves the thought's answer standing
    ("<|begin_of_thought|>\nSo the minimum value of the expression is 64.\n\n<|end_of_thought|>\n\n"
     "<|begin_of_solution|>\n\nLet \\( a, b, c, d", "64", True),
    ("<|begin_of_thought|>\nGiven that, I think the maximum value is 1, achieved at \\( x = y = \\frac{\\sqrt{2}}{2} "
     "\\).\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\nNext, we compute the partial derivatives:\n\n1.", "1",
     True),
    ("<|begin_of_thought|>\nSo the answer is 64.\n<|end_of_thought|>\n<|begin_of_solution|>\nThe minimum is "
     "$\\boxed{65}$.\n<|end_of_solution|>", "64", False),
    ("<|begin_of_thought|>\nMaybe it is 12, let me see\n<|end_of_thought|>\n<|begin_of_solution|>\nWe compute",
     "12", False),
]


# a program introduced as a check of a stated answer (closed, or cut off) leaves the answer standing; one that is
# to compute it leaves none yet; code in the program is never an answer line
CHECKED_BY_CODE = [
    ("So the final answer is:\n\\[\n-3\n\\]\n\nLet's verify this with Python code to ensure accuracy.\n```python\n"
     "print(2 - 5)\n```", "-3", True),
    ("Thus, the simplified fraction is:\n\\[\n\\dfrac{13}{6}\n\\]\n\nLet me double-check with a quick script.\n"
     "```python\nfrom fractions import Fraction\nprint(Fraction(26, 12))\n```", "\\frac{13}{6}", True),
    ("Thus, the minimum value of the expression is \\(64\\). Let's confirm this with Python code.\n```python\n"
     "import sympy\nx = sympy.symbols('x')\n", "64", True),
    ("We need the sum of the first ten squares. Let's compute it with Python:\n```python\n"
     "print(sum(i * i for i in range(1, 11)))\n```", "385", False),
    ("The total is 385.\n\nNow let's compute the other sum with Python:\n```python\nprint(sum(range(11)))\n", "385",
     False),
    ("We search.\n```python\nfor n in range(30, 51):\n    if n % 7 == 6:\n        answer = n\n        break\n"
     "print(answer)\n```\n```output\n34\n```\nThe number of students in the class is \\(34\\).", "34", True),
    ("The answer is verified.", "5", False),
]


@pytest.mark.parametrize("response,gold,expected", CHECKED_BY_CODE, ids=_ids(CHECKED_BY_CODE))
def test_class2_code_after_the_answer(grader, response, gold, expected):
    _check_response(grader, response, gold, expected, ("boxed", "auto"))


@pytest.mark.parametrize("response,gold,expected", THOUGHT_FORMAT, ids=_ids(THOUGHT_FORMAT))
def test_class2_visible_thought_format(grader, response, gold, expected):
    _check_response(grader, response, gold, expected, ("boxed", "auto"))


@pytest.mark.parametrize("response,gold,expected", TRAILING, ids=_ids(TRAILING))
def test_class2_trailing_text_variants(grader, response, gold, expected):
    _check_response(grader, response, gold, expected, ("boxed", "auto"))


# ---------------------------------------------------------------- class 3: number and gold normalisation

NUMBERS = [
    ("1,234,567", "1234567", True), ("1\\,234\\,567", "1234567", True), ("1{,}234{,}567", "1234567", True),
    ("12\\,345.67", "12345.67", True), ("12,\\!345", "12,345", True), ("1\u2009234", "1234", True),
    ("1\u202f234\u202f567", "1234567", True), ("\\$1,\\!250", "1250", True), ("-1011_{2}", "-1011_2", True),
    ("1011_{(2)}", "1011_2", True), ("\\\\sqrt{2}", "\\sqrt2", True), ("\\\\dfrac{1}{3}", "\\frac13", True),
    ("x \\\\geq 2", "x \\ge 2", True), ("100\\", "100", True), ("\u200b5\u200b", "5", True),
    ("\ufeff7", "7", True), ("\u202a-3\u202c", "-3", True), ("0.50", "\\frac12", True), ("−7", "-7", True),
    ("2^{10}", "1024", True), ("1.5\\times10^{3}", "1500", True), ("3.0 \\times 10^{-2}", "0.03", True),
    ("4.50 dollars", "4.5", True), ("+5", "5", True), ("9" * 2500, "9" * 2500, True),
    ("12,345", "12346", False), ("1,2", "12", False), ("1011_2", "1011_3", False), ("0.333", "\\frac13", False),
    ("4 4/9", "\\frac{40}{9}", True), ("-4 4/9", "-\\frac{40}{9}", True), ("3\\tfrac12", "3.5", True),
    ("11 7/6", "\\frac{77}{6}", False), ("11 7/6", "\\frac{73}{6}", False), ("4 5", "20", False),
    ("5 4.6", "5, 4.6", True), ("12 13", "12", False),
    ("1.5e3", "1500", True), ("2E-2", "0.02", True), ("1.5e3", "150", False),
    ("\\frac{3}{0}", "\\frac{6}{0}", False), ("9" * 2500, "9" * 2499 + "8", False), ("-1011_2", "1011_2", False),
]


@pytest.mark.parametrize("cand,gold,expected", NUMBERS, ids=_ids(NUMBERS))
def test_class3_number_variants(grader, cand, gold, expected):
    _check_pair(grader, cand, gold, expected)


@pytest.mark.parametrize("gold,expected_gold", [
    ("10,\\! 080", "10080"), ("14{,}916", "14916"), ("-1011_2", "-1011_2"), ("185\\", "185"),
    ("\\\\frac{1}{4}", "\\frac{1}{4}"), ("\u200b42", "42"),
])
def test_class3_gold_normalised_like_answers(grader, gold, expected_gold):
    assert grader.grade(f"The answer is $\\boxed{{{expected_gold}}}$.", gold, answer_format="boxed").correct


# ---------------------------------------------------------------- class 4: answer tags

TAGS = [
    ('</think>\n<answer>{"answer": "\\\\frac{1}{2}"}</answer>', "\\frac12", True),
    ('</think>\n<answer>\n```json\n{"answer": 42}\n```\n</answer>', "42", True),
    ("</think>\n<answer>{'answer': 7}</answer>", "7", True),
    ('</think>\n<answer>{"final_answer": "x=3"}</answer>', "3", True),
    ('</think>\n<answer>{"answer": [1, 2, 3]}</answer>', "1, 2, 3", True),
    ('</think>\n<answer>{"answer": -4.5, "confidence": 0.9}</answer>', "-\\frac92", True),
    ("</think>\n<Answer> 12 </Answer>", "12", True),
    ("</think>\n<answer>The answer is $\\boxed{9}$.</answer>", "9", True),
    ("</think>\n<answer>\n$$x = \\frac{-1 \\pm \\sqrt{5}}{2}$$\n</answer>", "\\frac{-1\\pm\\sqrt5}{2}", True),
    ("</think>\nThe final answer is 30.\n<answer>30</answer>", "30", True),
    ("</think>\n<answer> (C) </answer>", "C", True),
    ("</think>\n<answer>x \\in (-\\infty, 2]</answer>", "(-\\infty,2]", True),
    ("</think>\n<answer>\n16\n</answer><|im_end|>", "16", True),
    ("</think> Adding the pieces gives 7.\n7 </answer>", "7", True),
    ("</think>\n<answer>42<answer>", "42", True),
    ("</think>\n<answer>42</answer", "42", True),
    ("</think>\n<answer>\nP = 2(l + w)\n= 2(5 + 3)\n= 16\n</answer>", "16", True),
    ("</think>\n<answer>\nFirst $5 + 4 = 9$.\nTherefore 9 mod 3 = 0.\n</answer>", "0", True),
    ("</think>\n<answer>\\(\\dfrac{7}{9}\\)</answer>", "\\frac79", True),
    ("</think>\n<answer></answer>", "5", False),
    ("</think>\n<answer>I cannot determine the value.</answer>", "5", False),
    ("</think>\n<answer>12 or 13</answer>", "12", False),
    ("<think>Adding gives 7, so <answer>7</answer> would be", "7", False),  # thinking never closed
    ("</think>\n<answer>\n```\n7\n```\n</answer>", "7", True),
    ("</think>\n<answer>\n```latex\n\\frac{7}{2}\n```\n</answer>", "3.5", True),
    ("</think>\n<answer>\n#### 7\n</answer>", "7", True),
    ("</think>\n&lt;answer&gt;7&lt;/answer&gt;", "7", True),
    ("</think>\n<answer>\n1. First, 3+4 = 7.\n2. So the total is 7.\n</answer>", "7", True),
    ("</think>\n<answer>7</answer>\n<answer>8</answer>", "8", True),
    ("</think>\n<answer>\nx = 2 or x = 3\n</answer>", "2, 3", True),
    ("</think>\n<answer>\n2, 3\n</answer>", "3", False),
    ("</think>\nThe answer is <answer>7</answer>.", "7", True),
    ("</think>\n<answer>\n\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}\n</answer>",
     "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", True),
]


@pytest.mark.parametrize("response,gold,expected", TAGS, ids=_ids(TAGS))
def test_class4_answer_tag_variants(grader, response, gold, expected):
    _check_response(grader, response, gold, expected, ("think_answer_tags", "auto"))


JSON_FIELD = [
    ('{"reasoning": "3 * 4 = 12", "answer": "12"}', "12", True),
    ('```json\n{"reasoning": "half of 3/2", "answer": "\\\\frac{3}{4}"}\n```', "\\frac34", True),
    ('{"answer": 12, "confidence": 0.9}', "12", True),
    ('{"answer": "$x=2$"}', "2", True),
    ('{"steps": ["a", "b"], "answer": "(1, -2)"}', "(1,-2)", True),
    ('Here is my output.\n{"answer": "\\\\sqrt{2}"}', "\\sqrt2", True),
    ('{"answer": [2, 3]}', "2, 3", True),
    ('{"answer": "___"}\n\nFilling it in:\n{"answer": "8"}', "8", True),
    ('{"answer": "8"}', "9", False),
    ('{"answer": null}', "0", False),
    ('{"answer": 1.5e3}', "1500", True), ('{"answer": "N/A"}', "0", False), ('{"answer": "<your answer here>"}', "0", False),
    ('{"reasoning": "...", "answer": "12"}\n\nWait, I made an error.\n{"reasoning": "...", "answer": "13"}', "13", True),
    ("{'reasoning': 'x', 'answer': '7'}", "7", True), ('{"answer": "12 or 13"}', "12", False),
]


@pytest.mark.parametrize("response,gold,expected", JSON_FIELD, ids=_ids(JSON_FIELD))
def test_class4_json_field_variants(grader, response, gold, expected):
    _check_response(grader, response, gold, expected, ("json_answer_field", "auto"))


@pytest.mark.parametrize("response,expected", [
    ("Adding the totals.\n#### 1,250", "1,250"), ("The total:\n####  72", "72"),
    ("ANSWER: 15", "15"), ("**Answer:** $\\dfrac{\\sqrt{3}}{2}$", "\\dfrac{\\sqrt{3}}{2}"),
    ('<script type="math/tex">\\frac{2}{3}</script>', "\\frac{2}{3}"),
])
def test_class4_answer_lines(response, expected):
    assert extract_final_answer(response, "auto") == expected


# ---------------------------------------------------------------- class 5: relations

RELATIONS = [
    ("x\\geq 5", "[5,\\infty)", True), ("x \\geqslant 5", "x \\ge 5", True), ("x ≥ 5", "[5, \\infty)", True),
    ("5 \\le x", "x \\ge 5", True), ("x>=5", "x \\ge 5", True), ("-3 < x < 4", "(-3,4)", True),
    ("-3<x\\le4", "(-3,4]", True), ("x \\in (-3, 4]", "-3 < x \\leq 4", True), ("3x - 6 \\ge 0", "x \\ge 2", True),
    ("x \\neq 3", "x \\ne 3", True), ("x \\in [1,5)", "[1,5)", True), ("(2,\\infty)", "x>2", True),
    ("\\frac{\\pi}{4} \\approx 0.785", "\\frac{\\pi}{4}", True), ("x \\approx 2.45", "2.45", True),
    ("y \\leq -\\frac{1}{2}", "(-\\infty, -\\frac12]", True), ("t>0", "(0,\\infty)", True),
    ("0 \\le \\theta < 2\\pi", "[0, 2\\pi)", True), ("−1 ≤ x ≤ 1", "[-1,1]", True), ("x∈[−2,7]", "[-2,7]", True),
    ("x < -1 \\text{ or } x > 2", "(-\\infty,-1)\\cup(2,\\infty)", True),
    ("2 > x", "x<2", True), ("-2x + 4 > 0", "x < 2", True), ("a+b \\le 3", "3 \\ge a+b", True),
    ("x > 2", "x \\geq 2", False), ("x<4", "(-\\infty,4]", False), ("x \\ge 5", "x \\le 5", False),
    ("\\sqrt{2} \\approx 1.414", "1.414", False), ("-3 < x < 4", "[-3,4]", False), ("x \\ne 3", "x = 3", False),
    ("x=>5", "x = 5", False),
    ("x \\le -1 \\quad \\text{or} \\quad x \\ge 2", "(-\\infty,-1]\\cup[2,\\infty)", True),
    ("x > 3 \\text{ and } x \\le 5", "(3,5]", True), ("x > 3 \\text{ and } x > 5", "(5,\\infty)", False),
    ("\\{x \\mid x > 2\\}", "(2,\\infty)", True), ("\\{x : -1 \\le x < 3\\}", "[-1,3)", True),
    ("\\{x \\mid x > 2\\}", "[2,\\infty)", False), ("\\mathbb{R}", "(-\\infty,\\infty)", True),
    ("x \\in \\mathbb{R}", "\\text{all real numbers}", True), ("\\mathbb{R}", "(0,\\infty)", False),
    ("\\emptyset", "\\varnothing", True), ("\\{\\}", "\\emptyset", True), ("\\emptyset", "0", False),
    ("\\{\\}", "5", False), ("5 \\geq x > 3", "(3, 5]", True), ("-1 \\le x", "[-1,\\infty)", True),
]


@pytest.mark.parametrize("cand,gold,expected", RELATIONS, ids=_ids(RELATIONS))
def test_class5_relation_variants(grader, cand, gold, expected):
    _check_pair(grader, cand, gold, expected)


# ---------------------------------------------------------------- class 6: labelled answers

LABELLED = [
    ("(a,b)=(1,-2)", "(1,-2)", True), ("(x, y, z) = (1, 2, 3)", "(1,2,3)", True), ("|PQ| = 5", "5", True),
    ("AB = 5", "5", True), ("m\\angle ABC = 40^\\circ", "40", True), ("S_{ABC}=12", "12", True),
    ("a:b:c = 3:4:5", "3:4:5", True), ("x=2", "2=x", True), ("k=-1", "-1", True), ("{2, 4, 6}", "\\{2,4,6\\}", True),
    ("(1;2)", "(1,2)", True), ("\\begin{bmatrix}1\\\\2\\end{bmatrix}", "(1,2)", True),
    ("\\left(\\begin{array}{c}1\\\\2\\end{array}\\right)", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", True),
    ("\\textbf{(C)}", "C", True), ("(c)", "C", True), ("c", "\\text{(C)}", True), ("C) 12", "C", True),
    ("f(x) = 2x+1", "2x+1", True), ("P(A) = 0.3", "0.3", True), ("V = 36\\pi", "36\\pi", True),
    ("x = 3, y = 4", "(3,4)", True), ("x_1 = 2, x_2 = 5", "2, 5", True), ("\\{-1, 1\\}", "x = \\pm 1", True),
    ("\\frac{BD}{DC} = \\frac{3}{4}", "\\frac34", True), ("(m, n) = (4, 9)", "m=4, n=9", True),
    ("(p,q) = (2,3)", "(3,2)", False), ("c", "(D)", False), ("(1;2)", "(2,1)", False), ("x=3, y=4", "(4,3)", False),
    ("\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", "\\begin{pmatrix}1&3\\\\2&4\\end{pmatrix}", False),
    ("|AB| = 7", "5", False),
    ("a:b = 2:3", "\\frac{2}{3}", True), ("\\begin{pmatrix} 1 & 2 \\end{pmatrix}", "(1,2)", True),
    ("\\langle 1, 2 \\rangle", "(1,2)", True), ("\\langle 1, 2 \\rangle", "(2,1)", False),
    ("r = 3, \\theta = \\frac{\\pi}{4}", "(3, \\frac{\\pi}{4})", True), ("P(X = 2) = \\frac{3}{8}", "\\frac38", True),
    ("\\log_2 8 = 3", "3", True), ("\\textbf{(A) } 5", "A", True), ("(B)", "B) 14", True),
    ("x = \\frac{1}{2}, x = \\frac{-1 \\pm \\sqrt{13}}{4}",
     "x = \\frac{1}{2}, x = \\frac{-1 - \\sqrt{13}}{4}, x = \\frac{-1 + \\sqrt{13}}{4}", True),
    ("\\pm 1, 2", "1,-1,2,-2", False),
]


@pytest.mark.parametrize("cand,gold,expected", LABELLED, ids=_ids(LABELLED))
def test_class6_labelled_variants(grader, cand, gold, expected):
    _check_pair(grader, cand, gold, expected)


# ---------------------------------------------------------------- class 7: false accepts

NOT_EQUAL = [
    ("B = 5", "B"), ("A + B", "A"), ("C^2", "C"), ("D/2", "D"), ("B is incorrect", "B"), ("not C", "C"),
    ("(A) and (B)", "A"), ("A or C", "A"), ("\\text{A}\\cdot 3", "A"), ("12 or 13", "12"), ("x = 2 or x = 3", "2"),
    ("3, 4", "3"), ("\\pm 2", "2"), ("2, -2", "2"), ("0.333", "\\frac13"), ("3.14", "\\pi"), ("1.41", "\\sqrt2"),
    ("10^{-3}", "10^{3}"), ("2\\sqrt{3}", "3\\sqrt{2}"), ("(1,2)", "(2,1)"), ("[1,2]", "(1,2)"),
    ("Luka earns more than Navin", "\\text{Navin}"), ("an ellipse, not a hyperbola", "\\text{hyperbola}"),
    ("E_1", "E"), ("-C", "C"),
]


@pytest.mark.parametrize("cand,gold", NOT_EQUAL, ids=_ids(NOT_EQUAL))
def test_class7_pairs_never_equal(grader, cand, gold):
    _check_pair(grader, cand, gold, False)


FALSE_ACCEPT_RESPONSES = [
    ("The answer is not 5.", "5"),
    ("It cannot be 7, since 7 is odd.", "7"),
    ("Is the answer 12?", "12"),
    ("Both A and C are wrong, so the answer is D.", "A"),
    ("The answer is either B or D.", "B"),
    ("Therefore the answer is 12.\n\n2. The area of the second square is 20.", "12"),
    ("So the answer is 12.\n\n**Problem 2.** What is 5 + 5?\nThe answer is 10.", "12"),
    ("The answer is $\\boxed{", "5"),
    ("So the answer is \\boxed{}.", "5"),
    ("Let me compute 24 - 12*(-6) = 24 +", "96"),
    ("We know the answer is 12 if $x$ is even, but $x$ is odd, so the answer is 13.", "12"),
]


@pytest.mark.parametrize("response,gold", FALSE_ACCEPT_RESPONSES, ids=_ids(FALSE_ACCEPT_RESPONSES))
def test_class7_responses_not_accepted(grader, response, gold):
    _check_response(grader, response, gold, False, ("boxed", "auto"))


@pytest.mark.parametrize("response,gold", [
    ("Both A and C are wrong, so the answer is D.", "D"), ("D is the correct option.", "D"),
    ("The answer is (B) 12.", "B"), ("\\boxed{A}", "(A) 5"),
])
def test_class7_choices_still_accepted(grader, response, gold):
    _check_response(grader, response, gold, True, ("boxed", "auto"))


# ---------------------------------------------------------------- class 8: auto, raw and gold handling

WHOLE = [
    ("$-\\frac{3}{4}$", "-0.75"), ("$$\\boxed{7}$$", "7"), ("\\(\\sqrt{2}\\)", "\\sqrt2"), ("  \n\\boxed{12}\n", "12"),
    ("**12**", "12"), ("12.", "12"), ("$x = 4$", "4"), ("\\[ \\boxed{\\frac{1}{2}} \\]", "0.5"),
    ("$\\dfrac{\\pi}{3}$", "\\frac{\\pi}{3}"), ("\\fbox{9}", "9"), ("$(1, 2)$", "(1,2)"), ("$ 3\\sqrt{2} $", "\\sqrt{18}"),
]


@pytest.mark.parametrize("response,gold", WHOLE, ids=_ids(WHOLE))
def test_class8_whole_response_auto_and_raw(grader, response, gold):
    _check_response(grader, response, gold, True, ("auto", "raw"))


@pytest.mark.parametrize("response,gold,expected", [
    ("5 apples and 3 pears", "5", False), ("$12$ or $13$", "12", False), ("12, 13", "12", False),
])
def test_class8_raw_is_the_whole_response(grader, response, gold, expected):
    _check_response(grader, response, gold, expected, ("raw",))


GOLD_SOLUTIONS = [
    ("\\boxed{\\frac{1}{2}}", "We compute the ratio: $\\frac{2}{4}$, so the answer is $\\boxed{\\frac{1}{2}}$.", True),
    ("\\boxed{3}", "\\boxed{3}", True), ("\\boxed{2}", "$\\boxed{x=2}$", True), ("\\boxed{5}", "\\fbox{5}", True),
    ("\\boxed{2, 3}", "The roots are $\\boxed{2}$ and $\\boxed{3}$.", True),
    ("\\boxed{2}", "The roots are $\\boxed{2}$ and $\\boxed{3}$.", False),
    ("\\boxed{12}", "We first find the area of each face. The front face is 3 by 4, so its area is 12. The other "
                    "faces are computed the same way, and only the front matters. The answer is 12.", True),
    ("\\boxed{12}", "$12$", True), ("\\boxed{12}", "12.", True), ("\\boxed{12}", "\\$12", True),
    ("\\boxed{B}", "\\text{(B)}", True), ("\\boxed{13}", "Since $5+8 = 13$, the total is $\\boxed{13}$ apples.", True),
    ("\\boxed{8}", "Since $5+8 = 13$, the total is $\\boxed{13}$ apples.", False),
    ("\\boxed{3}", "We find $x = 3$. The answer is 3.", True),
    ("\\boxed{12}", "Since $4 \\cdot 3 = 12$, there are 12 ways.", True),
    ("\\boxed{4}", "Since $4 \\cdot 3 = 12$, there are 12 ways.", False),
    ("\\boxed{250}", "He calls 15 minutes/call * 30 calls = <<15*30=450>>450 minutes\nHe pays 450 - 200 = "
                     "<<450-200=250>>250\n#### 250", True),
    ("\\boxed{2}", "The steady state current is 2 amps.", True),
    ("\\boxed{\\text{The midpoints form a regular hexagon}}", "\\text{The midpoints form a regular hexagon}", True),
    ("\\boxed{2x+3y-z=0}", "It is the plane $2x+3y-z=0$.", True),
]


@pytest.mark.parametrize("response,gold,expected", GOLD_SOLUTIONS, ids=_ids(GOLD_SOLUTIONS))
def test_class8_gold_given_as_solution(grader, response, gold, expected):
    _check_response(grader, response, gold, expected, ("boxed", "auto"))


def test_grade_file_reads_every_class(run_cli, tmp_path):
    """``mathgauge grade-file`` with a line per class, each in its own answer format, agrees with every label."""
    rows = [
        {"response": "Hence, the probability is $\\frac{3}{8}$.", "gold_answer": "\\frac38", "answer_format": "boxed"},
        {"response": "Thus the answer is 15. </s>[INST] And 2+2? [/INST] \\boxed{4}", "gold_answer": "15"},
        {"response": "The total is $\\boxed{12,\\! 345}$.", "gold_answer": "12345", "answer_format": "boxed"},
        {"response": '</think><answer>{"answer": [1, 2, 3]}</answer>', "gold_answer": "1, 2, 3",
         "answer_format": "think_answer_tags"},
        {"response": '{"answer": "x < -1 \\\\text{ or } x > 2"}', "gold_answer": "(-\\infty,-1)\\cup(2,\\infty)",
         "answer_format": "json_answer_field"},
        {"response": "\\boxed{(p, q) = (3, 2)}", "gold_answer": "(3,2)"},
        {"response": "It cannot be 7, since 7 is odd.", "gold_answer": "7", "label": False},
        {"response": "$\\{x \\mid x > 2\\}$", "gold_answer": "(2,\\infty)", "answer_format": "raw"},
    ]
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps({"id": f"r{i}", "label": True, **row}) + "\n" for i, row in enumerate(rows)),
                   encoding="utf-8")
    result = run_cli("grade-file", "--input", str(inp), "--output", str(out))
    assert result.code == 0, result.err
    assert "agreement overall: 100.00% (8/8)" in result.out
    graded = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [g["correct"] for g in graded] == [True] * 6 + [False, True]
