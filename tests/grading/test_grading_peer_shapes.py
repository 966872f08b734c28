"""Shapes the peers' grader test suites check (math-verify, lighteval, inspect_ai, NeMo-Skills, hendrycks MATH),
as cases written for mathgauge and graded the way a user would: ``grade(response, gold)`` with ``auto``.

The last test pins where mathgauge's policy deliberately differs from a peer's expectation (documented in the
package docstring): a comma is never a decimal point, rounded decimals do not equal exact values, and lists of
solutions are compared as sets.
"""

from __future__ import annotations

import math

import pytest

from mathgauge.grading import grade

AGREE = [
    # numbers: separators, leading dot, trailing zeros, currency and units around them
    ("-5", "-5", True), ("7,425,000", "7425000", True), ("1 000", "1000", True), ("1000.0", "1000", True),
    (".4", "0.4", True), ("$1,000.99", "1000.99", True), ("the number is not 10 which is 1,000.99€", "1000.99", True),
    ("so it is 10, then it is 1,000.99m²", "1000.99", True), ("AZYUK2A", "2", False),
    # LaTeX notation: delimiters, malformed fractions and roots, styling, trailing words, assignments
    ("Answer \\[ 9 \\]", "$9$", True), ("Answer $$ 9 $$", "$9$", True), ("Answer \\( 9 \\)", "$9$", True),
    ("Answer \\( (9+1) \\)", "$10$", True), ("$\\frac13 $", "$1/3$", True), ("$\\frac3{3} $", "$1$", True),
    ("$\\sqrt3 $", "$\\sqrt{3}$", True), ("$\\cfrac{1}{3} $", "$1/3$", True), ("$\\left( \\frac{1}{3} \\right)$", "$1/3$", True),
    ("$\\frac{1}{3} \\text{meters}$", "$1/3$", True), ("$k = \\frac{1}{3}$", "$1/3$", True), ("-\\frac{10}{9}", "-10/9", True),
    # percentages
    ("28 percent", "$28\\%$", True), ("$\\boxed{28 percent}$", "$28\\%$", True), ("28", "$0.28$", False),
    ("28/100", "$28$", False),
    # intervals, sets, unions
    ("$[0,1)$", "$[0,1)$", True), ("$[0,9)$", "$(0,9)$", False), ("$-[0,1)$", "$1$", False),
    ("$x \\in \\boxed{(2,12) \\cup (12,102)}$", "the domain is \\boxed{(2, 12) \\cup (12, 102)}", True),
    ("${-2021, 2021}$", "$\\pm 2021$", True), ("${1,3}$", "$(1,3)$", True), ("$\\boxed{-2,1}$.", "\\(\\boxed{1}\\) and \\(\\boxed{-2}\\).", True),
    # relations
    ("Therefore $x \\geq 5$ is the solution.", "$x >= 5$", True), ("We find that $x \\lt 3$.", "$x < 3$", True),
    ("The solution is $x != 5$", "$x \\neq 5$", True), ("$x = 5+5+1 = 1/3 \\approx 11$", "$x = 1/3$", True),
    ("$-x >= -1$", "$x <= 1$", True), ("$0$", "$1 = \\zzz = x = 0$", True),
    # matrices and vectors
    ("$\\left[\\begin{array}{cc}1 & 2 \\\\3 & 4\\end{array}\\right]$", "$\\begin{pmatrix}1 & 2 \\\\3 & 4\\end{pmatrix}$", True),
    ("\\begin{bmatrix} 0 & 0 \\\\ 0 & 1 \\end{bmatrix}", "\\begin{pmatrix}0&0\\\\0&1\\end{pmatrix}", True),
    # whole reference solutions as gold, several boxes
    ("If the value is $x$, the total loss is $\\boxed{28\\%}$.", "Solve it: $x=1/5$, or $\\boxed{28}$ percent.", True),
    ("$\\boxed{1,2}$", "\\boxed{1} papers and \\boxed{2} bins", True), ("$\\boxed{1,2}$", "\\boxed{1} no no no \\boxed{2}", False),
    ("\\boxed{1},\\boxed{2},\\boxed{3}", "$${1,2,3}$$", True), ("$$\\text{The midpoints form a regular hexagon}$$",
                                                             "$$\\text{The midpoints form a regular hexagon}$$", True),
    ("is $\\boxed{11,\\! 111,\\! 111,\\! 100}$", " So the answer is: \\[ \\boxed{11111111100} \\]", True),
    ("$\\boxed{\\text{(C)}}.$", "\\(\\boxed{\\text{C}}\\).", True),
    # labelled answers (NuminaMath-style references)
    ("$\\boxed{(7,11),\\ (11,7)}$", "$(11,7)or(7,11)$", True), ("$\\frac{1}{\\sqrt{6}}$", "$\\frac{NO}{BO}=\\frac{1}{\\sqrt{6}}$", True),
    ("$(3,2,7)$", "$(p,q,r)=(3,2,7)$", True), ("$11:21$", "$V_{1}:V_{2}=11:21$", True), ("$\\boxed{6,8}$", "\\(\\boxed{6 \\text{ and } 8}\\)", True),
    ("$p=-1,p=\\frac{15}{8}$", "\\[ \\boxed{p = -1 \\text{ and } p = \\dfrac{15}{8}} \\]", True), ("$$1$$", "$$A:B=1$$", True),
    ("$\\boxed{-10,-8,4}$", "\\boxed{a=4,\\,-8,\\,-10}", True), ("$n=1, 2, 3$", "$n=2, 3, 4$", False),
    # chat-template leaks and closing notes after the answer
    ("So P(A) = 2/3. Therefore, the probability that Alice wins is 2/3. <|im_start|>user", "$2/3$", True),
    ("So, the ordered pair that solves the system is $(7, 6)$. <|im_start|>user", "$(7,6)$", True),
    # hendrycks-style normalisation
    ("\\tfrac{1}{2} +\\! \\frac1{72}", "\\\\dfrac{1}{2} +\\frac{1}{72}", True), ("10\\text{ units}", "10 ", True),
    ("10\\text{ units}", "100 ", False), ("\\$10", "10", True), ("\\left(x-2\\right)\\left(x+2\\right)", "(x-2)(x+2)", True),
    ("\\frac34i", "\\frac{3}{4}i", True), ("5x - 7y + 11z + 4 = 0", "x + y - z + 2 = 0", False),
    # NeMo-Skills-style equivalences, both directions
    ("918\\frac{1}{2}", "918.5", True), ("x^2 + 2*x - (-1)", "x^2+2x+1", True), ("2x+ 1+x^2", "y = x^2+2x+1", True),
    ("\\mathrm{E}", "E", True), ("185\\", "185", True), ("(r+5)^2", "(r+5)(r+5)", True), ("5.001", "5", False),
    ("\\text{oddd}", "odd", False), ("\\sqrt{67}", "\\sqrt{67},-\\sqrt{85}", False),
    # inspect_ai-style answer lines
    ("ANSWER: 42", "42", True), ("ANSWER: 43", "42", False), ("I'm not sure what the answer is.", "42", False),
    ("ANSWER: \\dfrac{1}{2}", "\\frac{1}{2}", True), ("ANSWER: 3+2x", "2x+3", True), ("ANSWER: \\frac{1}{", "42", False),
    ("**Final answer:**\n\nANSWER: 42", "42", True), ("My answer is ANSWER: 42", "42", True),
    # letters and prose (lighteval)
    ("thinking about it, I think the correct answer is C", "C", True), ("The answer is for sure D, it can't be A or B", "D", True),
    ("So then when we 9/3 we get 8 so the answer is 0", "0", True), ("so $x+y = 1000$ therefore answer is $1$", "1", True),
]


@pytest.mark.parametrize("response,gold,expected", AGREE, ids=[f"{i}:{c[0][:30]}" for i, c in enumerate(AGREE)])
def test_agrees_with_peer_expectation(response, gold, expected):
    v = grade(response, gold, answer_format="auto")
    assert v.correct is expected, v


def test_long_decimals_are_program_output():
    # 16 significant digits are a float printed by a program: it equals the value it rounds
    assert grade("$0.0833333333333333$", "$\\frac{1}{12}$").correct
    assert grade("$\\sqrt{17}$", f"{math.sqrt(17):.15f}").correct
    assert not grade("$0.08333$", "$\\frac{1}{12}$").correct


@pytest.mark.parametrize("response,gold", [
    ("1000,99", "1000.99"),  # European decimal comma: read as a list, never as 1000.99
    ("0.111", "0,111"),
    ("$(0.6,2.6667]$", "$(\\frac{3}{5},\\frac{8}{3}]$"),  # rounded decimals are not exact values (no tolerance)
    ("$\\begin{pmatrix}0.33\\\\0.2 \\end{pmatrix}$", "$\\begin{pmatrix}\\frac{1}{3}\\\\ \\frac{1}{5} \\end{pmatrix}$"),
])
def test_policy_differences_from_peers(response, gold):
    assert not grade(response, gold).correct


def test_solution_lists_are_sets():
    # hendrycks compares "10, 4, -2" as a string (order matters); mathgauge reads all solutions as a set
    assert grade("10, 4, -2", "4, 10, -2").correct
    assert not grade("(10, 4, -2)", "(4, 10, -2)").correct  # a tuple keeps its order
