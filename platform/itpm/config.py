"""Settings of one itpm installation, read from ITPM_* environment variables.

The Flask and Flask-AppBuilder configuration of every app object is derived
from one `Settings`, so all revision apps of a process share keys and stores.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The checkout (or install) root: platform/itpm/config.py -> ../../..
ROOT = Path(__file__).resolve().parents[2]

#: Secret keys that must never reach production.
_KNOWN_BAD_KEYS = {"", "dev", "changeme", "secret", "itpm-development-key"}
DEVELOPMENT_KEY = "itpm-development-key"


#: The provider's name in Flask-AppBuilder's OAuth views: the redirect URI is <base>/oauth-authorized/sso.
OIDC_PROVIDER = "sso"


class ConfigurationError(RuntimeError):
    """The installation is configured in a way that must not run."""


def _webhook_allow(text: str) -> tuple[Any, ...]:
    from itpm.webhooks import allow_list

    try:
        return allow_list(text)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


def _group_map(env: Mapping[str, str], name: str, roles: bool, dns: bool = True) -> dict[str, Any]:
    """A JSON object of directory group DNs (`dns`; else group names as an identity provider's claim gives
    them): to role names (a name or a list) or to a department name."""
    text = env.get(name, "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ConfigurationError(
            f"{name} is not JSON ({error}): write an object of group DN to names"
        ) from None
    wanted = "a role name or a list of role names" if roles else "a department name"
    if not isinstance(value, dict):
        raise ConfigurationError(f"{name} is a JSON object of group DN to {wanted}")
    mapping: dict[str, Any] = {}
    for group, names in value.items():
        if roles and isinstance(names, str):
            names = [names]
        good = (
            isinstance(names, list) and names and all(isinstance(n, str) and n for n in names)
            if roles
            else isinstance(names, str) and names
        )
        if not good:
            raise ConfigurationError(f"{name}: the group {group!r} maps to {names!r}, not to {wanted}")
        # Flask-AppBuilder matches a person's memberOf values exactly; directories vary the case and spaces.
        mapping[normal_dn(group) if dns else group] = tuple(names) if roles else names
    return mapping


def normal_dn(dn: str) -> str:
    """A group DN as itpm compares them: lower case, no spaces around its commas and equals signs."""
    return ",".join("=".join(part.strip() for part in rdn.split("=", 1)) for rdn in dn.split(",")).lower()


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    redis_url: str | None = None
    production: bool = False
    instance_path: Path = ROOT / "instance"
    base_url: str = "http://127.0.0.1:5000"
    #: The company's time zone: record numbers' dates, default for people without their own.
    timezone: str = "Asia/Shanghai"
    #: Outgoing e-mail; without a host, notifications are in-app only.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "itpm@localhost"
    smtp_tls: bool = False
    #: Who runs automations: auto (RQ when there is Redis, else a thread of this process), rq, thread,
    #: or none (events wait in the outbox until drained: tests, one-off commands).
    jobs: str = "auto"
    #: When each person's daily digest goes out, in their own time zone (HH:MM).
    digest_time: str = "08:00"
    #: Addresses outside the public internet that webhooks may still call (`itpm.webhooks.allow_list`).
    webhook_allow: tuple[Any, ...] = ()
    #: The shortest password anyone may set (see `itpm.passwords`).
    password_min_length: int = 12
    #: Seconds a running import may go without committing a chunk before another worker takes it over.
    import_abandoned_after: int = 120
    #: Seconds after a running job's last heartbeat (one every 5 s) before RQ presumes its worker dead and
    #: another worker runs the job again.
    job_abandoned_after: int = 60
    #: The bearer token Prometheus sends for /metrics; without one, /metrics answers 404.
    metrics_token: str | None = None
    #: Log lines as plain text (plain) or one JSON object per line (json), from this level up.
    log_format: str = "plain"
    log_level: str = "INFO"
    #: How staff sign in: db (itpm's own passwords), ldap (the company directory) or oidc (an OpenID
    #: Connect identity provider), `docs/sso.md`.
    auth: str = "db"
    #: Who may still sign in with an itpm password when a directory signs staff in: all, or admin
    #: (only holders of the admin role: the break-glass account).
    local_passwords: str = "all"
    #: The directory (ITPM_AUTH=ldap): its address, where people are, and who searches for them.
    ldap_server: str | None = None
    ldap_search: str | None = None
    ldap_uid_field: str = "uid"
    ldap_bind_user: str | None = None
    ldap_bind_password: str | None = None
    ldap_use_tls: bool = False
    #: Directory group DN -> itpm role names; a person's mapped roles follow their groups at each sign-in.
    ldap_group_roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Directory group DN -> itpm department name: the department of a person in the group.
    ldap_group_departments: Mapping[str, str] = field(default_factory=dict)
    #: The identity provider (ITPM_AUTH=oidc): its issuer URL (the discovery document is under it) and
    #: this installation's client there.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scopes: str = "openid email profile"
    #: The ID token's claims naming the person and listing their groups (a dotted path: realm_access.roles).
    oidc_username_claim: str = "preferred_username"
    oidc_groups_claim: str = "groups"
    #: Group (a value of the groups claim) -> itpm role names, and -> department name, as for LDAP.
    oidc_group_roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    oidc_group_departments: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        instance = Path(env.get("ITPM_INSTANCE_PATH", ROOT / "instance"))
        values: dict[str, Any] = {
            "database_url": env.get("ITPM_DATABASE_URL") or f"sqlite:///{instance / 'itpm.db'}",
            "secret_key": env.get("ITPM_SECRET_KEY", ""),
            "redis_url": env.get("ITPM_REDIS_URL") or None,
            "production": env.get("ITPM_ENV", "development") == "production",
            "instance_path": instance,
            "base_url": env.get("ITPM_BASE_URL", "http://127.0.0.1:5000"),
            "timezone": env.get("ITPM_TIMEZONE", "Asia/Shanghai"),
            "smtp_host": env.get("ITPM_SMTP_HOST") or None,
            "smtp_port": int(env.get("ITPM_SMTP_PORT", "25")),
            "smtp_user": env.get("ITPM_SMTP_USER") or None,
            "smtp_password": env.get("ITPM_SMTP_PASSWORD") or None,
            "smtp_from": env.get("ITPM_SMTP_FROM", "itpm@localhost"),
            "smtp_tls": env.get("ITPM_SMTP_TLS", "") in ("1", "true", "yes"),
            "jobs": env.get("ITPM_JOBS", "auto"),
            "digest_time": env.get("ITPM_DIGEST_TIME", "08:00"),
            "webhook_allow": _webhook_allow(env.get("ITPM_WEBHOOK_ALLOW", "")),
            "password_min_length": int(env.get("ITPM_PASSWORD_MIN_LENGTH", "12")),
            "import_abandoned_after": int(env.get("ITPM_IMPORT_ABANDONED_AFTER", "120")),
            "job_abandoned_after": int(env.get("ITPM_JOB_ABANDONED_AFTER", "60")),
            "metrics_token": env.get("ITPM_METRICS_TOKEN") or None,
            "log_format": env.get("ITPM_LOG_FORMAT", "plain"),
            "log_level": env.get("ITPM_LOG_LEVEL", "INFO").upper(),
            "auth": env.get("ITPM_AUTH", "db").lower(),
            "local_passwords": env.get("ITPM_LOCAL_PASSWORDS", "all").lower(),
            "ldap_server": env.get("ITPM_LDAP_SERVER") or None,
            "ldap_search": env.get("ITPM_LDAP_SEARCH") or None,
            "ldap_uid_field": env.get("ITPM_LDAP_UID_FIELD") or "uid",
            "ldap_bind_user": env.get("ITPM_LDAP_BIND_USER") or None,
            "ldap_bind_password": env.get("ITPM_LDAP_BIND_PASSWORD") or None,
            "ldap_use_tls": env.get("ITPM_LDAP_USE_TLS", "") in ("1", "true", "yes"),
            "ldap_group_roles": _group_map(env, "ITPM_LDAP_GROUP_ROLES", roles=True),
            "ldap_group_departments": _group_map(env, "ITPM_LDAP_GROUP_DEPARTMENTS", roles=False),
            "oidc_issuer": (env.get("ITPM_OIDC_ISSUER") or "").rstrip("/") or None,
            "oidc_client_id": env.get("ITPM_OIDC_CLIENT_ID") or None,
            "oidc_client_secret": env.get("ITPM_OIDC_CLIENT_SECRET") or None,
            "oidc_scopes": env.get("ITPM_OIDC_SCOPES") or "openid email profile",
            "oidc_username_claim": env.get("ITPM_OIDC_USERNAME_CLAIM") or "preferred_username",
            "oidc_groups_claim": env.get("ITPM_OIDC_GROUPS_CLAIM") or "groups",
            "oidc_group_roles": _group_map(env, "ITPM_OIDC_GROUP_ROLES", roles=True, dns=False),
            "oidc_group_departments": _group_map(env, "ITPM_OIDC_GROUP_DEPARTMENTS", roles=False, dns=False),
        }
        if env.get("ITPM_HOME_PAGE"):  # "dashboard": staff land on their home dashboard (`itpm.web.home`)
            values["extra"] = {"ITPM_HOME_PAGE": env["ITPM_HOME_PAGE"]}
        values.update(overrides)
        return cls(**values).checked()

    def checked(self) -> Settings:
        """Refuse a production start without a real secret key."""
        if self.production and (self.secret_key in _KNOWN_BAD_KEYS or len(self.secret_key) < 32):
            raise ConfigurationError(
                "ITPM_SECRET_KEY must be set to a random value of at least 32 characters "
                "when ITPM_ENV=production (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'`)"
            )
        if self.jobs not in ("auto", "rq", "thread", "none"):
            raise ConfigurationError(f"ITPM_JOBS is auto, rq, thread or none, not {self.jobs!r}")
        if self.jobs == "rq" and not self.redis_url:
            raise ConfigurationError("ITPM_JOBS=rq needs ITPM_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
        try:
            dt.time.fromisoformat(self.digest_time)
        except ValueError:
            raise ConfigurationError(
                f"ITPM_DIGEST_TIME is a time of day such as 08:00, not {self.digest_time!r}"
            ) from None
        if self.password_min_length < 8:
            raise ConfigurationError(
                f"ITPM_PASSWORD_MIN_LENGTH is at least 8, not {self.password_min_length}"
            )
        if self.import_abandoned_after < 5:
            raise ConfigurationError(
                f"ITPM_IMPORT_ABANDONED_AFTER is at least 5 (seconds), not {self.import_abandoned_after}"
            )
        if self.job_abandoned_after < 10:
            raise ConfigurationError(
                f"ITPM_JOB_ABANDONED_AFTER is at least 10 (seconds), not {self.job_abandoned_after}"
            )
        if self.log_format not in ("plain", "json"):
            raise ConfigurationError(f"ITPM_LOG_FORMAT is plain or json, not {self.log_format!r}")
        if self.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigurationError(
                f"ITPM_LOG_LEVEL is DEBUG, INFO, WARNING, ERROR or CRITICAL, not {self.log_level!r}"
            )
        if self.metrics_token is not None and len(self.metrics_token) < 16:
            raise ConfigurationError("ITPM_METRICS_TOKEN must be at least 16 characters long")
        self._check_sign_in()
        if not self.secret_key:
            return self._replace(secret_key=DEVELOPMENT_KEY)
        return self

    def _check_sign_in(self) -> None:
        if self.auth not in ("db", "ldap", "oidc"):
            raise ConfigurationError(f"ITPM_AUTH is db, ldap or oidc, not {self.auth!r}")
        if self.local_passwords not in ("all", "admin"):
            raise ConfigurationError(f"ITPM_LOCAL_PASSWORDS is all or admin, not {self.local_passwords!r}")
        if self.auth == "oidc":
            self._check_oidc()
        if self.auth != "ldap":
            return
        if not self.ldap_server or "://" not in self.ldap_server:
            raise ConfigurationError(
                "ITPM_AUTH=ldap needs ITPM_LDAP_SERVER, the directory's address (e.g. ldaps://ldap.example.com)"
            )
        if not self.ldap_search:
            raise ConfigurationError(
                "ITPM_AUTH=ldap needs ITPM_LDAP_SEARCH, where people are (e.g. ou=people,dc=example,dc=com)"
            )
        if bool(self.ldap_bind_user) != bool(self.ldap_bind_password):
            raise ConfigurationError(
                "ITPM_LDAP_BIND_USER and ITPM_LDAP_BIND_PASSWORD are set together, or neither"
            )

    def _check_oidc(self) -> None:
        if not self.oidc_issuer or not self.oidc_issuer.startswith(("https://", "http://")):
            raise ConfigurationError(
                "ITPM_AUTH=oidc needs ITPM_OIDC_ISSUER, the identity provider's issuer URL"
                " (e.g. https://sso.example.com/realms/company)"
            )
        if self.production and not self.oidc_issuer.startswith("https://"):
            raise ConfigurationError("ITPM_OIDC_ISSUER is an https:// address when ITPM_ENV=production")
        if not self.oidc_client_id or not self.oidc_client_secret:
            raise ConfigurationError(
                "ITPM_AUTH=oidc needs ITPM_OIDC_CLIENT_ID and ITPM_OIDC_CLIENT_SECRET, itpm's client at the"
                " identity provider"
            )
        if "openid" not in self.oidc_scopes.split():
            raise ConfigurationError(f"ITPM_OIDC_SCOPES must include openid, not {self.oidc_scopes!r}")

    def _replace(self, **changes: Any) -> Settings:
        from dataclasses import replace

        return replace(self, **changes)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def flask_config(self) -> dict[str, Any]:
        """The Flask / Flask-AppBuilder configuration of a revision app."""
        from flask_appbuilder.const import AUTH_DB

        config: dict[str, Any] = {
            "SECRET_KEY": self.secret_key,
            "JWT_SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "APP_NAME": "itpm",
            "APP_ICON": "/static/itpm/logo.svg",
            "AUTH_TYPE": AUTH_DB,
            "AUTH_ROLE_ADMIN": "admin",
            "AUTH_ROLE_PUBLIC": "public",
            # Failed password checks (sign-in, API sign-in, one's own password change), counted
            # per address and per user name: `itpm.web.sign_in`. With Redis, counted across processes.
            "AUTH_RATE_LIMITED": True,
            "AUTH_RATE_LIMIT": "10 per 20 second; 100 per hour",
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": self.redis_url or "memory://",
            "RATELIMIT_HEADERS_ENABLED": True,  # Retry-After on a refusal
            "FAB_API_SWAGGER_UI": True,
            "FAB_ADD_OPENAPI_VIEWS": False,  # itpm's own OpenApi view (`itpm.web.api.openapi`) serves them
            "FAB_API_MAX_PAGE_SIZE": 100,
            # Integration tokens (`itpm.integrations.tokens`) take the place of Flask-AppBuilder's API keys.
            "FAB_API_KEY_ENABLED": True,
            "FAB_API_KEY_PREFIXES": ["itpm_"],
            # Alembic owns the schema and `itpm init` the permissions: a serving
            # process never writes either when it builds an app.
            "FAB_CREATE_DB": False,
            "FAB_UPDATE_PERMS": False,
            "FAB_ADD_SECURITY_VIEWS": True,
            "FAB_SECURITY_MANAGER_CLASS": "itpm.web.security.ItpmSecurityManager",
            "FAB_BASE_TEMPLATE": "itpm/baselayout.html",
            "FAB_INDEX_VIEW": "itpm.web.home.HomeView",
            "BABEL_DEFAULT_LOCALE": "zh",
            "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
            "LANGUAGES": {
                "zh": {"flag": "cn", "name": "中文"},
                "en": {"flag": "gb", "name": "English"},
            },
            "WTF_CSRF_ENABLED": True,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.production,
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SECURE": self.production,
            "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,
            "ITPM_SETTINGS": self,
        }
        if self.auth == "ldap":
            config.update(self._ldap_config())
        if self.auth == "oidc":
            config.update(self._oidc_config())
        config.update(self.extra)
        return config

    def _ldap_config(self) -> dict[str, Any]:
        """Flask-AppBuilder's AUTH_LDAP; itpm's security manager keeps roles in step with the groups."""
        from flask_appbuilder.const import AUTH_LDAP

        return {
            "AUTH_TYPE": AUTH_LDAP,
            "AUTH_LDAP_SERVER": self.ldap_server,
            "AUTH_LDAP_SEARCH": self.ldap_search,
            "AUTH_LDAP_UID_FIELD": self.ldap_uid_field,
            "AUTH_LDAP_BIND_USER": self.ldap_bind_user or "",
            "AUTH_LDAP_BIND_PASSWORD": self.ldap_bind_password or "",
            "AUTH_LDAP_USE_TLS": self.ldap_use_tls,
            "AUTH_LDAP_GROUP_FIELD": "memberOf",
            # A person the directory knows gets an itpm account at their first sign-in.
            "AUTH_USER_REGISTRATION": True,
            # Flask-AppBuilder asks the directory for a person's groups when this maps any.
            "AUTH_ROLES_MAPPING": {
                **{group: [] for group in self.ldap_group_departments},
                **{group: list(roles) for group, roles in self.ldap_group_roles.items()},
            },
            # itpm syncs only the mapped roles (`ItpmSecurityManager.sync_directory_groups`):
            # roles an admin gave by hand stay.
            "AUTH_ROLES_SYNC_AT_LOGIN": False,
        }

    def _oidc_config(self) -> dict[str, Any]:
        """Flask-AppBuilder's AUTH_OAUTH with one provider, found by its discovery document (Authlib checks
        the state, the nonce and the ID token's signature, issuer, audience and expiry); itpm's security
        manager reads the person from the ID token and keeps their roles in step with their groups."""
        from flask_appbuilder.const import AUTH_OAUTH

        return {
            "AUTH_TYPE": AUTH_OAUTH,
            "OAUTH_PROVIDERS": [
                {
                    "name": OIDC_PROVIDER,
                    "icon": "fa-key",
                    "token_key": "access_token",
                    "remote_app": {
                        "client_id": self.oidc_client_id,
                        "client_secret": self.oidc_client_secret,
                        "server_metadata_url": f"{self.oidc_issuer}/.well-known/openid-configuration",
                        "client_kwargs": {"scope": self.oidc_scopes, "timeout": 10},
                    },
                }
            ],
            "AUTH_USER_REGISTRATION": True,
            "AUTH_ROLES_MAPPING": {},
            # itpm syncs only the mapped roles (`ItpmSecurityManager.sync_groups`), as for LDAP.
            "AUTH_ROLES_SYNC_AT_LOGIN": False,
        }
