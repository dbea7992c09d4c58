"""Signing in with the company directory (ITPM_AUTH=ldap): a real OpenLDAP slapd on loopback.

The directory holds an OU of people and two groups (memberof overlay); directory groups map to itpm
roles and a department. Directory people sign in through the login form (CSRF as everywhere), get the
roles of their groups at each sign-in, and are refused, rate limited and audited like itpm passwords.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap  # python-ldap, of the test extra: missing, the tests fail rather than skip
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from conftest import ADMIN, csrf_token, settings_for
from itpm.config import ConfigurationError, Settings, normal_dn
from itpm.models import AuditEntry, Department, Person
from itpm.web.app import create_app

SLAPD = shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").exists() else None)
pytestmark = pytest.mark.skipif(
    SLAPD is None,
    reason="OpenLDAP's slapd is not installed (apt-get install slapd: .ci/system-packages test)",
)

BASE = "dc=itpm,dc=test"
ROOT_DN = f"cn=admin,{BASE}"
ROOT_PASSWORD = "directory-root-password"
PEOPLE = f"ou=people,{BASE}"
ENGINEERS = f"cn=engineers,ou=groups,{BASE}"
MANAGERS = f"cn=project-managers,ou=groups,{BASE}"
PASSWORDS = {"mei": "mei-directory-password", "tom": "tom-directory-password"}

CONFIG = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {folder}/slapd.pid
database mdb
maxsize 10485760
suffix "{base}"
rootdn "{root}"
rootpw {password}
directory {folder}/data
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
"""


def person_ldif(uid: str, given: str, surname: str) -> str:
    return (
        f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {given} {surname}\n"
        f"givenName: {given}\nsn: {surname}\nmail: {uid}@itpm.test\nuserPassword: {PASSWORDS[uid]}\n\n"
    )


LDIF = (
    f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: itpm test\ndc: itpm\n\n"
    f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n"
    f"dn: ou=groups,{BASE}\nobjectClass: organizationalUnit\nou: groups\n\n"
    + person_ldif("mei", "Mei", "Chen")
    + person_ldif("tom", "Tom", "Wright")
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A slapd on a free loopback port: people loaded by slapadd, groups added live (so memberof sets
    memberOf). Yields its URL."""
    folder = tmp_path_factory.mktemp("slapd")
    (folder / "data").mkdir()
    config = folder / "slapd.conf"
    config.write_text(CONFIG.format(folder=folder, base=BASE, root=ROOT_DN, password=ROOT_PASSWORD))
    subprocess.run(
        [str(Path(SLAPD).with_name("slapadd")), "-f", str(config), "-l", "/dev/stdin"],
        input=LDIF.encode(),
        check=True,
        capture_output=True,
    )
    url = f"ldap://127.0.0.1:{free_port()}"
    server = subprocess.Popen(
        [SLAPD, "-f", str(config), "-h", url, "-d", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        connection = _connect_when_up(url, server)
        for group, members in ((ENGINEERS, ["mei", "tom"]), (MANAGERS, ["mei"])):
            connection.add_s(
                group,
                [
                    ("objectClass", [b"groupOfNames"]),
                    ("cn", [group.split(",")[0][3:].encode()]),
                    ("member", [f"uid={m},{PEOPLE}".encode() for m in members]),
                ],
            )
        connection.unbind_s()
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _connect_when_up(url: str, server: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + 10
    while True:
        try:
            connection = ldap.initialize(url)
            connection.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
            return connection
        except ldap.SERVER_DOWN:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"slapd did not start: {server.stderr.read().decode()[-2000:]}") from None
            time.sleep(0.05)


def set_group_members(url: str, group: str, members: list[str]) -> None:
    connection = ldap.initialize(url)
    connection.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
    connection.modify_s(
        group, [(ldap.MOD_REPLACE, "member", [f"uid={m},{PEOPLE}".encode() for m in members])]
    )
    connection.unbind_s()


@pytest.fixture
def ldap_app(directory: str, database_url: str, tmp_path: Path) -> Iterator[Flask]:
    settings = settings_for(
        database_url,
        tmp_path,
        auth="ldap",
        ldap_server=directory,
        ldap_search=PEOPLE,
        ldap_bind_user=ROOT_DN,
        ldap_bind_password=ROOT_PASSWORD,
        ldap_group_roles={ENGINEERS.lower(): ("engineer",), MANAGERS.lower(): ("project_manager",)},
        ldap_group_departments={MANAGERS.lower(): "delivery"},
        local_passwords="admin",
    )
    app = create_app(settings.checked())
    with app.extensions["itpm"].session() as session:
        session.add(Department(name="delivery", title_en="Delivery", title_zh="交付部"))
        session.commit()
    yield app
    app.extensions["itpm"].dispose()
    set_group_members(directory, MANAGERS, ["mei"])  # as the module's directory began


def sign_in(client: FlaskClient, username: str, password: str, address: str = "192.0.2.10") -> Any:
    token = csrf_token(client, "/login/")
    return client.post(
        "/login/",
        data={"username": username, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def signed_in(client: FlaskClient) -> bool:
    return client.get("/users/userinfo/").status_code == 200


def person(app: Flask, username: str) -> tuple[list[str], str | None]:
    with app.extensions["itpm"].session() as session:
        found = session.scalar(select(Person).where(Person.username == username))
        assert found is not None, f"{username} has no itpm account"
        return sorted(r.name for r in found.roles), found.department.name if found.department else None


def sign_in_log(app: Flask) -> list[tuple[Any, ...]]:
    with app.extensions["itpm"].session() as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.target, AuditEntry.actor, AuditEntry.detail)
            .where(AuditEntry.action.like("login%"))
            .order_by(AuditEntry.id)
        ).all()
    return [(action, target, actor, detail.get("method")) for action, target, actor, detail in rows]


def test_a_directory_person_signs_in_with_the_roles_and_department_of_their_groups(
    ldap_app: Flask, directory: str
) -> None:
    client = ldap_app.test_client()
    assert sign_in(client, "mei", PASSWORDS["mei"]).status_code == 302
    assert signed_in(client)
    assert person(ldap_app, "mei") == (["engineer", "project_manager"], "delivery")
    # signing out is itpm's POST, which ends the session
    token = csrf_token(client, "/")
    assert client.post("/logout/", data={"csrf_token": token}).status_code == 302
    assert not signed_in(client)

    # removed from a group in the directory: the role goes at the next sign-in; a role given in itpm stays
    flask_app = ldap_app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        mei = sm.find_user(username="mei")
        mei.roles.append(sm.find_role("finance"))
        sm.session.commit()
    set_group_members(directory, MANAGERS, ["tom"])
    assert sign_in(client, "mei", PASSWORDS["mei"]).status_code == 302 and signed_in(client)
    assert person(ldap_app, "mei") == (["engineer", "finance"], "delivery")
    with ldap_app.extensions["itpm"].session() as session:  # the role taken away is in the audit log
        assert session.scalar(select(AuditEntry.id).where(AuditEntry.action == "user_role.delete"))

    assert sign_in_log(ldap_app) == [
        ("login", "user/mei", "mei", "ldap"),
        ("login", "user/mei", "mei", "ldap"),
    ]


def test_a_wrong_password_and_an_unknown_person_are_refused_and_audited(ldap_app: Flask) -> None:
    client = ldap_app.test_client()
    client.get("/lang/en")
    sign_in(client, "tom", PASSWORDS["tom"])  # tom now has an account
    client.post("/logout/", data={"csrf_token": csrf_token(client, "/")})
    for name, password in (("tom", "not-toms-password"), ("nobody", "whatever")):
        response = sign_in(client, name, password)
        assert response.status_code == 302 and not signed_in(client), name
    assert "Invalid login" in client.get("/login/").get_data(as_text=True)
    assert sign_in(client, "mei", "").status_code == 200 and not signed_in(client)  # the form asks again
    assert sign_in_log(ldap_app) == [
        ("login", "user/tom", "tom", "ldap"),
        ("login.failed", "user/tom", "anonymous", "ldap"),
        ("login.failed", "user/nobody", "anonymous", "ldap"),
    ]  # an empty password never reaches the directory (the form requires one)


def test_guessing_a_directory_password_is_rate_limited_like_a_local_one(ldap_app: Flask) -> None:
    client = ldap_app.test_client()
    client.get("/lang/en")
    for n in range(10):
        assert sign_in(client, "tom", f"guess-{n}", address=f"10.0.0.{n}").status_code == 302
    refused = sign_in(client, "tom", PASSWORDS["tom"], address="10.0.1.1")
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert not signed_in(client)
    # failures from one address count across names (unknown people included)
    for n in range(10):
        assert sign_in(client, f"nobody-{n}", "guess", address="10.9.9.9").status_code == 302
    assert sign_in(client, "mei", PASSWORDS["mei"], address="10.9.9.9").status_code == 429
    assert sign_in(client, "mei", PASSWORDS["mei"], address="10.9.9.10").status_code == 302
    assert signed_in(client)


def test_local_passwords_are_for_the_break_glass_admin_only(ldap_app: Flask) -> None:
    """ITPM_LOCAL_PASSWORDS=admin: the admin (not in the directory) signs in with their itpm password;
    a staff member's itpm password is refused, through the form and the API alike."""
    flask_app = ldap_app.dispatcher.app
    with flask_app.app_context():
        sm = flask_app.appbuilder.sm
        sm.add_user(
            "lee", "Lee", "Local", "lee@itpm.invalid", [sm.find_role("engineer")], "lee-local-password-1"
        )
        sm.session.commit()
    client = ldap_app.test_client()
    assert sign_in(client, "lee", "lee-local-password-1").status_code == 302
    assert not signed_in(client)

    def api(username: str, password: str, provider: str) -> int:
        body = {"username": username, "password": password, "provider": provider}
        return client.post("/api/v1/security/login", json=body).status_code

    assert api("lee", "lee-local-password-1", "ldap") == 401
    assert api("lee", "lee-local-password-1", "db") == 400  # Flask-AppBuilder: one provider, the directory
    assert api("mei", PASSWORDS["mei"], "ldap") == 200
    assert sign_in(client, *ADMIN).status_code == 302 and signed_in(client)
    assert sign_in_log(ldap_app)[-1] == ("login", "user/admin", "admin", "password")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ITPM_AUTH": "saml"}, "ITPM_AUTH is db, ldap or oidc, not 'saml'"),
        ({"ITPM_AUTH": "ldap"}, "ITPM_AUTH=ldap needs ITPM_LDAP_SERVER"),
        ({"ITPM_AUTH": "ldap", "ITPM_LDAP_SERVER": "ldap://x"}, "ITPM_AUTH=ldap needs ITPM_LDAP_SEARCH"),
        ({"ITPM_LOCAL_PASSWORDS": "none"}, "ITPM_LOCAL_PASSWORDS is all or admin, not 'none'"),
        ({"ITPM_LDAP_GROUP_ROLES": "cn=a,dc=b: engineer"}, "ITPM_LDAP_GROUP_ROLES is not JSON"),
        (
            {"ITPM_LDAP_GROUP_ROLES": '{"cn=a,dc=b": 3}'},
            "the group 'cn=a,dc=b' maps to 3, not to a role name",
        ),
        ({"ITPM_LDAP_GROUP_DEPARTMENTS": '["delivery"]'}, "ITPM_LDAP_GROUP_DEPARTMENTS is a JSON object"),
    ],
)
def test_a_directory_misconfigured_is_named_at_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Settings.from_env(env)


def test_group_dns_are_compared_whatever_their_case_and_spaces() -> None:
    settings = Settings.from_env(
        {
            "ITPM_AUTH": "ldap",
            "ITPM_LDAP_SERVER": "ldaps://ldap.example.com",
            "ITPM_LDAP_SEARCH": "ou=people,dc=example,dc=com",
            "ITPM_LDAP_GROUP_ROLES": '{"CN=Engineers, OU=Groups,DC=example,DC=com": "engineer"}',
        }
    )
    assert settings.ldap_group_roles == {"cn=engineers,ou=groups,dc=example,dc=com": ("engineer",)}
    assert normal_dn("cn = Engineers ,ou=groups,dc=example,dc=com") in settings.ldap_group_roles


def test_a_directory_that_does_not_answer_is_said_so_and_audited(fresh_database: Any, tmp_path: Path) -> None:
    settings = settings_for(
        fresh_database("sqlite"),
        tmp_path,
        auth="ldap",
        ldap_server=f"ldap://127.0.0.1:{free_port()}",  # nothing listens there
        ldap_search=PEOPLE,
        ldap_bind_user=ROOT_DN,
        ldap_bind_password=ROOT_PASSWORD,
    )
    app = create_app(settings.checked())
    try:
        client = app.test_client()
        client.get("/lang/en")
        assert sign_in(client, "mei", PASSWORDS["mei"]).status_code == 302 and not signed_in(client)
        assert "The company directory did not answer" in client.get("/login/").get_data(as_text=True)
        with app.extensions["itpm"].session() as session:
            entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "login.failed")).one()
        assert (entry.target, entry.detail) == (
            "user/mei",
            {"method": "ldap", "reason": "directory unreachable"},
        )
    finally:
        app.extensions["itpm"].dispose()
