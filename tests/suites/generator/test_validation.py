"""One malformed input per validation error: exit status 1, and the exact file, line and message
shape `FILE:LINE: what is wrong; how to fix` - every diagnostic line, not just the one sought."""

import os
import re

import pytest

from conftest import LINE_RE, ROOT, line_of, replace_once, run_module

# A small extra layout appended to the layouts (before `commands:`), for the layout checks.
EXTRA_LAYOUT = """  - name: ExtraLayout
    size: {size}
    doc: A layout added by a test.
    fields:
{fields}
commands:
"""


def field(name, offset, type_, count=None, extra=""):
    count_text = f", count: {count}" if count is not None else ""
    return (f"      - {{name: {name}, offset: {offset}, type: {type_}{count_text}, "
            f"writer: driver, doc: Test field.{extra}}}")


def with_layout(text, size, *fields):
    return replace_once(text, "\ncommands:\n",
                        "\n" + EXTRA_LAYOUT.format(size=size, fields="\n".join(fields)))


def expect_error(result, line, pattern):
    """The run failed, every stderr line has the diagnostic shape, and one of them is at
    `line` of the spec with a message matching `pattern` (a regex for the whole 'what; fix')."""
    assert result.rc == 1, result.err
    assert result.out == ""
    assert result.lines, "no diagnostics"
    for text in result.lines:
        match = LINE_RE.match(text)
        assert match, f"not FILE:LINE: what; fix -> {text!r}"
        assert match["file"] == result.spec
        assert "Traceback" not in text
    wanted = [t for t in result.lines if t.startswith(f"{result.spec}:{line}: ")
              and re.fullmatch(pattern, t.split(": ", 1)[1])]
    assert wanted, f"no error at line {line} matching {pattern!r} in:\n{result.err}"
    return wanted[0]


def test_valid_description_has_no_errors(spec_text, gen_run):
    result = gen_run(spec_text)
    assert result.rc == 0, result.err
    assert result.err == ""


# One replacement in the description: what is replaced, by what, where the error is (a snippet
# of the changed text, or a snippet and how many lines below it), and the message (a pattern, or
# a function of the changed text giving it).
REPLACEMENTS = {
    "unknown_key": (
        "    offset: 0x0004\n", "    ofset: 0x0004\n", "ofset: 0x0004",
        r"unknown key 'ofset' in register 'COMMAND_DATA'; use one of: name, offset, .*"),
    "missing_required_key": (
        "    spec: PVSCSI_REG_OFFSET_DEBUG\n    doc: Debug register (write-only; ignored by QEMU).\n",
        "    spec: PVSCSI_REG_OFFSET_DEBUG\n", "- name: DEBUG",
        r"missing required key 'doc' in register 'DEBUG'; add 'doc: \.\.\.' .*"),
    "wrong_type": (
        "offset: 0x3018", "offset: somewhere", "offset: somewhere",
        r"'offset' in register 'DEBUG' must be an integer, not a string; "
        r"write an integer for 'offset'"),
    # CMPL_0 and CMPL0 would both become the C++ constant kCmpl0Mask.
    "duplicate_name_after_conversion_to_cxx": (
        "      - name: CMPL_1\n        bits: [1, 1]\n"
        "        spec: PVSCSI_INTR_CMPL_1\n        doc: Completion ring 1 (not",
        "      - name: CMPL0\n        bits: [1, 1]\n"
        "        spec: PVSCSI_INTR_CMPL_1\n        doc: Completion ring 1 (not",
        "- name: CMPL0",
        r"duplicate field name 'CMPL0' \(first 'CMPL_0' at line \d+\); rename one of them"),
    "duplicate_command_code": (
        "    code: 11\n", "    code: 10\n", ("- name: GET_MAX_TARGETS", 1),
        r"duplicate command code 10 in command 'GET_MAX_TARGETS' \(command "
        r"'SETUP_REQ_CALL_THRESHOLD' has it\); give each command its own code"),
    "overlapping_registers": (
        "offset: 0x3018", "offset: 0x3014", ("- name: DEBUG", 1),
        r"register 'DEBUG' at 0x3014 overlaps register 'KICK_NON_RW_IO'; "
        r"give each register its own offset"),
    "overlapping_register_fields": (
        "        bits: [1, 1]\n        spec: PVSCSI_INTR_CMPL_1\n"
        "        doc: Completion ring 1 (not used by known devices).",
        "        bits: [1, 0]\n        spec: PVSCSI_INTR_CMPL_1\n"
        "        doc: Completion ring 1 (not used by known devices).",
        "bits: [1, 0]",
        r"bits \[1, 0\] of field 'CMPL_1' of register 'INTR_STATUS' overlap field "
        r"'CMPL_0' \[0, 0\]; give each field its own bits"),
    "undeclared_gap": (
        "      - {name: pad0, offset: 28, type: u8, count: 100, reserved: true, "
        "spec: _pad, doc: Unused.}\n", "", "{name: msg_prod_idx, offset: 128",
        r"undeclared gap at bytes 28\.\.127 of layout 'RingsState' before field "
        r"'msg_prod_idx'; declare a field with 'reserved: true' covering the gap"),
    "size_does_not_match_fields": (
        "    size: 32\n", "    size: 36\n", "    size: 36\n",
        r"layout 'RingCmpDesc' declares size 36 but its fields end at byte 32; "
        r"set size to 32 or declare the missing fields"),
    "bit_range_outside_register_width": (
        "        bits: [3, 3]\n        spec: PVSCSI_INTR_MSG_1\n"
        "        doc: Message ring 1 (not used by known devices).",
        "        bits: [32, 3]\n        spec: PVSCSI_INTR_MSG_1\n"
        "        doc: Message ring 1 (not used by known devices).",
        "bits: [32, 3]",
        r"bits \[32, 3\] of field 'MSG_1' of register 'INTR_STATUS' are outside the "
        r"32-bit register; use bits within \[31, 0\]"),
    "bit_range_reversed": (
        "        bits: [2, 2]\n        spec: PVSCSI_INTR_MSG_0\n        doc: Enable",
        "        bits: [1, 2]\n        spec: PVSCSI_INTR_MSG_0\n        doc: Enable",
        "bits: [1, 2]",
        r"bits \[1, 2\] of field 'MSG_0' of register 'INTR_MASK' are not a range; "
        r"write \[hi, lo\] with hi >= lo >= 0"),
    "register_outside_bar": (
        "offset: 0x4018", "offset: 0x8000", "offset: 0x8000",
        r"register 'KICK_RW_IO' at offset 0x8000 is outside the 32768-byte BAR; "
        r"use an offset below 0x8000 or enlarge bar.size"),
    "command_dwords_must_match_descriptor": (
        "    dwords: 132\n", "    dwords: 131\n", "dwords: 131",
        r"command 'SETUP_RINGS' declares 131 dwords but descriptor "
        r"'CmdDescSetupRings' is 528 bytes; use dwords: 132"),
    "cxx_keyword_field": (
        "{name: bus, offset: 66, type: u8, writer: driver, spec: bus, doc: Bus number; must be 0.}",
        "{name: delete, offset: 66, type: u8, writer: driver, spec: bus, doc: Bus number.}",
        "{name: delete",
        r"name 'delete' of field 'delete' of layout 'RingReqDesc' is a C\+\+ keyword; rename it .*"),
    "cxx_keyword_enum": (
        "  - name: Tag\n", "  - name: int\n", "- name: int",
        r"name 'int' of enum 'int' is a C\+\+ keyword; rename it .*"),
    # The mock wires registers in its own code; a 'hook' key is not part of the description.
    "mock_wiring_is_not_part_of_the_description": (
        "    access: doorbell\n    spec: PVSCSI_REG_OFFSET_KICK_RW_IO\n",
        "    access: doorbell\n    hook: on_kick\n    spec: PVSCSI_REG_OFFSET_KICK_RW_IO\n",
        "hook: on_kick",
        r"unknown key 'hook' in register 'KICK_RW_IO'; use one of: .*"),
    "register_field_enum_must_exist": (
        "        enum: CommandCode\n", "        enum: NoSuchEnum\n", "enum: NoSuchEnum",
        r"unknown enum 'NoSuchEnum' for field 'CODE' of register 'COMMAND'; "
        r"name an enum declared under 'enums' \(or CommandCode\)"),
    # Tag is u8: a 32-bit field could hold values the enum cannot.
    "register_field_enum_must_fit": (
        "        enum: CommandCode\n", "        enum: Tag\n", "        enum: Tag\n",
        r"enum 'Tag' \(u8\) of field 'CODE' of register 'COMMAND' is narrower than the "
        r"field's 32 bits, so a value the device wrote could not be seen; give the enum a "
        r"type of at least 32 bits"),
    # The message names the line of the first one: a function of the changed text.
    "duplicate_name": (
        "  - name: LAST_STS_1\n", "  - name: LAST_STS_0\n", "  - name: LAST_STS_0\n    offset: 0x0104",
        lambda text: rf"duplicate register name 'LAST_STS_0' \(first 'LAST_STS_0' at line "
        rf"{line_of(text, '  - name: LAST_STS_0' + chr(10) + '    offset: 0x0100')}\); "
        r"rename one of them"),
    "duplicate_enum_value": (
        "value: 0x1C, spec: BTSTAT_TAGREJECT", "value: 0x1B, spec: BTSTAT_TAGREJECT",
        "value: 0x1B, spec: BTSTAT_TAGREJECT",
        lambda text: rf"duplicate value 0x1b in enum 'HostStatus' \('SENSFAILED' at line "
        rf"{line_of(text, 'value: 0x1B, spec: BTSTAT_SENSFAILED')} has it\); "
        r"give each value its own number"),
    "duplicate_yaml_key": (
        "    offset: 0x3018\n", "    offset: 0x3018\n    offset: 0x301C\n", "offset: 0x301C",
        lambda text: rf"duplicate key 'offset' \(first at line {line_of(text, 'offset: 0x3018')}\); "
        r"remove or rename one of them"),
}


def line_at(text, at):
    snippet, below = at if isinstance(at, tuple) else (at, 0)
    return line_of(text, snippet) + below


@pytest.mark.parametrize("old,new,at,what", REPLACEMENTS.values(), ids=REPLACEMENTS.keys())
def test_replacement_is_diagnosed(spec_text, gen_run, old, new, at, what):
    text = replace_once(spec_text, old, new)
    expect_error(gen_run(text), line_at(text, at), what(text) if callable(what) else what)


# One layout added to the description: its size, its fields, where the error is, the message,
# and whether it is to be the only one.
LAYOUTS = {
    "overlapping_layout_fields": (
        8, [field("a", 0, "u32"), field("b", 2, "u16"), field("c", 4, "u32")],
        "{name: b, offset: 2",
        r"field 'b' \(bytes 2\.\.3\) overlaps field 'a' \(bytes 0\.\.3\) in layout "
        r"'ExtraLayout'; fix the offsets so that fields do not share bytes", False),
    "misaligned_multibyte_field": (
        4, [field("a", 0, "u8"), field("b", 1, "u16"), field("c", 3, "u8")],
        "{name: b, offset: 1",
        r"field 'b' of layout 'ExtraLayout' \(u16\) at offset 1 is not 2-byte "
        r"aligned; move it to a multiple of 2 .*", True),
    "misaligned_structure_field": (
        20, [field("a", 0, "u8", 2), field("h", 2, "ConfigPageHeader"), field("c", 18, "u16")],
        "{name: h, offset: 2",
        r"field 'h' of layout 'ExtraLayout' \(ConfigPageHeader\) at offset 2 is not "
        r"4-byte aligned; .*", False),
    # HostStatus is u16: a u32 field would see values the enum cannot hold, or the reverse.
    "enum_of_a_layout_field_must_have_its_type": (
        4, [field("status", 0, "u32", extra=", enum: HostStatus")],
        "{name: status, offset: 0,",
        r"enum 'HostStatus' is u16 but field 'status' of layout 'ExtraLayout' is u32; "
        r"declare the enum as u32 or the field as u16", False),
    "array_field_cannot_have_an_enum": (
        4, [field("statuses", 0, "u16", 2, ", enum: HostStatus")],
        "{name: statuses, offset: 0,",
        r"field 'statuses' of layout 'ExtraLayout' is an array and cannot have an enum; "
        r"remove 'enum' or declare one field per element", False),
    "sam_lun_takes_no_count": (
        16, [field("luns", 0, "sam_lun", 2)], "{name: luns, offset: 0,",
        r"field 'luns' of layout 'ExtraLayout' is a sam_lun and cannot have 'count'; "
        r"remove 'count'", False),
    "sam_lun_is_eight_bytes": (
        4, [field("lun", 0, "sam_lun")], ("  - name: ExtraLayout", 1),
        r"layout 'ExtraLayout' declares size 4 but its fields end at byte 8; .*", False),
}


@pytest.mark.parametrize("size,fields,at,what,alone", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_layout_is_diagnosed(spec_text, gen_run, size, fields, at, what, alone):
    text = with_layout(spec_text, size, *fields)
    result = gen_run(text)
    expect_error(result, line_at(text, at), what)
    if alone:
        assert len(result.lines) == 1, result.err  # no gap, no overlap: only this error


def test_sam_lun_of_eight_bytes_is_valid(spec_text, gen_run):
    assert gen_run(with_layout(spec_text, 8, field("lun", 0, "sam_lun"))).rc == 0


def test_wrong_type_of_a_section(spec_text, gen_run):
    text = replace_once(spec_text, "\nrings:\n", "\nrings: 3\nunused_rings:\n")
    result = gen_run(text)
    expect_error(result, line_of(text, "rings: 3"),
                 r"'rings' in the description must be a list, not an integer; .*")
    expect_error(result, line_of(text, "unused_rings:"),
                 r"unknown key 'unused_rings' in the description; use one of: .*")


def test_command_descriptor_size_not_multiple_of_four(spec_text, gen_run):
    text = with_layout(spec_text, 6, field("a", 0, "u16", 3))
    text = replace_once(text, "    descriptor: CmdDescSetupReqCall\n",
                        "    descriptor: ExtraLayout\n")
    result = gen_run(text)
    expect_error(result, line_of(text, "descriptor: ExtraLayout"),
                 r"descriptor 'ExtraLayout' of command 'SETUP_REQ_CALL_THRESHOLD' is 6 bytes, "
                 r"not a multiple of 4; pad the descriptor to a multiple of 4 bytes .*")


def test_yaml_syntax_error(spec_text, gen_run):
    text = replace_once(spec_text, "    offset: 0x2010\n", "    offset: [0x2010\n")
    result = gen_run(text)
    assert result.rc == 1
    assert len(result.lines) == 1
    match = LINE_RE.match(result.lines[0])
    assert match and match["file"] == result.spec
    assert match["what"].startswith("YAML syntax error: ")
    assert match["fix"] == "fix the YAML syntax at this line"
    # The parser notices at the next line at the latest.
    assert int(match["line"]) in (line_of(text, "[0x2010"), line_of(text, "[0x2010") + 1)


def test_several_errors_are_all_reported(spec_text, gen_run):
    text = replace_once(spec_text, "    offset: 0x0004\n", "    ofset: 0x0004\n")
    text = replace_once(text, "offset: 0x4018", "offset: 0x8000")
    text = replace_once(text, "value: 0x1C, spec: BTSTAT_TAGREJECT",
                        "value: 0x1B, spec: BTSTAT_TAGREJECT")
    text = replace_once(text, "    size: 32\n", "    size: 36\n")
    result = gen_run(text)
    assert result.rc == 1
    lines = [int(LINE_RE.match(l)["line"]) for l in result.lines]
    assert len(result.lines) >= 4, result.err
    assert lines == sorted(lines), "diagnostics are in file order"
    for snippet in ("ofset: 0x0004", "offset: 0x8000", "value: 0x1B, spec: BTSTAT_TAGREJECT",
                    "    size: 36\n"):
        assert line_of(text, snippet) in lines


def test_not_a_mapping(gen_run):
    result = gen_run("- just\n- a list\n")
    expect_error(result, 1, r"the description must be a mapping, not a list; .*")


def test_errors_come_from_a_real_process_without_traceback(spec_text, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(replace_once(spec_text, "offset: 0x4018", "offset: 0x8000"))
    proc = run_module(["--spec", str(spec), "--out", str(tmp_path / "out")])
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert LINE_RE.match(proc.stderr.strip())
    assert not (tmp_path / "out").exists(), "nothing is written when the input is invalid"


def test_missing_spec_file(tmp_path):
    proc = run_module(["--spec", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "out")])
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert re.fullmatch(r".*nope\.yaml: cannot read the file \(.*\); pass an existing file "
                        r"with --spec\n", proc.stderr)


def test_cxx_name_clash_between_sections(spec_text, gen_run):
    text = replace_once(spec_text, "  - name: MsgDevStatusChanged\n", "  - name: Command\n")
    text = replace_once(text, "  - name: CommandProbe\n", "  - name: CommandCode\n")
    result = gen_run(text)
    expect_error(result, line_of(text, "  - name: Command\n"),
                 rf"layout 'Command' would be the C\+\+ name 'Command', like register 'COMMAND' "
                 rf"at line {line_of(text, 'registers:' + chr(10)) + 1}; rename one of them")
    expect_error(result, line_of(text, "  - name: CommandCode\n"),
                 r"enum 'CommandCode' would be the C\+\+ name 'CommandCode', which the generated "
                 r"code uses itself; rename it")
    probe = [l for l in result.lines if "no enum CommandProbe" in l]
    assert len(probe) == 1, "a missing enum is reported once, not per command"


def test_random_mutations_give_diagnostics_never_exceptions(spec_text):
    """Seeded mutations of the real description (deleted lines, swapped lines, values replaced
    by other types): the passes either succeed or raise GenError - nothing else escapes."""
    import random

    from gen import loader, model, render, validate
    from gen.diagnostics import GenError

    lines = spec_text.split("\n")
    rng = random.Random(20261121)
    replacements = ["", "x", "[]", "{}", "null", "- a", "3", "true", "[1]", "[1, 2, 3]", "-1",
                    "0x100000000", "{name: 1}"]
    failed_validation = rendered = 0
    for _ in range(250):
        mutated = list(lines)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(mutated))
            op = rng.random()
            if op < 0.3:
                del mutated[i]
            elif op < 0.8 and ":" in mutated[i]:
                mutated[i] = mutated[i].split(":")[0] + ": " + rng.choice(replacements)
            else:
                j = rng.randrange(len(mutated))
                mutated[i], mutated[j] = mutated[j], mutated[i]
        try:
            doc = loader.load_text("\n".join(mutated))
            errors = validate.validate(doc)
            if errors:
                failed_validation += 1
                assert all(e.line >= 1 and e.what and e.fix for e in errors)
                continue
            device = model.build(doc)
            if rendered < 5:  # rendering is slow; a few suffice
                render.render(device, os.path.join(ROOT, "templates"))
                rendered += 1
        except GenError as exc:
            failed_validation += 1
            assert exc.diagnostics
    assert failed_validation > 80  # the mutations do hit the checks
