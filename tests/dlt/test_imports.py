"""Importing the registry from the files the operators' DLT portals export.

The files are built here in the layouts each portal exports (their column headings and
value spellings), as CSV bytes or as XLSX workbooks written with openpyxl.
"""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from dlt import services
from dlt.imports import (
    FIELDS,
    NO_ENTITY,
    REQUIRED,
    ImportRefused,
    import_file,
    read_columns,
    recognise_columns,
)
from dlt.models import Category, Entity, Header, Template, WhitelistEntry

pytestmark = pytest.mark.django_db

PE_ID = "1201160000000000001"  # the conftest's entity


def csv_file(text: str, *, name: str = "export.csv", encoding: str = "utf-8") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def xlsx_file(rows: list[list[object]], *, name: str = "export.xlsx") -> SimpleUploadedFile:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return SimpleUploadedFile(name, buffer.getvalue())


JIO_TEMPLATES = (
    "\ufeffTemplate Id,Template Name,Template Content,Template Type,Template Content Type,"
    "Header,Entity ID,Entity Name,Status\n"
    "1207161111111111111,OTP,Your OTP is {#numeric#}. Do not share it. - Acme,"
    "Service Implicit,Text,ACMEIN,1201169999999999999,Acme Retail Pvt Ltd,Approved\n"
    '1207162222222222222,Order shipped,"Order {#alphanumeric#} shipped: {#url#} - Acme",'
    'Transactional,Text,"ACMEIN, ACMEOT",1201169999999999999,Acme Retail Pvt Ltd,Rejected\n'
)


# ---------------------------------------------------------------- each portal's layout


def test_it_imports_a_jio_template_export_and_registers_its_entity_and_headers():
    result = import_file(file=csv_file(JIO_TEMPLATES), kind="templates")

    assert (result.rows_total, result.created, result.updated, result.errors) == (2, 2, 0, [])
    assert result.columns == {
        "template_id": "Template Id",
        "name": "Template Name",
        "text": "Template Content",
        "category": "Template Type",
        "content_type": "Template Content Type",
        "headers": "Header",
        "entity_id": "Entity ID",
        "entity_name": "Entity Name",
        "status": "Status",
    }
    entity = Entity.objects.get(entity_id="1201169999999999999")
    assert entity.name == "Acme Retail Pvt Ltd"
    otp = Template.objects.get(template_id="1207161111111111111")
    assert (otp.name, otp.category, otp.status, otp.entity) == (
        "OTP",
        Category.SERVICE_IMPLICIT,
        Template.Status.APPROVED,
        entity,
    )
    assert otp.text == "Your OTP is {#numeric#}. Do not share it. - Acme"
    shipped = Template.objects.get(template_id="1207162222222222222")
    assert shipped.status == Template.Status.INACTIVE
    assert sorted(h.sender_id for h in shipped.headers.all()) == ["ACMEIN", "ACMEOT"]
    # Headers not registered yet are, with the category of the template that named them.
    new = Header.objects.get(sender_id="ACMEIN")
    assert (new.category, new.status, new.entity) == (
        Category.SERVICE_IMPLICIT,
        Header.Status.ACTIVE,
        entity,
    )


def test_it_imports_an_airtel_xlsx_export():
    workbook = xlsx_file(
        [
            ["TEMPLATE_ID", "TEMPLATE_NAME", "TEMPLATE_CONTENT", "CATEGORY", "CONTENT_TYPE",
             "HEADERS", "PE_ID", "STATUS"],
            ["1207163333333333333", "Welcome", "नमस्ते {#var#}, Acme में स्वागत है",
             "SERVICE_EXPLICIT", "UNICODE", "ACLALT", PE_ID, "ACTIVE"],
            ["1207164444444444444", "Bill", "Bill of Rs {#numeric#} is due - Acme",
             "TRANSACTIONAL", None, "aclalt", PE_ID, "ACTIVE"],
        ]
    )  # fmt: skip

    result = import_file(file=workbook, kind="templates")

    assert result.errors == []
    assert result.created == 2
    welcome = Template.objects.get(template_id="1207163333333333333")
    assert welcome.content_type == Template.ContentType.UNICODE
    assert welcome.category == Category.SERVICE_EXPLICIT
    assert welcome.text == "नमस्ते {#var#}, Acme में स्वागत है"
    assert [h.sender_id for h in welcome.headers.all()] == ["ACLALT"]
    bill = Template.objects.get(template_id="1207164444444444444")
    assert bill.content_type == Template.ContentType.TEXT
    assert bill.entity.entity_id == PE_ID


def test_it_refuses_a_template_id_the_spreadsheet_rounded(entity):
    workbook = xlsx_file(
        [
            ["Template ID", "Template Content", "Category"],
            [1.2071655555555556e18, "Hello {#var#}", "Transactional"],
        ]
    )
    rounded_csv = csv_file("Template ID,Template Content,Category\n1.20717E+18,Hi,Trans\n")

    for file in (workbook, rounded_csv):
        result = import_file(file=file, kind="templates", entity=entity)
        assert result.rows_rejected == 1
        assert "rounded" in result.errors[0]["error"]
        assert result.errors[0]["error"].startswith("template_id: 1.2071")
    assert not Template.objects.exists()


def test_a_vi_export_with_a_heading_we_do_not_know_imports_with_the_users_mapping(entity):
    # Semicolons and Windows-1252, as Excel saves a CSV on a Windows PC.
    vi = (
        "CT Number;Msg Body;Consent Type;Sender\n"
        "1207166666666666666;Acme’s sale ends today: {#url#};Promotional;567890\n"
    )
    file = csv_file(vi, encoding="cp1252")

    with pytest.raises(ImportRefused) as refused:
        import_file(file=file, kind="templates", entity=entity)
    assert refused.value.missing == ["template_id", "text"]

    result = import_file(
        file=file,
        kind="templates",
        entity=entity,
        columns={"template_id": "CT Number", "text": "Msg Body"},
    )

    assert result.errors == []
    assert result.columns["text"] == "Msg Body"
    assert result.columns["category"] == "Consent Type"
    template = Template.objects.get(template_id="1207166666666666666")
    assert template.text == "Acme’s sale ends today: {#url#}"
    assert template.category == Category.PROMOTIONAL
    assert template.entity == entity
    assert Header.objects.get(sender_id="567890").category == Category.PROMOTIONAL


def test_smartping_variable_types_tag_each_var_in_order(entity):
    smartping = (
        "Template ID,Template Message,Category,Variable Type\n"
        "1207167777777777701,Dear {#var#} your order {#var#} is out: {#var#},Trans,"
        '"Alphanumeric, number, URL"\n'
        "1207167777777777702,OTP {#var#} for {#var#},Service-Implicit,Numeric|Alpha Numeric\n"
        "1207167777777777703,Welcome to Acme,Service Explicit,\n"
    )

    result = import_file(file=csv_file(smartping), kind="templates", entity=entity)

    assert result.errors == []
    texts = dict(Template.objects.values_list("template_id", "text"))
    assert texts == {
        "1207167777777777701": "Dear {#alphanumeric#} your order {#numeric#} is out: {#url#}",
        "1207167777777777702": "OTP {#numeric#} for {#alphanumeric#}",
        "1207167777777777703": "Welcome to Acme",
    }


def test_it_imports_a_header_export():
    headers = (
        "Header ID,Header Name,Header Type,Status,PE ID,Entity Name\n"
        "1105150000000001,567891,Promotional,Active,1201168888888888888,Acme\n"
        "1105150000000002,acmetx,Others,Activated,1201168888888888888,Acme\n"
        "1105150000000003,ACMESV,Service Implicit,Inactive,1201168888888888888,\n"
        "1105150000000004,ACMEGV,Govt,Deactivated,1201168888888888888,\n"
    )

    result = import_file(file=csv_file(headers), kind="headers")

    assert result.errors == []
    # The portal's numeric "Header ID" is not the sender id.
    assert result.columns["sender_id"] == "Header Name"
    rows = {h.sender_id: (h.category, h.status, h.entity.entity_id) for h in Header.objects.all()}
    assert rows == {
        "567891": (Category.PROMOTIONAL, "active", "1201168888888888888"),
        "ACMETX": (Category.TRANSACTIONAL, "active", "1201168888888888888"),
        "ACMESV": (Category.SERVICE_IMPLICIT, "inactive", "1201168888888888888"),
        "ACMEGV": (Category.GOVERNMENT, "inactive", "1201168888888888888"),
    }


def test_a_header_id_alone_is_refused_row_by_row_with_the_reason(entity):
    result = import_file(
        file=csv_file("Header ID,Header Type\n1105150000000001,Promotional\n"),
        kind="headers",
        entity=entity,
    )

    assert result.errors == [
        {
            "row": 2,
            "error": "sender_id: 1105150000000001 is the portal's number for a header, not its "
            "sender id: choose the column with the header's name.",
        }
    ]


def test_it_imports_a_whitelist_export(entity, alert_header, promo_header):
    whitelist = (
        "Type,URL Type,Value,Headers,Entity ID\n"
        f"URL,Static,https://acme.in/offer,ACLALT,{PE_ID}\n"
        f"URL,Dynamic,https://acme.in/t/,ACLALT 567890,{PE_ID}\n"
        f"OTT,,https://play.google.com/store/apps/details?id=in.acme,,{PE_ID}\n"
        f"Callback Number,,1800 123 4567,,{PE_ID}\n"
        f",,+91 98765 43210,,{PE_ID}\n"
    )

    result = import_file(file=csv_file(whitelist), kind="whitelist")

    assert result.errors == []
    assert result.created == 5
    assert (result.columns["kind"], result.columns["dynamic"]) == ("Type", "URL Type")
    entries = {
        e.value: (e.kind, e.dynamic, sorted(h.sender_id for h in e.headers.all()))
        for e in WhitelistEntry.objects.filter(entity=entity)
    }
    assert entries == {
        "https://acme.in/offer": ("url", False, ["ACLALT"]),
        "https://acme.in/t/": ("url", True, ["567890", "ACLALT"]),
        "https://play.google.com/store/apps/details?id=in.acme": ("urlott", False, []),
        "1800 123 4567": ("cbn", False, []),
        "+91 98765 43210": ("cbn", False, []),
    }


def test_a_url_type_of_static_or_dynamic_alone_is_read_as_a_url(entity):
    whitelist = "URL,URL Type\nhttps://acme.in/a,Static URL\nhttps://acme.in/b/,Dynamic URL\n"

    result = import_file(file=csv_file(whitelist), kind="whitelist", entity=entity)

    assert result.errors == []
    assert dict(WhitelistEntry.objects.values_list("value", "dynamic")) == {
        "https://acme.in/a": False,
        "https://acme.in/b/": True,
    }


def test_a_callback_number_typed_as_a_number_in_a_workbook_is_whitelisted(entity):
    workbook = xlsx_file([["Callback Number"], [18001234567]])

    result = import_file(file=workbook, kind="whitelist", entity=entity)

    assert result.errors == []
    assert list(WhitelistEntry.objects.values_list("kind", "value")) == [("cbn", "18001234567")]


# ---------------------------------------------------------------- importing again


def test_importing_again_updates_instead_of_duplicating():
    import_file(file=csv_file(JIO_TEMPLATES), kind="templates")
    changed = JIO_TEMPLATES.replace("Do not share it.", "Valid for 10 minutes.").replace(
        "Acme Retail Pvt Ltd", "Acme Retail Limited"
    )

    result = import_file(file=csv_file(changed), kind="templates")

    assert (result.created, result.updated, result.rows_accepted) == (0, 2, 2)
    assert Template.objects.count() == 2
    assert Header.objects.count() == 2
    assert Entity.objects.count() == 1
    otp = Template.objects.get(template_id="1207161111111111111")
    assert otp.text == "Your OTP is {#numeric#}. Valid for 10 minutes. - Acme"
    assert otp.entity.name == "Acme Retail Limited"


def test_importing_a_changed_template_alone_reports_one_update_and_keeps_its_headers(
    otp_template,
):
    file = csv_file(
        "Template ID,Template Content,Category\n"
        f"{otp_template.template_id},Your code is {{#numeric#}} - Acme,Transactional\n"
    )

    result = import_file(file=file, kind="templates")

    assert (result.created, result.updated) == (0, 1)
    otp_template.refresh_from_db()
    assert otp_template.text == "Your code is {#numeric#} - Acme"
    assert otp_template.name == "OTP"
    assert [h.sender_id for h in otp_template.headers.all()] == ["ACLALT"]


def test_reimporting_headers_and_whitelist_updates_them(entity, alert_header):
    headers = "Header,Category,Status\nACLALT,Transactional,Blocked\n"
    whitelist = "URL,Dynamic,Header\nhttps://acme.in/t/,No,\nhttps://acme.in/t/,Yes,ACLALT\n"

    header_result = import_file(file=csv_file(headers), kind="headers", entity=entity)
    whitelist_result = import_file(file=csv_file(whitelist), kind="whitelist", entity=entity)

    assert (header_result.created, header_result.updated) == (0, 1)
    alert_header.refresh_from_db()
    assert alert_header.status == Header.Status.INACTIVE
    assert (whitelist_result.created, whitelist_result.updated) == (1, 1)
    entry = WhitelistEntry.objects.get()
    assert entry.dynamic is True
    assert [h.sender_id for h in entry.headers.all()] == ["ACLALT"]


# ---------------------------------------------------------------- rows refused


def test_rejected_rows_are_reported_with_their_row_and_reason_and_good_rows_are_kept(entity):
    rows = (
        "Template ID,Template Content,Template Type,Header,Variable Types\n"
        "1207160000000000001,Your OTP is {#numeric#},Transactional,ACMEOT,\n"
        "1207160000000000002,Hello {#var#},Marketing,ACMEOT,\n"
        "1207160000000000003,Sale today {#url#},Promotional,ACMEPR,\n"
        "\n"
        "1207160000000000004,Hi {#var#} and {#var#},Transactional,,numeric\n"
        "1207160000000000005,,Transactional,,\n"
        "1207160000000000006,Code {#numeric#},Trans,ACMEOT,\n"
        "1207160000000000007,Hi {#name#},Transactional,ACMENW,\n"
    )

    result = import_file(file=csv_file(rows), kind="templates", entity=entity)

    assert (result.rows_total, result.rows_accepted, result.rows_rejected) == (7, 2, 5)
    assert result.errors == [
        {
            "row": 3,
            "error": "category: 'Marketing' is not a DLT category: write Promotional, "
            "Transactional, Service implicit, Service explicit or Government.",
        },
        {"row": 4, "error": "headers: ACMEPR: A promotional sender id is 6 digits."},
        # The blank line is row 5 of the spreadsheet.
        {
            "row": 6,
            "error": "variable_types: 1 types listed for 2 {#var#} in the text: "
            "list one type for each, in order.",
        },
        {"row": 7, "error": "text: no value in the column 'Template Content'."},
        {
            "row": 9,
            "error": "text: Write each variable as {#var#} or a tag: {#var#}, {#numeric#}, "
            "{#alphanumeric#}, {#url#}, {#urlott#}, {#cbn#}, {#email#}.",
        },
    ]
    assert sorted(Template.objects.values_list("template_id", flat=True)) == [
        "1207160000000000001",
        "1207160000000000006",
    ]
    # The refused rows' headers were not left registered (ACMENW before its template failed).
    assert list(Header.objects.values_list("sender_id", flat=True)) == ["ACMEOT"]


def test_a_whitelist_row_naming_an_unknown_header_is_refused(entity, alert_header):
    whitelist = 'URL,Headers\nhttps://acme.in/a,ACLALT\nhttps://acme.in/b,"ACLALT, NOSUCH"\n'

    result = import_file(file=csv_file(whitelist), kind="whitelist", entity=entity)

    assert result.errors == [
        {"row": 3, "error": "headers: NOSUCH is not registered: import the headers first."}
    ]
    assert list(WhitelistEntry.objects.values_list("value", flat=True)) == ["https://acme.in/a"]


def test_a_row_without_an_entity_is_refused_unless_one_is_chosen(entity):
    file = csv_file("Template ID,Template Content,Category\n1207160000000000009,Hi,Trans\n")

    without = import_file(file=file, kind="templates")
    chosen = import_file(file=file, kind="templates", entity=entity)

    assert without.errors == [{"row": 2, "error": NO_ENTITY}]
    assert chosen.created == 1
    assert Template.objects.get().entity == entity


def test_a_row_with_more_cells_than_headings_is_refused(entity):
    file = csv_file(
        "Template ID,Template Content,Category\n"
        "1207160000000000010,Hi, there {#var#},Trans\n"
        "1207160000000000011,Hello,Trans\n"
    )

    result = import_file(file=file, kind="templates", entity=entity)

    assert result.errors == [{"row": 2, "error": "Has 4 columns; the heading row has 3."}]
    assert result.created == 1


# ---------------------------------------------------------------- files refused


def test_a_file_without_a_required_column_is_refused_with_its_columns():
    file = csv_file("Template Name,Template Content\nOTP,Your OTP is {#numeric#}\n")

    with pytest.raises(ImportRefused) as refused:
        import_file(file=file, kind="templates")

    assert refused.value.columns == ["Template Name", "Template Content"]
    assert refused.value.missing == ["template_id", "category"]
    assert "template_id (e.g. 'Template ID')" in refused.value.message
    assert not Template.objects.exists()


@pytest.mark.parametrize(
    ("content", "name", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "logo.csv", "not a CSV file"),
        (b"PK\x03\x04 this is not really a zip", "export.xlsx", "not a CSV file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "export.xls", "Excel 97-2003"),
        (b"", "export.csv", "The file is empty."),
        (b"\r\n\r\n", "export.csv", "The file is empty."),
        (b"Template ID,Template Content,Category\r\n", "export.csv", "headings but no rows"),
        (b'Template ID,Template Content,Category\n1,"open,Trans\n', "x.csv", "never closed"),
        ("Template ID\n1\n".encode("utf-16"), "export.csv", "UTF-16"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused(content, name, reason, entity):
    with pytest.raises(ImportRefused) as refused:
        import_file(file=SimpleUploadedFile(name, content), kind="templates", entity=entity)

    assert reason in refused.value.message
    assert refused.value.missing == []
    assert not Template.objects.exists()


def test_a_file_of_more_than_50000_rows_is_refused_before_any_row_is_written(entity):
    rows = "".join(f"{1207170000000000000 + n},Hello,Trans\n" for n in range(50_001))
    file = csv_file("Template ID,Template Content,Category\n" + rows)

    with pytest.raises(ImportRefused) as refused:
        import_file(file=file, kind="templates", entity=entity)

    assert "The file has more than 50,000 rows" in refused.value.message
    assert not Template.objects.exists()


def test_a_mapping_naming_a_heading_not_in_the_file_is_refused(entity):
    file = csv_file("Template ID,Template Content,Category\n1207160000000000012,Hi,Trans\n")

    with pytest.raises(ImportRefused) as refused:
        import_file(file=file, kind="templates", entity=entity, columns={"text": "Msg Body"})

    assert refused.value.message == (
        "The file has no column 'Msg Body'; its columns are: "
        "Template ID, Template Content, Category."
    )
    assert refused.value.missing == ["text"]
    assert refused.value.columns == ["Template ID", "Template Content", "Category"]


def test_a_mapping_of_a_field_the_kind_does_not_have_is_refused(entity):
    file = csv_file("Header,Category\nACMEAB,Transactional\n")

    with pytest.raises(ImportRefused) as refused:
        import_file(file=file, kind="headers", entity=entity, columns={"text": "Header"})

    assert "text: not a field of a headers import" in refused.value.message


# ---------------------------------------------------------------- headings


def test_read_columns_lists_the_headings_of_csv_and_xlsx_files():
    csv_upload = csv_file("\ufeffTemplate Id;Template Content;Header\n1;Hi;ACMEAB\n")
    workbook = xlsx_file([[None], ["DLT Template ID", "Message", None, "PE ID"], [1, "Hi"]])
    # An XLSX upload is known by its content whatever its name says.
    unnamed = SimpleUploadedFile("download", workbook.read())

    assert read_columns(csv_upload) == ["Template Id", "Template Content", "Header"]
    assert read_columns(workbook) == ["DLT Template ID", "Message", "PE ID"]
    assert read_columns(unnamed) == ["DLT Template ID", "Message", "PE ID"]


def test_read_columns_then_import_read_the_same_upload(entity):
    workbook = xlsx_file(
        [
            ["", ""],
            ["Template ID", "Message", "Type"],
            ["1207160000000000013", "Hi", "Promo"],
            ["1207160000000000014", "Hello", "Spam"],
        ]
    )

    headings = read_columns(workbook)
    result = import_file(file=workbook, kind="templates", entity=entity)

    assert headings == ["Template ID", "Message", "Type"]
    assert Template.objects.get().category == Category.PROMOTIONAL
    # Row numbers are the sheet's: the headings are on its row 2.
    assert [error["row"] for error in result.errors] == [4]


@pytest.mark.parametrize(
    ("heading", "field"),
    [
        ("TEMPLATE_ID", "template_id"),
        ("Content Template ID", "template_id"),
        ("Template ID (DLT)", "template_id"),
        ("CT ID", "template_id"),
        ("Template Type", "category"),
        ("Message Type", "category"),
        ("Template Message", "text"),
        ("Template", "text"),
        ("Linked Headers", "headers"),
        ("Sender ID", "headers"),
        ("Principal Entity ID", "entity_id"),
        ("Company Name", "entity_name"),
        ("Approval Status", "status"),
        ("Message Format", "content_type"),
        ("Variable Tagging", "variable_types"),
    ],
)
def test_portal_headings_are_recognised(heading, field):
    assert recognise_columns(kind="templates", headings=[heading]) == {field: heading}


def test_the_more_specific_heading_wins_when_a_file_has_two():
    headings = ["Template", "Template Type", "Template Content", "Type", "Sender", "Header"]

    assert recognise_columns(kind="templates", headings=headings) == {
        "text": "Template Content",
        "category": "Template Type",
        "headers": "Header",
    }


def test_every_required_field_is_a_field():
    assert all(set(REQUIRED[kind]) <= set(FIELDS[kind]) for kind in REQUIRED)
    assert FIELDS["templates"] == [
        "template_id", "name", "text", "category", "content_type", "headers", "entity_id",
        "entity_name", "status", "variable_types",
    ]  # fmt: skip


def test_a_template_row_naming_another_entitys_header_is_refused(entity, promo_header):
    services.entity_save(name="Other", entity_id="1201160000000000002")
    file = csv_file(
        "Template ID,Template Content,Category,Sender ID,Entity ID\n"
        "1207160000000000014,Offer {#url#},Promo,567890,1201160000000000002\n"
    )

    result = import_file(file=file, kind="templates")

    assert result.errors == [{"row": 2, "error": "headers: 567890 belongs to another entity."}]
