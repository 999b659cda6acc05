"""environment.yml, pyproject.toml, the README's two commands and .ci/run stay in step."""
import re
import subprocess
import tomllib
from pathlib import Path

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
    assert "ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=2" in script and "-m float_sensitive -n 0" in script
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
