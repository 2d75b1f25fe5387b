"""Validate the loaded description; collect every problem instead of stopping at the first.

Each problem is a Diagnostic (line, what is wrong, how to fix it). The checks are of two kinds:
the shape of each item (known keys, required keys, value types), then the meaning (names,
duplicates, overlaps, gaps, sizes, alignment, ranges, cross references).
"""

from gen.diagnostics import Diagnostic
from gen.loader import Map, Seq
from gen import names

PRIM_SIZES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}
# Field types with a meaning of their own: (size, alignment). sam_lun is the 8 bytes of a SAM
# LUN, most significant first (the generated hw::SamLun).
SPECIAL_TYPES = {"sam_lun": (8, 1)}
# Enums the generated code declares from other sections, which fields may name.
BUILTIN_ENUMS = {"CommandCode": "u32"}
ACCESS_TYPES = ("ro", "wo", "rw", "w1c", "doorbell")
PROTOCOLS = ("command", "command_data", "command_status")
WRITERS = ("driver", "device", "both")
# Names the generated API uses itself, which an item may not take.
RESERVED_LAYOUT_FIELDS = {"raw", "dword", "set_dword"}
RESERVED_REGISTER_FIELDS = {"VALUE", "READ", "WRITE", "ACK", "RING", "KNOWN", "GET", "SET"}
# Constants the generated mock skeleton relies on.
REQUIRED_CONSTANTS = ("COMMAND_STATUS_SUCCESS", "COMMAND_STATUS_FAILED",
                      "COMMAND_STATUS_INCOMPLETE")

# Names the generated code declares itself in namespace pvscsi::hw.
FIXED_CXX_NAMES = {"RegAccess", "Register", "CommandCode", "NoDescriptor", "DeviceSkeleton",
                   "RingView", "to_raw", "is_known", "detail", "kMaxDescriptorDwords",
                   "FieldSpan", "cover", "SamLun", "send_command", "start_command"}

R, O = True, False  # required / optional

VALUED = {"value": (R, "int"), "doc": (R, "str"), "spec": (O, "str")}
SCHEMAS = {
    "top": {"device": (R, "map"), "pci": (R, "map"), "bar": (R, "map"), "limits": (R, "list"),
            "constants": (R, "list"), "registers": (R, "list"), "enums": (R, "list"),
            "layouts": (R, "list"), "commands": (R, "list"), "rings": (R, "list")},
    "device": {"name": (R, "str"), "doc": (R, "str")},
    "pci": {"doc": (R, "str"), "vendor_id": (R, "map"), "device_id": (R, "map"),
            "class_code": (R, "map"), "interrupt_pin": (R, "map")},
    "bar": {"doc": (R, "str"), "size": (R, "map"), "page_size": (R, "map"),
            "page_shift": (R, "map"), "access_width": (R, "map"), "pages": (R, "list")},
    "valued": VALUED,
    "page": {"name": (R, "str"), "first": (R, "int"), "last": (R, "int"), "doc": (R, "str"),
             "spec": (O, "str")},
    "constant": {"name": (R, "str"), "type": (R, "str"), "value": (R, "int"), "doc": (R, "str"),
                 "spec": (O, "str")},
    "register": {"name": (R, "str"), "offset": (R, "int"), "width": (R, "int"),
                 "access": (R, "str"), "doc": (R, "str"), "spec": (O, "str"),
                 "fields": (O, "list"), "protocol": (O, "str")},
    "regfield": {"name": (R, "str"), "bits": (R, "list"), "enum": (O, "str"), "doc": (R, "str"),
                 "spec": (O, "str")},
    "enum": {"name": (R, "str"), "type": (R, "str"), "flags": (R, "bool"), "doc": (R, "str"),
             "spec": (O, "str"), "values": (R, "list")},
    "enumvalue": {"name": (R, "str"), "value": (R, "int"), "doc": (R, "str"),
                  "spec": (O, "str")},
    "layout": {"name": (R, "str"), "size": (R, "int"), "doc": (R, "str"), "spec": (O, "str"),
               "fields": (R, "list")},
    "field": {"name": (R, "str"), "offset": (R, "int"), "type": (R, "str"),
              "count": (O, "int"), "writer": (O, "str"), "reserved": (O, "bool"),
              "enum": (O, "str"), "doc": (R, "str"), "spec": (O, "str")},
    "command": {"name": (R, "str"), "code": (R, "int"), "descriptor": (R, "str_or_null"),
                "dwords": (R, "int"), "optional": (R, "bool"), "probe": (R, "str"),
                "valid": (O, "bool"), "doc": (R, "str"), "spec": (O, "str")},
    "ring": {"name": (R, "str"), "descriptor": (R, "str"), "entries_per_page": (R, "int"),
             "max_pages": (R, "int"), "doc": (R, "str"), "spec": (O, "str")},
}

TYPE_WORDS = {"int": "an integer", "str": "a string", "bool": "true or false",
              "list": "a list", "map": "a mapping", "int_or_bool": "an integer or true/false",
              "str_or_null": "a name or null"}

EXAMPLES = {"int": "0", "str": "...", "bool": "false", "list": "[]", "map": "{...}",
            "int_or_bool": "0", "str_or_null": "null"}


def _is(value, kind):
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list)
    if kind == "map":
        return isinstance(value, dict)
    if kind == "int_or_bool":
        return isinstance(value, int)
    if kind == "str_or_null":
        return value is None or isinstance(value, str)
    raise AssertionError(kind)


def _describe(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class Validator:
    def __init__(self):
        self.errors = []
        self.enum_types = dict(BUILTIN_ENUMS)  # enum name -> its type (u8..u64)
        self.enum_values = {}  # enum name -> its values

    def field_enum(self, field, flabel, enums, bits):
        """Check the 'enum' of a register or layout field that holds `bits` bits."""
        name = field["enum"]
        if name not in enums and name not in BUILTIN_ENUMS:
            self.err(field.line_of("enum"), f"unknown enum '{name}' for {flabel}",
                     "name an enum declared under 'enums' (or CommandCode)")
            return
        etype = self.enum_types.get(name)
        if etype is None or bits is None:
            return
        if PRIM_SIZES[etype] * 8 < bits:
            self.err(field.line_of("enum"), f"enum '{name}' ({etype}) of {flabel} is narrower "
                     f"than the field's {bits} bits, so a value the device wrote could not be "
                     "seen", f"give the enum a type of at least {bits} bits")
        for value in self.enum_values.get(name, []):
            if bits < 64 and value >> bits:
                self.err(field.line_of("enum"), f"enum '{name}' of {flabel} has value "
                         f"{value:#x}, which does not fit the field's {bits} bits",
                         "widen the field or remove the value")
                break

    def err(self, line, what, fix):
        self.errors.append(Diagnostic(line, what, fix))

    # -- shape ---------------------------------------------------------------------------------

    def shape(self, obj, line, ctx, schema_name):
        """Check keys and value types of a mapping; returns the keys whose values are usable."""
        schema = SCHEMAS[schema_name]
        if not isinstance(obj, Map):
            self.err(line, f"{ctx} must be a mapping, not {_describe(obj)}",
                     f"write {ctx} as 'key: value' lines")
            return None
        ok = set()
        for key in obj:
            if key not in schema:
                allowed = ", ".join(schema)
                self.err(obj.line_of(key), f"unknown key '{key}' in {ctx}",
                         f"use one of: {allowed}")
        for key, (required, kind) in schema.items():
            if key not in obj:
                if required:
                    self.err(obj.line, f"missing required key '{key}' in {ctx}",
                             f"add '{key}: {EXAMPLES[kind]}' ({TYPE_WORDS[kind]})")
                continue
            value = obj[key]
            if not _is(value, kind):
                self.err(obj.line_of(key),
                         f"'{key}' in {ctx} must be {TYPE_WORDS[kind]}, not {_describe(value)}",
                         f"write {TYPE_WORDS[kind]} for '{key}'")
                continue
            if key == "doc" and not value.strip():
                self.err(obj.line_of(key), f"'doc' in {ctx} is empty",
                         "say in a few words what the item is")
                continue
            ok.add(key)
        return ok

    def items(self, seq, ctx, schema_name, kind):
        """Shape-check each item of a list; yields (item, line, usable keys, context)."""
        for index, item in enumerate(seq):
            line = seq.item_lines[index] if isinstance(seq, Seq) else 0
            name = item.get("name") if isinstance(item, dict) else None
            label = f"{kind} '{name}'" if isinstance(name, str) else f"{kind} #{index + 1} of {ctx}"
            ok = self.shape(item, line, label, schema_name)
            if ok is not None:
                yield item, line, ok, label

    def named_items(self, seq, section, kind, seen):
        """items() of a section whose names are UPPER_SNAKE_CASE (CamelCase in C++), each name
        checked as its item comes."""
        for item, line, ok, label in self.items(seq, section, kind, kind):
            if "name" in ok:
                self.name(item, label, names.UPPER_SNAKE, "UPPER_SNAKE_CASE", names.camel, seen,
                          kind)
            yield item, line, ok, label

    # -- names ---------------------------------------------------------------------------------

    def name(self, item, label, pattern, style, cxx_name, seen, kind):
        """Check a name's style, C++ keyword clash and uniqueness (on the generated name too)."""
        name = item["name"]
        line = item.line_of("name")
        if name in names.CXX_KEYWORDS or cxx_name(name) in names.CXX_KEYWORDS:
            self.err(line, f"name '{name}' of {label} is a C++ keyword",
                     "rename it (for instance add a suffix)")
            return False
        if not pattern.match(name):
            self.err(line, f"name '{name}' of {label} is not {style}",
                     f"write the name in {style}")
            return False
        key = cxx_name(name)
        if key in seen:
            first_name, first_line = seen[key]
            self.err(line, f"duplicate {kind} name '{name}' (first '{first_name}' at line "
                     f"{first_line})", "rename one of them")
            return False
        seen[key] = (name, line)
        return True

    def fits(self, value, type_name, line, what):
        bits = PRIM_SIZES[type_name] * 8
        if value < 0 or value >= (1 << bits):
            self.err(line, f"{what} {value:#x} does not fit in {type_name}",
                     f"use a value from 0 to {(1 << bits) - 1:#x} or a wider type")
            return False
        return True

    def prim(self, item, key, label):
        value = item[key]
        if value not in PRIM_SIZES:
            self.err(item.line_of(key), f"unknown type '{value}' for {label}",
                     "use one of: " + ", ".join(PRIM_SIZES))
            return False
        return True

    # -- sections ------------------------------------------------------------------------------

    def run(self, doc):
        ok = self.shape(doc, 1, "the description", "top")
        if ok is None:
            return self.errors
        if "device" in ok:
            self.shape(doc["device"], doc.line_of("device"), "'device'", "device")
        self.pci(doc["pci"] if "pci" in ok else None, doc.line_of("pci"))
        bar_size = self.bar(doc["bar"] if "bar" in ok else None, doc.line_of("bar"))
        seen_consts = {}
        for section in ("limits", "constants"):
            if section in ok:
                self.constants(doc[section], section, seen_consts)
        if "constants" in ok:
            for required in REQUIRED_CONSTANTS:
                if required not in {v[0] for v in seen_consts.values()}:
                    self.err(doc.line_of("constants"),
                             f"missing constant '{required}' (the mock skeleton uses it)",
                             f"add a constant named {required}")
        enums = self.enums(doc["enums"]) if "enums" in ok else {}
        if "registers" in ok:
            self.registers(doc["registers"], bar_size, doc.line_of("registers"), enums)
        layouts = self.layouts(doc["layouts"], enums) if "layouts" in ok else {}
        if "commands" in ok:
            self.commands(doc["commands"], layouts, enums)
        if "rings" in ok:
            page = self.page_size
            self.rings(doc["rings"], layouts, page)
        self.clashes(doc, ok)
        return self.errors

    def clashes(self, doc, ok):
        """Items of different sections must not get the same C++ name in namespace pvscsi::hw,
        nor a name the generated code uses itself. (Duplicates within a section are reported
        by name().)"""
        seen = {}

        def add(cxx, label, line, group):
            if cxx in FIXED_CXX_NAMES:
                self.err(line, f"{label} would be the C++ name '{cxx}', which the generated "
                         "code uses itself", "rename it")
            elif cxx in seen and seen[cxx][2] != group:
                other, other_line, _ = seen[cxx]
                self.err(line, f"{label} would be the C++ name '{cxx}', like {other} at line "
                         f"{other_line}", "rename one of them")
            else:
                seen.setdefault(cxx, (label, line, group))

        def each(section, pattern, sub=None):
            seq = doc.get(section) if section in ok else None
            if sub is not None:
                seq = seq.get(sub) if isinstance(seq, dict) else None
            if not isinstance(seq, Seq):
                return
            for index, item in enumerate(seq):
                name = item.get("name") if isinstance(item, Map) else None
                if isinstance(name, str) and pattern.match(name):
                    yield name, item.line_of("name")

        for key in ("pci", "bar"):
            section = doc.get(key) if key in ok else None
            if isinstance(section, Map):
                for sub in section:
                    add(names.konst(("pci_" + sub if key == "pci" else
                                     {"size": "bar_size"}.get(sub, sub)).upper()),
                        f"{key}.{sub}", section.line_of(sub), key)
        for name, line in each("bar", names.UPPER_SNAKE, "pages"):
            add(names.konst(name) + "PageFirst", f"page '{name}'", line, "page")
            add(names.konst(name) + "PageLast", f"page '{name}'", line, "page")
        for section in ("limits", "constants"):
            for name, line in each(section, names.UPPER_SNAKE):
                add(names.konst(name), f"constant '{name}'", line, "constant")
        for name, line in each("registers", names.UPPER_SNAKE):
            add(names.camel(name), f"register '{name}'", line, "register")
        for name, line in each("enums", names.CAMEL):
            add(name, f"enum '{name}'", line, "enum")
        for name, line in each("layouts", names.CAMEL):
            add(name, f"layout '{name}'", line, "layout")
        for name, line in each("commands", names.UPPER_SNAKE):
            add("Cmd" + names.camel(name), f"command '{name}'", line, "command")
        for name, line in each("rings", names.UPPER_SNAKE):
            add(names.camel(name) + "Ring", f"ring '{name}'", line, "ring")

    def valued(self, section, key, ctx):
        item = section[key]
        ok = self.shape(item, section.line_of(key), f"{ctx}.{key}", "valued")
        if ok and "value" in ok:
            return item["value"]
        return None

    def pci(self, pci, line):
        if pci is None:
            return
        ok = self.shape(pci, line, "'pci'", "pci")
        if ok is None:
            return
        limits = {"vendor_id": 16, "device_id": 16, "class_code": 24, "interrupt_pin": 8}
        for key, bits in limits.items():
            if key in ok:
                value = self.valued(pci, key, "pci")
                if value is not None and not 0 <= value < (1 << bits):
                    self.err(pci[key].line_of("value"), f"pci.{key} {value:#x} does not fit "
                             f"in {bits} bits", f"use a value below {1 << bits:#x}")

    page_size = None

    def bar(self, bar, line):
        if bar is None:
            return None
        ok = self.shape(bar, line, "'bar'", "bar")
        if ok is None:
            return None
        vals = {}
        for key in ("size", "page_size", "page_shift", "access_width"):
            if key in ok:
                vals[key] = self.valued(bar, key, "bar")
        size, page, shift = vals.get("size"), vals.get("page_size"), vals.get("page_shift")
        if page is not None and shift is not None and (shift < 0 or shift > 31
                                                       or (1 << shift) != page):
            self.err(bar["page_shift"].line_of("value"),
                     f"bar.page_shift {shift} does not match page_size {page}",
                     "make page_size equal 1 << page_shift")
        elif page is not None and page > 0:
            self.page_size = page
        if vals.get("access_width") not in (None, 32):
            self.err(bar["access_width"].line_of("value"),
                     f"bar.access_width {vals['access_width']} is not supported",
                     "use 32 (the device supports only 32-bit accesses)")
        if size is not None and (size <= 0 or size % 4):
            self.err(bar["size"].line_of("value"), f"bar.size {size} is not a positive "
                     "multiple of 4", "give the BAR size in bytes")
            size = None
        if "pages" in ok and size is not None and self.page_size:
            npages = size // self.page_size
            seen, used = {}, {}
            for item, iline, iok, label in self.items(bar["pages"], "bar.pages", "page", "page"):
                if "name" in iok:
                    self.name(item, label, names.UPPER_SNAKE, "UPPER_SNAKE_CASE", names.konst,
                              seen, "page")
                if "first" in iok and "last" in iok:
                    first, last = item["first"], item["last"]
                    if not 0 <= first <= last < npages:
                        self.err(item.line_of("first"), f"{label} spans pages {first}..{last}, "
                                 f"outside the BAR's pages 0..{npages - 1}",
                                 f"use page numbers from 0 to {npages - 1}, first <= last")
                        continue
                    for p in range(first, last + 1):
                        if p in used:
                            self.err(item.line_of("first"), f"{label} overlaps "
                                     f"{used[p]} at page {p}", "give each page one owner")
                            break
                        used[p] = label
        return size

    def constants(self, seq, section, seen):
        kind = "limit" if section == "limits" else "constant"
        for item, line, ok, label in self.items(seq, section, "constant", kind):
            if "name" in ok:
                self.name(item, label, names.UPPER_SNAKE, "UPPER_SNAKE_CASE", names.konst, seen,
                          "constant")
            if "type" in ok and self.prim(item, "type", label) and "value" in ok:
                self.fits(item["value"], item["type"], item.line_of("value"), f"{label} value")

    def registers(self, seq, bar_size, seq_line, enums):
        seen, spans, protocols = {}, [], {}
        for reg, line, ok, label in self.named_items(seq, "registers", "register", seen):
            width = reg["width"] if "width" in ok else None
            if width is not None and width != 32:
                self.err(reg.line_of("width"), f"{label} has width {width}",
                         "use width 32 (the device supports only 32-bit accesses)")
                width = None
            if "access" in ok and reg["access"] not in ACCESS_TYPES:
                self.err(reg.line_of("access"), f"unknown access type '{reg['access']}' for "
                         f"{label}", "use one of: " + ", ".join(ACCESS_TYPES))
            if "offset" in ok:
                offset = reg["offset"]
                if offset % 4:
                    self.err(reg.line_of("offset"), f"{label} offset {offset:#x} is not 4-byte "
                             "aligned", "use a multiple of 4")
                elif bar_size is not None and (offset < 0 or offset + 4 > bar_size):
                    self.err(reg.line_of("offset"), f"{label} at offset {offset:#x} is outside "
                             f"the {bar_size}-byte BAR",
                             f"use an offset below {bar_size:#x} or enlarge bar.size")
                else:
                    for other_off, other_label, _ in spans:
                        if other_off == offset:
                            self.err(reg.line_of("offset"), f"{label} at {offset:#x} overlaps "
                                     f"{other_label}", "give each register its own offset")
                            break
                    spans.append((offset, label, line))
            if "protocol" in ok:
                proto = reg["protocol"]
                if proto not in PROTOCOLS:
                    self.err(reg.line_of("protocol"), f"unknown protocol '{proto}' for {label}",
                             "use one of: " + ", ".join(PROTOCOLS))
                elif proto in protocols:
                    self.err(reg.line_of("protocol"), f"{label} repeats protocol '{proto}' of "
                             f"{protocols[proto]}", "give each protocol role to one register")
                else:
                    protocols[proto] = label
                    want = "ro" if proto == "command_status" else "wo"
                    if "access" in ok and reg["access"] != want:
                        self.err(reg.line_of("access"), f"{label} plays '{proto}' but its "
                                 f"access is '{reg['access']}'", f"use access: {want}")
            if "fields" in ok:
                self.register_fields(reg, label, width, enums)
        for proto in PROTOCOLS:
            if proto not in protocols:
                self.err(seq_line, f"no register has protocol '{proto}'",
                         f"add 'protocol: {proto}' to the register that plays that role")

    def register_fields(self, reg, label, width, enums):
        seen, used = {}, []
        for field, line, ok, flabel in self.items(reg["fields"], label, "regfield", "field"):
            flabel = f"{flabel} of {label}"
            # Unique as a constant (kCmpl0Mask): CMPL_0 and CMPL0 would clash there.
            if "name" in ok and self.name(field, flabel, names.UPPER_SNAKE, "UPPER_SNAKE_CASE",
                                          names.konst, seen, "field"):
                if field["name"] in RESERVED_REGISTER_FIELDS:
                    self.err(field.line_of("name"), f"name '{field['name']}' of {flabel} is "
                             "reserved by the generated register API", "rename the field")
            if "bits" not in ok:
                continue
            bits = field["bits"]
            if "enum" in ok and len(bits) == 2 and all(_is(b, "int") for b in bits):
                self.field_enum(field, flabel, enums, bits[0] - bits[1] + 1)
            if (len(bits) != 2 or not all(_is(b, "int") for b in bits)):
                self.err(field.line_of("bits"), f"bits of {flabel} must be [hi, lo]",
                         "write two integers, the high bit first")
                continue
            hi, lo = bits
            if lo < 0 or hi < lo:
                self.err(field.line_of("bits"), f"bits [{hi}, {lo}] of {flabel} are not a "
                         "range", "write [hi, lo] with hi >= lo >= 0")
                continue
            if width is not None and hi >= width:
                self.err(field.line_of("bits"), f"bits [{hi}, {lo}] of {flabel} are outside "
                         f"the {width}-bit register", f"use bits within [{width - 1}, 0]")
                continue
            for other_hi, other_lo, other in used:
                if lo <= other_hi and other_lo <= hi:
                    self.err(field.line_of("bits"), f"bits [{hi}, {lo}] of {flabel} overlap "
                             f"{other} [{other_hi}, {other_lo}]", "give each field its own bits")
                    break
            used.append((hi, lo, f"field '{field.get('name')}'"))

    def enums(self, seq):
        seen, enums = {}, {}
        for enum, line, ok, label in self.items(seq, "enums", "enum", "enum"):
            good = "name" in ok and self.name(enum, label, names.CAMEL, "CamelCase",
                                              lambda n: n, seen, "enum")
            typed = "type" in ok and self.prim(enum, "type", label)
            if good and typed:
                self.enum_types[enum["name"]] = enum["type"]
                self.enum_values[enum["name"]] = [v["value"] for v in enum.get("values") or []
                                                  if isinstance(v, dict)
                                                  and _is(v.get("value"), "int")]
            if good:
                values = enum.get("values")
                enums[enum["name"]] = {v.get("name") for v in values or []
                                       if isinstance(v, dict) and isinstance(v.get("name"), str)
                                       } if isinstance(values, list) else set()
            if "values" not in ok:
                continue
            if not enum["values"]:
                self.err(enum.line_of("values"), f"{label} has no values", "add its values")
            vseen, values = {}, {}
            for val, vline, vok, vlabel in self.items(enum["values"], label, "enumvalue",
                                                      "value"):
                vlabel = f"{vlabel} of {label}"
                if "name" in vok:
                    self.name(val, vlabel, names.UPPER_SNAKE, "UPPER_SNAKE_CASE", names.konst,
                              vseen, "value")
                if "value" not in vok:
                    continue
                value = val["value"]
                if typed and not self.fits(value, enum["type"], val.line_of("value"),
                                           f"{vlabel}:"):
                    continue
                if value in values:
                    first_name, first_line = values[value]
                    self.err(val.line_of("value"), f"duplicate value {value:#x} in {label} "
                             f"('{first_name}' at line {first_line} has it)",
                             "give each value its own number")
                else:
                    values[value] = (val.get("name"), val.line_of("value"))
        return enums

    def layouts(self, seq, enums):
        seen, layouts = {}, {}
        for layout, line, ok, label in self.items(seq, "layouts", "layout", "layout"):
            good = "name" in ok and self.name(layout, label, names.CAMEL, "CamelCase",
                                              lambda n: n, seen, "layout")
            size = layout["size"] if "size" in ok else None
            if size is not None and size <= 0:
                self.err(layout.line_of("size"), f"{label} size {size} is not positive",
                         "give the size in bytes")
                size = None
            align = 1
            if "fields" in ok:
                align = self.layout_fields(layout, label, size, layouts, enums)
            if good and size is not None:
                layouts[layout["name"]] = (size, align, layout)
        return layouts

    def layout_fields(self, layout, label, size, layouts, enums):
        seen, spans, max_align = {}, [], 1
        for field, line, ok, flabel in self.items(layout["fields"], label, "field", "field"):
            flabel = f"{flabel} of {label}"
            if "name" in ok and self.name(field, flabel, names.LOWER_SNAKE, "lower_snake_case",
                                          lambda n: n, seen, "field"):
                if field["name"] in RESERVED_LAYOUT_FIELDS:
                    self.err(field.line_of("name"), f"name '{field['name']}' of {flabel} is "
                             "reserved by the generated layout API", "rename the field")
            reserved = field.get("reserved") is True
            if "writer" in ok and field["writer"] not in WRITERS:
                self.err(field.line_of("writer"), f"unknown writer '{field['writer']}' for "
                         f"{flabel}", "use one of: " + ", ".join(WRITERS))
            if not reserved and "writer" not in field:
                self.err(field.line, f"missing required key 'writer' in {flabel}",
                         "add 'writer: driver', 'device' or 'both' (or 'reserved: true')")
            if "enum" in ok:
                ftype = field.get("type")
                if ftype in PRIM_SIZES and "count" not in field:
                    self.field_enum(field, flabel, enums, PRIM_SIZES[ftype] * 8)
                    etype = self.enum_types.get(field["enum"])
                    if etype is not None and etype != ftype:
                        self.err(field.line_of("enum"), f"enum '{field['enum']}' is {etype} "
                                 f"but {flabel} is {ftype}",
                                 f"declare the enum as {ftype} or the field as {etype}")
                elif "count" in field:
                    self.err(field.line_of("enum"), f"{flabel} is an array and cannot have an "
                             "enum", "remove 'enum' or declare one field per element")
            count = 1
            if "count" in ok:
                count = field["count"]
                if count < 1:
                    self.err(field.line_of("count"), f"count {count} of {flabel} is not "
                             "positive", "use a count of 1 or more")
                    continue
            if "type" not in ok or "offset" not in ok:
                continue
            ftype = field["type"]
            if ftype in PRIM_SIZES:
                esize = falign = PRIM_SIZES[ftype]
            elif ftype in SPECIAL_TYPES:
                esize, falign = SPECIAL_TYPES[ftype]
                for key in ("count", "enum"):
                    if key in field:
                        self.err(field.line_of(key), f"{flabel} is a {ftype} and cannot have "
                                 f"'{key}'", f"remove '{key}'")
            elif ftype in layouts:
                esize, falign, _ = layouts[ftype]
                if "count" in field:
                    self.err(field.line_of("count"), f"{flabel} is an array of structures",
                             "declare one field per structure (arrays hold u8..u64 only)")
                if "enum" in field:
                    self.err(field.line_of("enum"), f"{flabel} is a structure and cannot have "
                             "an enum", "remove 'enum'")
            else:
                self.err(field.line_of("type"), f"unknown type '{ftype}' for {flabel}",
                         "use u8, u16, u32, u64, sam_lun or a layout declared earlier")
                continue
            offset = field["offset"]
            if offset < 0:
                self.err(field.line_of("offset"), f"offset {offset} of {flabel} is negative",
                         "use a byte offset from the start of the layout")
                continue
            if offset % falign:
                self.err(field.line_of("offset"), f"{flabel} ({ftype}) at offset {offset} is "
                         f"not {falign}-byte aligned",
                         f"move it to a multiple of {falign} (declare padding before it)")
            max_align = max(max_align, falign)
            short = f"field '{field.get('name')}'"
            spans.append((offset, offset + esize * count, short, field.line_of("offset")))
        # Coverage: every byte of the layout belongs to exactly one field.
        spans.sort(key=lambda s: (s[0], s[3]))
        end, end_label = 0, None
        for start, stop, flabel, fline in spans:
            if start < end:
                self.err(fline, f"{flabel} (bytes {start}..{stop - 1}) overlaps {end_label} "
                         f"in {label}",
                         "fix the offsets so that fields do not share bytes")
            elif start > end:
                self.err(fline, f"undeclared gap at bytes {end}..{start - 1} of {label} before "
                         f"{flabel}", "declare a field with 'reserved: true' covering the gap")
            if stop > end:
                end, end_label = stop, f"{flabel} (bytes {start}..{stop - 1})"
        if size is not None and spans and end != size:
            self.err(layout.line_of("size"), f"{label} declares size {size} but its fields "
                     f"end at byte {end}", f"set size to {end} or declare the missing fields")
        return max_align

    def commands(self, seq, layouts, enums):
        seen, codes = {}, {}
        probes = enums.get("CommandProbe")
        missing_probe_reported = False
        for cmd, line, ok, label in self.named_items(seq, "commands", "command", seen):
            if "code" in ok:
                code = cmd["code"]
                if not 0 <= code <= 0xFFFFFFFF:
                    self.err(cmd.line_of("code"), f"code {code} of {label} does not fit in u32",
                             "use a code from 0 to 0xffffffff")
                elif code in codes:
                    self.err(cmd.line_of("code"), f"duplicate command code {code} in {label} "
                             f"({codes[code]} has it)", "give each command its own code")
                else:
                    codes[code] = label
            if "probe" in ok:
                if probes is None:
                    if not missing_probe_reported:
                        self.err(cmd.line_of("probe"), f"{label} names a probe but there is "
                                 "no enum CommandProbe", "declare enum CommandProbe")
                    missing_probe_reported = True
                elif cmd["probe"] not in probes:
                    self.err(cmd.line_of("probe"), f"unknown probe '{cmd['probe']}' for "
                             f"{label}", "use one of: " + ", ".join(sorted(p for p in probes
                                                                           if p)))
            if "descriptor" not in ok or "dwords" not in ok:
                continue
            desc, dwords = cmd["descriptor"], cmd["dwords"]
            if desc is None:
                if dwords != 0:
                    self.err(cmd.line_of("dwords"), f"{label} has no descriptor but dwords "
                             f"{dwords}", "use dwords: 0")
                continue
            if desc not in layouts:
                self.err(cmd.line_of("descriptor"), f"unknown descriptor '{desc}' for {label}",
                         "name a layout declared under 'layouts', or null")
                continue
            size = layouts[desc][0]
            if size % 4:
                self.err(cmd.line_of("descriptor"), f"descriptor '{desc}' of {label} is "
                         f"{size} bytes, not a multiple of 4",
                         "pad the descriptor to a multiple of 4 bytes (COMMAND_DATA is 32-bit)")
            elif dwords != size // 4:
                self.err(cmd.line_of("dwords"), f"{label} declares {dwords} dwords but "
                         f"descriptor '{desc}' is {size} bytes", f"use dwords: {size // 4}")

    def rings(self, seq, layouts, page):
        seen = {}
        for ring, line, ok, label in self.named_items(seq, "rings", "ring", seen):
            if "max_pages" in ok:
                n = ring["max_pages"]
                if n <= 0 or n & (n - 1):
                    self.err(ring.line_of("max_pages"), f"max_pages {n} of {label} is not a "
                             "power of two", "use a power of two")
            if "descriptor" not in ok:
                continue
            desc = ring["descriptor"]
            if desc not in layouts:
                self.err(ring.line_of("descriptor"), f"unknown descriptor '{desc}' for {label}",
                         "name a layout declared under 'layouts'")
                continue
            if "entries_per_page" in ok and page:
                n = ring["entries_per_page"]
                if n * layouts[desc][0] != page:
                    self.err(ring.line_of("entries_per_page"), f"{label}: {n} entries of "
                             f"{layouts[desc][0]} bytes do not fill a {page}-byte page",
                             f"use entries_per_page: {page // layouts[desc][0]}")


def validate(doc):
    """Returns the list of Diagnostics (empty when the description is valid)."""
    return Validator().run(doc)
