"""compact_script: what /tag.js serves (indentation and whole-line comments dropped)."""

from __future__ import annotations

from pathlib import Path

from chalicelib.dcs.assets import compact_script

TAG = Path(__file__).resolve().parents[2] / "chalicelib" / "static" / "tag.js"


def test_comment_lines_and_indentation_go_code_and_line_breaks_stay() -> None:
    source = "// a comment\nfunction f() {\n  const u = 'https://x.example/'; // kept\n}\n"
    assert compact_script(source) == (
        "function f() {\nconst u = 'https://x.example/'; // kept\n}\n")


def test_the_tag_has_no_template_literals_that_compaction_could_change() -> None:
    code = "\n".join(line for line in TAG.read_text().split("\n")
                     if not line.lstrip().startswith("//"))
    # backticks only inside a regex character class, never a template literal
    assert all("`|~" in line for line in code.split("\n") if "`" in line)


def test_the_served_tag_fits_10_kb_and_keeps_every_statement() -> None:
    source = TAG.read_text()
    served = compact_script(source)
    assert len(served.encode()) <= 10 * 1024
    code_lines = [line.strip() for line in source.split("\n")
                  if line.strip() and not line.strip().startswith("//")]
    assert [line for line in served.split("\n") if line.strip()] == code_lines
