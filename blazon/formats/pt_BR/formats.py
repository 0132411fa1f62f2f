"""Brazilian Portuguese: dates as 08/12/2026 and 08/12/2026 14:05."""

SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
