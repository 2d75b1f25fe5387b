"""The validated description as dataclasses, with the C++ names the templates use."""

from dataclasses import dataclass, field
from typing import List, Optional

from gen import names
from gen.validate import PRIM_SIZES, SPECIAL_TYPES

CXX_TYPES = {"u8": "uint8_t", "u16": "uint16_t", "u32": "uint32_t", "u64": "uint64_t",
             "sam_lun": "SamLun"}


def _doc(text: str) -> str:
    """Fold a YAML doc string to one line."""
    return " ".join(text.split())


@dataclass
class Constant:
    name: str
    cxx: str
    type: str
    value: int
    doc: str
    spec: Optional[str]

    @property
    def cxx_type(self):
        return CXX_TYPES[self.type]


@dataclass
class Page:
    name: str
    first: int
    last: int
    doc: str
    spec: Optional[str]


@dataclass
class RegField:
    name: str
    hi: int
    lo: int
    doc: str
    spec: Optional[str]
    enum: Optional[str] = None

    @property
    def getter(self):
        return names.snake(self.name)

    @property
    def konst(self):
        return names.konst(self.name)

    @property
    def width(self):
        return self.hi - self.lo + 1

    @property
    def max(self):
        return (1 << self.width) - 1

    @property
    def mask(self):
        return self.max << self.lo


@dataclass
class Register:
    name: str
    cxx: str
    offset: int
    width: int
    access: str
    doc: str
    spec: Optional[str]
    fields: List[RegField]
    declared_fields: bool
    protocol: Optional[str]

    @property
    def readable(self):
        return self.access in ("ro", "rw", "w1c")

    @property
    def writable(self):
        return self.access in ("wo", "rw")

    @property
    def fields_mask(self):
        mask = 0
        for f in self.fields:
            mask |= f.mask
        return mask


@dataclass
class EnumValue:
    name: str
    cxx: str
    value: int
    doc: str
    spec: Optional[str]


@dataclass
class Enum:
    name: str
    type: str
    flags: bool
    doc: str
    spec: Optional[str]
    values: List[EnumValue]

    @property
    def cxx_type(self):
        return CXX_TYPES[self.type]

    @property
    def all_bits(self):
        bits = 0
        for v in self.values:
            bits |= v.value
        return bits


@dataclass
class LayoutField:
    name: str
    offset: int
    type: str
    count: Optional[int]
    writer: str
    reserved: bool
    enum: Optional[str]
    doc: str
    spec: Optional[str]
    elem_size: int
    is_struct: bool
    align: int

    @property
    def camel(self):
        return names.snake_to_camel(self.name)

    @property
    def cxx_type(self):
        return self.type if self.is_struct else CXX_TYPES[self.type]

    @property
    def size(self):
        return self.elem_size * (self.count or 1)

    @property
    def is_lun(self):
        return self.type == "sam_lun"

    @property
    def array(self):
        """A primitive array with whole-array copy accessors."""
        return self.count is not None and not self.is_struct

    @property
    def type_text(self):
        base = self.type
        return f"{base}[{self.count}]" if self.count is not None else base


@dataclass
class Layout:
    name: str
    size: int
    doc: str
    spec: Optional[str]
    fields: List[LayoutField]
    command: Optional[str] = None  # name of the command it is the descriptor of

    @property
    def dwords(self):
        return self.size // 4


@dataclass
class Command:
    name: str
    cxx: str
    code: int
    descriptor: Optional[str]
    dwords: int
    optional: bool
    probe: str
    valid: bool
    doc: str
    spec: Optional[str]

    @property
    def traits(self):
        return "Cmd" + self.cxx

    @property
    def probe_cxx(self):
        return names.konst(self.probe)


@dataclass
class Ring:
    name: str
    cxx: str
    descriptor: str
    entries_per_page: int
    max_pages: int
    doc: str


@dataclass
class Device:
    name: str
    doc: str
    pci: List[Constant]
    bar: List[Constant]
    bar_doc: str
    pci_doc: str
    pages: List[Page]
    limits: List[Constant]
    constants: List[Constant]
    registers: List[Register]
    enums: List[Enum]
    layouts: List[Layout]
    commands: List[Command]
    rings: List[Ring]
    extra: dict = field(default_factory=dict)

    def layout(self, name):
        return next(l for l in self.layouts if l.name == name)

    @property
    def max_descriptor_dwords(self):
        return max([c.dwords for c in self.commands] + [1])


def _const(name, type_, item):
    return Constant(name=name, cxx=names.konst(name), type=type_, value=item["value"],
                    doc=_doc(item["doc"]), spec=item.get("spec"))


def build(doc) -> Device:
    """Build the model from a description that validate() accepted."""
    pci_types = {"vendor_id": "u16", "device_id": "u16", "class_code": "u32",
                 "interrupt_pin": "u8"}
    pci = [_const("PCI_" + key.upper(), t, doc["pci"][key]) for key, t in pci_types.items()]
    bar = [_const(n, "u32", doc["bar"][k]) for n, k in
           (("BAR_SIZE", "size"), ("PAGE_SIZE", "page_size"), ("PAGE_SHIFT", "page_shift"),
            ("ACCESS_WIDTH", "access_width"))]
    pages = [Page(p["name"], p["first"], p["last"], _doc(p["doc"]), p.get("spec"))
             for p in doc["bar"]["pages"]]
    limits = [_const(c["name"], c["type"], c) for c in doc["limits"]]
    constants = [_const(c["name"], c["type"], c) for c in doc["constants"]]

    registers = []
    for r in doc["registers"]:
        declared = bool(r.get("fields"))
        if declared:
            fields = [RegField(f["name"], f["bits"][0], f["bits"][1], _doc(f["doc"]),
                               f.get("spec"), f.get("enum")) for f in r["fields"]]
        else:
            fields = [RegField("VALUE", r["width"] - 1, 0, "The whole register.", None)]
        registers.append(Register(
            name=r["name"], cxx=names.camel(r["name"]), offset=r["offset"], width=r["width"],
            access=r["access"], doc=_doc(r["doc"]), spec=r.get("spec"), fields=fields,
            declared_fields=declared, protocol=r.get("protocol")))

    enums = [Enum(e["name"], e["type"], e["flags"], _doc(e["doc"]), e.get("spec"),
                  [EnumValue(v["name"], names.konst(v["name"]), v["value"], _doc(v["doc"]),
                             v.get("spec")) for v in e["values"]])
             for e in doc["enums"]]

    layouts = []
    sizes, aligns = {}, {}
    for l in doc["layouts"]:
        fields = []
        for f in l["fields"]:
            special = f["type"] in SPECIAL_TYPES
            is_struct = f["type"] not in PRIM_SIZES and not special
            fields.append(LayoutField(
                name=f["name"], offset=f["offset"], type=f["type"], count=f.get("count"),
                writer=f.get("writer", "none") if not f.get("reserved") else "none",
                reserved=bool(f.get("reserved")), enum=f.get("enum"), doc=_doc(f["doc"]),
                spec=f.get("spec"),
                elem_size=(sizes[f["type"]] if is_struct else SPECIAL_TYPES[f["type"]][0]
                           if special else PRIM_SIZES[f["type"]]),
                is_struct=is_struct,
                align=(aligns[f["type"]] if is_struct else SPECIAL_TYPES[f["type"]][1]
                       if special else PRIM_SIZES[f["type"]])))
        fields.sort(key=lambda f: f.offset)
        aligns[l["name"]] = max([f.align for f in fields] + [1])
        layouts.append(Layout(l["name"], l["size"], _doc(l["doc"]), l.get("spec"), fields))
        sizes[l["name"]] = l["size"]

    commands = [Command(name=c["name"], cxx=names.camel(c["name"]), code=c["code"],
                        descriptor=c["descriptor"], dwords=c["dwords"], optional=c["optional"],
                        probe=c["probe"], valid=c.get("valid", True), doc=_doc(c["doc"]),
                        spec=c.get("spec")) for c in doc["commands"]]
    for c in commands:
        if c.descriptor:
            lay = next(l for l in layouts if l.name == c.descriptor)
            if lay.command is None:
                lay.command = c.name

    rings = [Ring(r["name"], names.camel(r["name"]) + "Ring", r["descriptor"],
                  r["entries_per_page"], r["max_pages"], _doc(r["doc"])) for r in doc["rings"]]

    return Device(name=doc["device"]["name"], doc=_doc(doc["device"]["doc"]), pci=pci, bar=bar,
                  bar_doc=_doc(doc["bar"]["doc"]), pci_doc=_doc(doc["pci"]["doc"]),
                  pages=pages, limits=limits, constants=constants, registers=registers,
                  enums=enums, layouts=layouts, commands=commands, rings=rings)
