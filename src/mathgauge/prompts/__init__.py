"""Prompt templates (data, not code) that turn a problem into chat messages."""

from ._template import DEFAULT_TEMPLATE, PLACEHOLDER, PromptTemplate, builtin_templates, load_template

__all__ = ["DEFAULT_TEMPLATE", "PLACEHOLDER", "PromptTemplate", "builtin_templates", "load_template"]
