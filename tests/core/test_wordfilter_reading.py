"""Moved to tests/core/wordfilter/ (issue 24). This name stays only for the import in
tests/e2e/test_word_filter.py (another engineer's file); once that imports
``READING_BLOCKED`` from ``tests.core.wordfilter.cases``, delete this file."""

from tests.core.wordfilter.cases import READING_BLOCKED as BLOCKED

__all__ = ["BLOCKED"]
