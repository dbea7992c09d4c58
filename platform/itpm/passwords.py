"""What a password must be: long enough, and not one that guessers try first.

Every path that sets a password asks `password_problems`: Flask-AppBuilder's
user and password screens (through its complexity-validator hook, see
`itpm.web.sign_in`), the security manager's `reset_password`, `itpm init
--admin-password` and the demo. The common-password check is zxcvbn's: its
lists of leaked passwords, words and names, and its patterns (keyboard rows,
sequences, dates, repeats), plus the person's own name, user name and e-mail.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import lazy_gettext as _
from zxcvbn import zxcvbn

#: NIST SP 800-63B asks for at least 8, and 15 where the password is the only factor; 12 by default.
MIN_LENGTH = 12
#: Long enough for any passphrase, short enough that hashing it costs nothing unusual.
MAX_LENGTH = 128
#: zxcvbn's score 3: "safely unguessable", about 10^8 guesses or more.
MIN_SCORE = 3
#: zxcvbn refuses longer inputs; what follows the first 72 characters only adds strength.
_SCORED_LENGTH = 72
#: A password holding the person's details needs this many other letters or digits besides.
_OWN_REST = 8


class PasswordRefused(ValueError):
    """A password that does not meet the policy; `problems` says why, in the reader's language."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


def password_problems(
    password: str, personal: Iterable[str | None] = (), min_length: int = MIN_LENGTH
) -> list[str]:
    """Why `password` may not be used (nothing when it may).

    `personal` holds what belongs to the person (user name, names, e-mail): a password
    made of those is as easy to guess as a common one.
    """
    if len(password) < min_length:
        return [str(_("A password has at least %(count)d characters.", count=min_length))]
    if len(password) > MAX_LENGTH:
        return [str(_("A password has at most %(count)d characters.", count=MAX_LENGTH))]
    words = [w for value in personal if value for w in _words(value)]
    if _made_of(password, words) or zxcvbn(password[:_SCORED_LENGTH], user_inputs=words)["score"] < MIN_SCORE:
        return [
            str(
                _(
                    "This password is too easy to guess: it is a common password, or made of words, "
                    "names, dates, keyboard patterns or your own details. Choose a longer phrase of "
                    "unrelated words."
                )
            )
        ]
    return []


def check_password(password: str, personal: Iterable[str | None] = (), min_length: int = MIN_LENGTH) -> None:
    """Raise `PasswordRefused` when `password` may not be used."""
    problems = password_problems(password, personal, min_length)
    if problems:
        raise PasswordRefused(problems)


def _made_of(password: str, words: list[str]) -> bool:
    """Whether the password is little more than the person's own details ("Dora-Tester-1")."""
    rest = password.lower()
    for word in sorted({w for w in words if len(w) >= 3}, key=len, reverse=True):
        rest = rest.replace(word, "")
    return rest != password.lower() and sum(c.isalnum() for c in rest) < _OWN_REST


def _words(value: str) -> list[str]:
    """A person's detail as zxcvbn's user inputs: whole, and an e-mail's parts."""
    value = value.strip().lower()
    return [value, *value.replace("@", " ").replace(".", " ").split()] if value else []
