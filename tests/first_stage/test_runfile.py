import pytest

from stagewise.errors import InputFormatError
from stagewise.first_stage.runfile import import_run
from stagewise.io import read_run, without_header
from stagewise.provenance import read


def test_a_run_file_is_normalized_cut_and_restricted_to_the_query_set(tmp_path):
    given = tmp_path / "splade.run"
    given.write_text("q1 Q0 d3 7 0.5 splade\nq1 Q0 d1 1 2.0 splade\nq1 Q0 d2 2 0.5 splade\nq9 Q0 d1 1 1.0 splade\n")
    out = tmp_path / "out.run"
    import_run(given, out, queries={"q1": "a", "q2": "b"}, depth=2, tag="splade")
    # ties in trec_eval's order (descending docid): d3 before d2, so the cut keeps d3
    assert without_header(out).splitlines() == ["q1 Q0 d1 1 2.000000 splade", "q1 Q0 d3 2 0.500000 splade"]
    assert read_run(out) == {"q1": {"d1": 2.0, "d3": 0.5}}


@pytest.mark.parametrize(
    "line, message",
    [
        ("q1 Q0 d2 2 splade", "expected 6 columns"),
        ("q1 Q0 d2 two 0.5 splade", "is not a number"),
        ("q1 Q0 d1 2 0.5 splade", "appears twice"),
    ],
)
def test_a_malformed_line_stops_with_file_and_line(tmp_path, line, message):
    given = tmp_path / "tasb.run"
    given.write_text(f"q1 Q0 d1 1 2.0 tasb\n{line}\n")
    with pytest.raises(InputFormatError, match=rf"tasb\.run:2: .*{message}"):
        import_run(given, tmp_path / "out.run")
    assert not (tmp_path / "out.run").exists()


IR_METADATA = """# ir_metadata.start
# tag: splade
# platform:
#   hardware: {gpu: A100}
# ir_metadata.end
"""


def test_a_gzip_run_with_an_ir_metadata_header_imports_as_the_plain_run(tmp_path):
    import gzip

    from stagewise.io import read_qrels

    lines = ["q1 Q0 d1 1 3.0 splade", "q1 Q0 d2 2 2.0 splade", "q2 Q0 d3 1 1.5 splade"]
    (tmp_path / "plain.run").write_text("\n".join(lines) + "\n")
    with gzip.open(tmp_path / "given.run.gz", "wt") as f:
        f.write(IR_METADATA + "\n".join(lines[:2]) + "\n# a comment between lines\n" + lines[2] + "\n")
    import_run(tmp_path / "given.run.gz", tmp_path / "a.run")
    import_run(tmp_path / "plain.run", tmp_path / "b.run")
    assert without_header(tmp_path / "a.run") == without_header(tmp_path / "b.run") != ""
    # our header names the file it came from and keeps that file's own
    given = read(tmp_path / "a.run")["method"]
    assert given["imported"] == str(tmp_path / "given.run.gz")
    assert given["imported_metadata"] == {"tag": "splade", "platform": {"hardware": {"gpu": "A100"}}}
    # qrels too, with a malformed line still named by its line number in the decompressed file
    with gzip.open(tmp_path / "qrels.gz", "wt") as f:
        f.write("# judged by NIST\nq1 0 d1 2\nq2 0 d3 1\n")
    assert read_qrels(tmp_path / "qrels.gz") == {"q1": {"d1": 2}, "q2": {"d3": 1}}
    with gzip.open(tmp_path / "bad.run.gz", "wt") as f:
        f.write(IR_METADATA + "q1 Q0 d1 1 x splade\n")
    with pytest.raises(InputFormatError, match=r"bad\.run\.gz:6: "):
        read_run(tmp_path / "bad.run.gz")
    # a truncated download stops, naming the file
    data = (tmp_path / "given.run.gz").read_bytes()
    (tmp_path / "cut.run.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFormatError, match="cut.run.gz.*cannot be read to its end"):
        read_run(tmp_path / "cut.run.gz")


@pytest.mark.parametrize(
    "content, line, message",
    [
        (b"\xef\xbb\xbfq1 Q0 d1 1 2.0 x\nq1 Q0 d2 2 1.0 x\n", 1, "byte-order mark"),
        (b"q1 Q0 d1 1 2.0 x\nq1 Q0 d\xe92 2 1.0 x\n", 2, "is not UTF-8 text"),
    ],
)
def test_a_run_with_a_byte_order_mark_or_latin_1_bytes_stops_at_its_line(tmp_path, content, line, message):
    from stagewise.errors import InputFormatError
    from stagewise.io import read_run

    path = tmp_path / "bad.run"
    path.write_bytes(content)
    with pytest.raises(InputFormatError, match=f"bad.run:{line}: .*{message}"):
        read_run(path)


def test_a_corrupt_gzip_run_names_the_file(tmp_path):
    import gzip

    from stagewise.errors import InputFormatError
    from stagewise.io import read_run

    data = bytearray(gzip.compress(b"".join(f"q{i} Q0 d{i} 1 1.0 x\n".encode() for i in range(2000))))
    data[len(data) // 2] ^= 0xFF  # a flipped byte in the middle of the deflate stream
    path = tmp_path / "corrupt.run.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(InputFormatError, match=r"corrupt.run.gz:\d+: cannot be read to its end"):
        read_run(path)
