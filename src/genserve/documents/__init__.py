"""Document understanding over a recognized page, weight-free: type, key fields, line items, tables.

Rules over the text blocks' words and geometry (no model, no weights), in Chinese and English:

- :mod:`.page`: the input (text blocks with upright boxes, regions) and its rows, read level even
  on a slightly rotated page;
- :mod:`.values`: amounts, dates, times, identifiers and phone numbers as typed values;
- :mod:`.fields`: labelled key fields (total, date, invoice number, tax ID, merchant, ...);
- :mod:`.items`: line items (name, quantity, unit price, amount) and the check that they add up;
- :mod:`.tables`: rows and columns of cells inside table regions, as lists and CSV;
- :mod:`.types`: the document type from a table of rules (keywords and layout cues);
- :mod:`.understand`: all of it in one ``document`` dictionary.
"""

from __future__ import annotations

from genserve.documents.page import Page, Token
from genserve.documents.understand import understand

__all__ = ["Page", "Token", "understand"]
