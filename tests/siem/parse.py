"""Parsers of what the receivers wrote: RFC 5424 messages and CEF records, written from the
RFCs (and the CEF specification), independent of ``siem.formats``."""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADER = re.compile(r"^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (.*)$", re.S)


@dataclass
class Syslog:
    pri: int
    timestamp: str
    hostname: str
    app: str
    procid: str
    msgid: str
    sd: dict[str, dict[str, str]]
    msg: str


def parse_5424(line: str) -> Syslog:
    m = HEADER.match(line)
    assert m, line
    rest = m.group(7)
    sd: dict[str, dict[str, str]] = {}
    if rest.startswith("-"):
        rest = rest[1:]
    else:
        while rest.startswith("["):
            i = 1
            sd_id_end = rest.index(" ", i) if " " in rest[: rest.index("]")] else rest.index("]")
            sd_id = rest[1:sd_id_end]
            params: dict[str, str] = {}
            i = sd_id_end
            while rest[i] == " ":
                eq = rest.index("=", i)
                name = rest[i + 1 : eq]
                assert rest[eq + 1] == '"'
                j, value = eq + 2, []
                while rest[j] != '"':
                    if rest[j] == "\\" and rest[j + 1] in '"\\]':
                        value.append(rest[j + 1])
                        j += 2
                    else:
                        assert rest[j] != "]", "unescaped ] in a PARAM-VALUE"
                        value.append(rest[j])
                        j += 1
                params[name] = "".join(value)
                i = j + 1
            assert rest[i] == "]"
            sd[sd_id] = params
            rest = rest[i + 1 :]
    assert rest.startswith(" "), rest[:20]
    return Syslog(int(m.group(1)), m.group(2), m.group(3), m.group(4), m.group(5), m.group(6), sd, rest[1:])


def parse_cef(record: str) -> tuple[list[str], dict[str, str]]:
    """(the 7 header fields after "CEF:0", the extension as a dict), unescaped."""
    assert record.startswith("CEF:0|"), record[:30]
    fields, current, i, body = [], [], 6, record
    while len(fields) < 6:
        c = body[i]
        if c == "\\" and body[i + 1] in "\\|":
            current.append(body[i + 1])
            i += 2
            continue
        if c == "|":
            fields.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    ext_text = body[i:]
    ext: dict[str, str] = {}
    for m in re.finditer(r"(\w+)=((?:\\.|[^\\])*?)(?= \w+=|$)", ext_text, re.S):
        value = m.group(2)
        value = re.sub(r"\\(.)", lambda x: {"n": "\n", "r": "\r"}.get(x.group(1), x.group(1)), value)
        ext[m.group(1)] = value
    return fields, ext
