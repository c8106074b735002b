import pytest

from stagewise.errors import InputFormatError
from stagewise.first_stage.runfile import import_run
from stagewise.io import read_run


def test_a_run_file_is_normalized_cut_and_restricted_to_the_query_set(tmp_path):
    given = tmp_path / "splade.run"
    given.write_text("q1 Q0 d3 7 0.5 splade\n"
                     "q1 Q0 d1 1 2.0 splade\n"
                     "q1 Q0 d2 2 0.5 splade\n"
                     "q9 Q0 d1 1 1.0 splade\n")
    out = tmp_path / "out.run"
    import_run(given, out, queries={"q1": "a", "q2": "b"}, depth=2, tag="splade")
    # ties in trec_eval's order (descending docid): d3 before d2, so the cut keeps d3
    assert out.read_text().splitlines() == ["q1 Q0 d1 1 2.000000 splade", "q1 Q0 d3 2 0.500000 splade"]
    assert read_run(out) == {"q1": {"d1": 2.0, "d3": 0.5}}


@pytest.mark.parametrize("line, message", [
    ("q1 Q0 d2 2 splade", "expected 6 columns"),
    ("q1 Q0 d2 two 0.5 splade", "is not a number"),
    ("q1 Q0 d1 2 0.5 splade", "appears twice"),
])
def test_a_malformed_line_stops_with_file_and_line(tmp_path, line, message):
    given = tmp_path / "tasb.run"
    given.write_text(f"q1 Q0 d1 1 2.0 tasb\n{line}\n")
    with pytest.raises(InputFormatError, match=rf"tasb\.run:2: .*{message}"):
        import_run(given, tmp_path / "out.run")
    assert not (tmp_path / "out.run").exists()
