from __future__ import annotations

import io

import pytest

from campaigns.csv_reader import CsvError, open_rows


def read(data: bytes, **kwargs):
    layout, rows = open_rows(io.BytesIO(data), **kwargs)
    return layout, list(rows)


def test_it_reads_utf8_with_a_bom_and_finds_the_phone_column():
    layout, rows = read("\ufeffName,Mobile\nअनु,9876543210\nBob,+919876543211\n".encode())
    assert layout.phone_column == "mobile"
    assert [(r.number, r.phone, r.fields["name"]) for r in rows] == [
        (2, "9876543210", "अनु"),
        (3, "+919876543211", "Bob"),
    ]


def test_it_reads_excel_latin1_with_semicolons():
    layout, rows = read("name;phone\nJosé;9876543210\n".encode("cp1252"))
    assert (layout.encoding, layout.delimiter) == ("cp1252", ";")
    assert rows[0].fields["name"] == "José"


def test_a_chosen_phone_column_is_used():
    layout, rows = read(b"cell,phone\n9876543210,x\n", phone_column="Cell")
    assert rows[0].phone == "9876543210"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"name,city\nA,B\n", "No phone column"),
        ("phone\n1\n".encode("utf-16"), "UTF-16"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not a CSV"),
        (b"phone,phone\n1,2\n", "twice"),
    ],
)
def test_a_bad_file_is_refused_with_a_reason(data, reason):
    with pytest.raises(CsvError, match=reason):
        read(data)


def test_bad_rows_are_reported_with_their_row_number_and_the_rest_kept():
    data = b'phone,name\n9876543210,A\n9876543211\n"multi\nline",B\n9876543212,C\n'
    _, rows = read(data)
    assert [(r.number, r.error[:9]) for r in rows] == [(2, ""), (3, "Has 1 col"), (4, ""), (6, "")]


def test_an_unmatched_quote_refuses_the_file_naming_the_row():
    _, rows = open_rows(io.BytesIO(b'phone,name\n9876543210,A\n9876543211,"open\n9876543212,B\n'))
    assert next(rows).phone == "9876543210"
    with pytest.raises(CsvError, match="Row 3: a quote opens here and is never closed"):
        list(rows)


def test_a_huge_field_refuses_the_file():
    with pytest.raises(CsvError, match="Row 2: a field is longer than 10,000 characters"):
        read(b"phone,note\n9876543210," + b"x" * 1_000_000 + b"\n9876543211,ok\n")


def test_it_streams_without_reading_everything_first():
    class CountingStream(io.RawIOBase):
        def __init__(self, lines: int) -> None:
            self.lines, self.sent, self.buffer = lines, 0, b"phone,name\n"

        def readable(self) -> bool:
            return True

        def readinto(self, target) -> int:
            while len(self.buffer) < len(target) and self.sent < self.lines:
                self.buffer += b"9876543210,someone\n"
                self.sent += 1
            n = min(len(target), len(self.buffer))
            target[:n], self.buffer = self.buffer[:n], self.buffer[n:]
            return n

    stream = CountingStream(1_000_000)
    _, rows = open_rows(io.BufferedReader(stream))
    next(rows)
    assert stream.sent < 20_000


def test_a_file_that_ends_inside_a_character_is_not_utf8():
    layout, _ = open_rows(io.BytesIO(b"phone,name\xf0\x9f"))
    assert layout.encoding == "cp1252"


def test_a_row_with_bytes_that_are_not_text_is_reported_and_blank_lines_skipped():
    # Beyond the part read to detect the encoding, so the file is taken as UTF-8.
    filler = b"".join(b"98%08d,Name\n" % i for i in range(7000))
    data = b"phone,name\n" + filler + b"\n  ,  \n9876543210,Jos\xe9\n9876543211,Ok\n"
    _, rows = read(data)
    tail = list(rows)[-2:]
    assert [(r.number, r.error) for r in tail] == [
        (7004, "Contains characters that are not valid text in this file's encoding."),
        (7005, ""),
    ]
