"""scripts/check-driver-api.py: every way around the generated API is found, the validation
marker exempts exactly the marked function, and bad input is a one-line error."""
import os
import subprocess
import sys
import textwrap

SCRIPT = os.environ.get("PVSCSI_CHECK_DRIVER_API") or os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "scripts", "check-driver-api.py")

MARKER = "/* pvscsi-api: validates device-written values */"

# A small generated/ header: the offsets the script learns from it.
GENERATED = textwrap.dedent("""\
    namespace pvscsi { namespace hw {
    struct RingReqDesc {
      static constexpr uint32_t kLunOffset = 8;
      static constexpr uint32_t kCdbOffset = 40;
      uint8_t raw[128] = {};
    };
    } }
    """)


def make_tree(tmp_path, sources, generated=GENERATED):
    """tmp/driver/<name> for each source, tmp/generated/pvscsi_layouts.h."""
    driver = tmp_path / "driver"
    driver.mkdir()
    for name, text in sources.items():
        (driver / name).write_text(textwrap.dedent(text))
    if generated is not None:
        (tmp_path / "generated").mkdir()
        (tmp_path / "generated" / "pvscsi_layouts.h").write_text(generated)
    return driver


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, *map(str, args)], capture_output=True,
                          text=True)


def findings(r):
    """[(file name, line, reason)] of the report."""
    out = []
    for line in r.stdout.splitlines():
        where, _, rest = line.partition(": ")
        path, _, lineno = where.rpartition(":")
        out.append((os.path.basename(path), int(lineno), rest.rpartition(" -- ")[2]))
    return out


RAW = "raw bytes of a generated layout: use its accessors"
OFFSET = "byte offset from the generated hw:: layouts: use the generated accessors"
TO_RAW = "enum turned into its integer: use the generated enum and the accessors taking it"
MARKER_MISPLACED = "the pvscsi-api marker must stand directly above a function definition"


def test_a_clean_driver_passes(tmp_path):
    driver = make_tree(tmp_path, {"clean.cc": """\
        /* Comments and strings are not code: d->raw + hw::RingReqDesc::kCdbOffset, to_raw(x). */
        // raw[0], kLunOffset
        void f(pvscsi_softc *sc, hw::RingReqDesc *d) {
          constexpr size_t kSenseOffset = __builtin_offsetof(struct scsi_arq_status, sts_sensedata);
          d->set_lun(sc->lun);
          d->set_cdb(sc->cdb, kSenseOffset);
          cmn_err(CE_NOTE, "raw + kCdbOffset to_raw(");
          char quote = '"';
          drawn = withdraw(raw_value);
        }
        """, "clean.h": "int g(void);\n"})
    r = run(driver)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 files speak only through the generated API" in r.stdout


def test_each_kind_of_finding_is_reported_with_file_line_text_and_reason(tmp_path):
    driver = make_tree(tmp_path, {"bad.cc": """\
        void f(hw::RingReqDesc *d, hw::RingReqDesc &e, const uint8_t *cdb, size_t n) {
          bcopy(cdb, d->raw + 40, n);
          uint8_t first = e.raw[0];
          send(e.raw, 4);
          uint8_t *raw = d->bytes();
          raw[1] = raw + 2 == nullptr;
          sync(sc->rings_state, hw::RingsState::kCmpConsIdxOffset, 4);
          copy(d, Desc::kLunOffset);
          put(kCdbOffset);
          uint32_t v = hw::to_raw(hw::Tag::kSimple);
          uint32_t w = to_raw (hw::Tag::kSimple);
        }
        """})
    r = run(driver)
    assert r.returncode == 1, r.stdout + r.stderr
    assert findings(r) == [
        ("bad.cc", 2, RAW), ("bad.cc", 3, RAW), ("bad.cc", 4, RAW), ("bad.cc", 6, RAW),
        ("bad.cc", 7, OFFSET), ("bad.cc", 8, OFFSET), ("bad.cc", 9, OFFSET),
        ("bad.cc", 10, TO_RAW), ("bad.cc", 11, TO_RAW)]
    first = r.stdout.splitlines()[0]
    assert first == (f"{driver / 'bad.cc'}:2: bcopy(cdb, d->raw + 40, n); -- {RAW}")
    assert "check-driver-api: 9 findings in 1 files" in r.stderr


def test_one_line_with_two_kinds_gives_two_findings(tmp_path):
    driver = make_tree(tmp_path, {"set_lun.h": """\
        template <class Desc> void set_lun(Desc *d, uint64_t sam) {
          __builtin_memcpy(d->raw + Desc::kLunOffset, &sam, sizeof(sam));
        }
        """})
    r = run(driver)
    assert r.returncode == 1
    assert findings(r) == [("set_lun.h", 2, RAW), ("set_lun.h", 2, OFFSET)]


def test_hw_qualified_offsets_count_even_when_the_headers_do_not_define_them(tmp_path):
    driver = make_tree(tmp_path, {"a.cc": "off_t o = hw::Future::kNewFieldOffset;\n"})
    r = run(driver)
    assert r.returncode == 1
    assert findings(r) == [("a.cc", 1, OFFSET)]


def test_the_marker_exempts_the_marked_function_only(tmp_path):
    driver = make_tree(tmp_path, {"v.cc": f"""\
        {MARKER}
        template <class Desc>
        bool valid_message(const Desc &d,
                           uint32_t len) {{
          if (len > sizeof(d.raw)) {{
            return false;
          }}
          return d.raw[hw::RingReqDesc::kLunOffset] < 8 && to_raw(d.type()) < 2;
        }}

        bool not_marked(const hw::RingReqDesc &d) {{
          return d.raw[0] == 0;
        }}
        {MARKER}
        bool marked_too(const hw::RingReqDesc &d) {{ return to_raw(d.tag()) != 0; }}
        uint32_t after = to_raw(hw::Tag::kSimple);
        """})
    r = run(driver)
    assert r.returncode == 1, r.stdout + r.stderr
    assert findings(r) == [("v.cc", 12, RAW), ("v.cc", 16, TO_RAW)]


def test_the_marker_must_stand_directly_above_a_definition(tmp_path):
    driver = make_tree(tmp_path, {"m.cc": f"""\
        {MARKER}

        bool gap(const hw::RingReqDesc &d) {{ return d.raw[0]; }}
        {MARKER}
        bool declaration_only(const hw::RingReqDesc &d);
        bool definition(const hw::RingReqDesc &d) {{ return d.raw[1]; }}
        {MARKER}
        """})
    r = run(driver)
    assert r.returncode == 1
    assert findings(r) == [("m.cc", 1, MARKER_MISPLACED), ("m.cc", 3, RAW),
                           ("m.cc", 4, MARKER_MISPLACED), ("m.cc", 6, RAW),
                           ("m.cc", 7, MARKER_MISPLACED)]


def test_the_marker_in_other_words_exempts_nothing(tmp_path):
    driver = make_tree(tmp_path, {"w.cc": """\
        // pvscsi-api: validates device-written values
        bool f(const hw::RingReqDesc &d) { return d.raw[0]; }
        """})
    r = run(driver)
    assert findings(r) == [("w.cc", 2, RAW)]


def test_bad_input_is_exit_2_with_one_line(tmp_path):
    r = run(tmp_path / "nowhere")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"check-driver-api: error: no such directory: {tmp_path / 'nowhere'}\n"

    empty = tmp_path / "empty"
    (empty / "driver").mkdir(parents=True)
    (empty / "generated").mkdir()
    (empty / "generated" / "g.h").write_text(GENERATED)
    r = run(empty / "driver")
    assert r.returncode == 2 and "no driver sources (*.cc, *.h) in" in r.stderr

    nogen = tmp_path / "nogen"
    nogen.mkdir()
    driver = make_tree(nogen, {"a.cc": "int x;\n"}, generated=None)
    r = run(driver)
    assert r.returncode == 2 and "no such directory" in r.stderr and "--generated" in r.stderr
    (nogen / "generated").mkdir()
    r = run(driver)
    assert r.returncode == 2 and "no generated headers (*.h) in" in r.stderr
    r = run("--generated", tmp_path / "empty" / "generated", driver)
    assert r.returncode == 0, r.stderr

    unreadable = tmp_path / "unreadable"
    unreadable.mkdir()
    driver = make_tree(unreadable, {"a.cc": "int x;\n"})
    (driver / "dir.cc").mkdir()  # unreadable as a file, whoever runs the test
    r = run(driver)
    assert r.returncode == 2 and "cannot read" in r.stderr and "dir.cc" in r.stderr
    (driver / "dir.cc").rmdir()
    (driver / "latin1.h").write_bytes(b"/* caf\xe9 */\n")
    r = run(driver)
    assert r.returncode == 2 and "latin1.h: not UTF-8 text" in r.stderr
    assert len(r.stderr.splitlines()) == 1 and r.stdout == ""
