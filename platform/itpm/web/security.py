"""Flask-AppBuilder's security manager, as itpm uses it.

Users, roles and logins stay Flask-AppBuilder's; what each role may do with
records is decided by the domain's access rules, not here.
"""

from __future__ import annotations

from flask_appbuilder.security.sqla.manager import SecurityManager

from itpm.models import Person


class ItpmSecurityManager(SecurityManager):
    user_model = Person
