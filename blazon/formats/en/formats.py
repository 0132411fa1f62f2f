"""English: dates as 2026-12-08 and 2026-12-08 14:05."""

SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
