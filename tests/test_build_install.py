"""The collection builds, installs, and its site playbook is found by FQCN."""

import tarfile

from conftest import ROOT


def test_build_install_and_syntax_check(run_ansible, tmp_path):
    build = run_ansible(["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path / "dist"), str(ROOT)])
    assert build.returncode == 0, build.stderr
    tarballs = list((tmp_path / "dist").glob("flaskstack-deploy-*.tar.gz"))
    assert len(tarballs) == 1, build.stdout

    with tarfile.open(tarballs[0]) as tar:
        names = tar.getnames()
    top = {name.split("/")[0] for name in names}
    for unwanted in ("molecule", "tests", ".venv", ".collections", ".git", ".ci"):
        assert unwanted not in top, f"{unwanted} is in the tarball"
    for wanted in ("roles", "playbooks", "examples", "meta", "README.md", "inventories"):
        assert wanted in top, f"{wanted} is missing from the tarball"

    # Run from an empty directory with an empty config, so nothing of the checkout plays a part.
    work = tmp_path / "work"
    work.mkdir()
    (work / "ansible.cfg").write_text("[defaults]\n")
    env = {"ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"), "ANSIBLE_CONFIG": str(work / "ansible.cfg")}
    install = run_ansible(
        ["ansible-galaxy", "collection", "install", "--offline", "-p", str(tmp_path / "collections"), str(tarballs[0])],
        cwd=work,
        env=env,
    )
    assert install.returncode == 0, install.stderr
    installed = tmp_path / "collections" / "ansible_collections" / "flaskstack" / "deploy"
    assert (installed / "playbooks" / "site.yml").is_file()

    check = run_ansible(
        ["ansible-playbook", "flaskstack.deploy.site", "--syntax-check", "-i", str(installed / "inventories" / "tencent")],
        cwd=work,
        env=env,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"playbook: {installed}/playbooks/site.yml" in check.stdout, check.stdout

    doc = run_ansible(["ansible-doc", "-t", "role", "flaskstack.deploy.uwsgi"], cwd=work, env=env)
    assert doc.returncode == 0, doc.stderr
    assert "uwsgi_processes" in doc.stdout
