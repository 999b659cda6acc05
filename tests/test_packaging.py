"""environment.yml, pyproject.toml, the README's two commands and .ci/run stay in step."""
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_pip_list_equals_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["all"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(pip) - {"-e ."} == wanted
    assert "-e ." in pip


def test_all_extra_is_the_union_of_the_others():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    union = set().union(*(v for k, v in extras.items() if k != "all"))
    assert set(extras["all"]) == union


def test_readme_opens_with_the_two_setup_commands():
    readme = (ROOT / "README.md").read_text()
    top = readme[: readme.index("## ")]
    blocks = re.findall(r"```bash\n(.*?)```", top, re.S)
    assert len(blocks) == 2
    assert "streamlit run app/main.py" in blocks[0]
    assert "pytest" in blocks[1]
    assert "<!-- test-command -->" in top


def test_ci_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in script and 'bash -c "$cmd"' in script
    assert subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")]).returncode == 0


def test_ci_reruns_the_float_sensitive_checks_under_another_arithmetic():
    script = (ROOT / ".ci" / "run").read_text()
    assert "ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE" in script
    assert '$pytest_cmd -m float_sensitive"' in script  # the README's two workers, two threads each
    readme = (ROOT / "README.md").read_text()
    cmd = re.search(r"<!-- test-command -->\s*```bash\n(.*?)```", readme, re.S).group(1).strip()
    pytest_cmd = cmd.rsplit("&& ", 1)[1]  # what .ci/run reruns: ${cmd##*&& }
    assert pytest_cmd.startswith("python -m pytest -n 2 ")  # two workers, one thread each (conftest.py)
    assert "-m float_sensitive" in readme  # and the README says how to run it that way


def test_stored_labs_show_no_widget_repr():
    """An interact cell stored with its output shows `interactive(children=(FloatSlider(...` in JupyterLab, where
    the widget's state is not saved: the labs store those cells empty (the figure is drawn by a direct call)."""
    import nbformat

    for path in sorted((ROOT / "labs").glob("*.ipynb")):
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                assert "application/vnd.jupyter.widget-view+json" not in data, f"{path.name}, cell {i}: a stored widget"
                assert "interactive(children=" not in str(data.get("text/plain", "")), f"{path.name}, cell {i}"


def _imports_of_rlelab():
    """{module: the rlelab modules it imports anywhere in it (at the top or inside a function)}."""
    import ast

    files = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (ROOT / "rlelab").rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]) if node.level else ""
                target = ".".join(filter(None, [base, node.module]))
                for alias in node.names:
                    found = f"{target}.{alias.name}" if f"{target}.{alias.name}" in files else target
                    if found in files and found != name:
                        graph[name].add(found)
    return files, graph


def test_the_import_graph_has_no_cycle_and_every_module_says_what_it_is():
    import ast

    files, graph = _imports_of_rlelab()
    assert graph["rlelab.train"] >= {"rlelab.config", "rlelab.tasks"}  # the graph is read, not empty
    state = {}

    def visit(name, path):
        state[name] = "open"
        for other in sorted(graph[name]):
            assert state.get(other) != "open", "an import cycle: " + " -> ".join(path + [other])
            if other not in state:
                visit(other, path + [other])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    quiet = [name for name, path in files.items() if path.read_text().strip() and not ast.get_docstring(ast.parse(path.read_text()))]
    assert not quiet, f"modules without an opening docstring: {quiet}"


def test_labs_find_their_files_from_any_folder():
    """A lab copied to a student's folder or opened from anywhere but labs/ still finds the shipped models: no lab
    reads a path relative to labs/ (they read "../data/..." before); rlelab.files.shipped finds data/ from anywhere."""
    import json
    import os

    from rlelab.files import shipped

    for path in sorted((ROOT / "labs").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code":
                assert "../" not in "".join(cell["source"]), f"{path.name}, cell {i}: a path relative to labs/"
    here = os.getcwd()
    try:
        os.chdir("/")
        assert Path(shipped("synthpose_res18_rle.pt")).samefile(ROOT / "data" / "synthpose_res18_rle.pt")
    finally:
        os.chdir(here)
    with pytest.raises(ValueError, match="not there; the shipped files come with a clone of rlelab"):
        shipped("no_such_model.pt")


def test_every_faq_answer_points_at_a_lab_section_that_exists():
    """docs/faq.md names `NN_lab.ipynb`, section "heading": each such heading is a heading of that notebook, and
    each answer (## question) names at least one."""
    import json
    import re

    faq = (ROOT / "docs" / "faq.md").read_text()
    answers = re.split(r"^## ", faq, flags=re.M)[1:]
    assert len(answers) >= 7
    for answer in answers:
        chunks = re.split(r"`(\d\d_\w+\.ipynb)`", answer)  # text, notebook, its text, notebook, ...
        named = 0
        for notebook, text in zip(chunks[1::2], chunks[2::2]):
            cells = json.loads((ROOT / "labs" / notebook).read_text())["cells"]
            headings = {line.lstrip("#").strip() for c in cells if c["cell_type"] == "markdown"
                        for line in "".join(c["source"]).splitlines() if line.startswith("#")}
            for section in re.findall(r"(?:sections?|and) \"([^\"]+)\"", re.sub(r"\s+", " ", text)):
                assert section in headings, f"{notebook} has no section {section!r}"
                named += 1
        assert named, f"no lab section named for: {answer.splitlines()[0]}"
