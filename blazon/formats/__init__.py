"""Date formats of the pages, per language (``FORMAT_MODULE_PATH``). Templates print dates with
``|date:"SHORT_DATE_FORMAT"`` and ``|date:"SHORT_DATETIME_FORMAT"``: ISO-like in English (as
Blazon always showed them), day/month/year in Brazilian Portuguese. Django's own formats of each
language apply to everything not set here (numbers, long dates)."""
