"""Database URLs are shown without secrets (issue 11): every credential form, every variant."""

from __future__ import annotations

import pytest

from modelcycle.core import Settings, is_conninfo, looks_like_database, redact_text, redact_url

SECRET = "Sup3r"  # every password below contains it


CREDENTIAL_FORMS = [
    ("postgresql://me:Sup3r@db:5432/mc", "postgresql://me:***@db:5432/mc"),
    ("postgresql://me@db/mc?password=Sup3r", "postgresql://me@db/mc?password=***"),
    ("postgresql://me@db/mc?PASSWORD=Sup3r&x=1", "postgresql://me@db/mc?PASSWORD=***&x=1"),
    ("postgresql://me@db/mc?sslmode=require&sslpassword=Sup3r", None),
    ("postgresql://me@db/mc?pass%77ord=Sup3r", "postgresql://me@db/mc?pass%77ord=***"),
    ("postgresql://me@db/mc?password=Sup3r&password=Sup3r2", None),
    ("postgresql://me:Sup3r%40x%3Ay@db/mc", "postgresql://me:***@db/mc"),
    ("postgresql://me:Sup3r@x:y@db/mc", "postgresql://me:***@db/mc"),  # '@' unencoded
    ("postgresql://me:Sup3r/x?y@db/mc", "postgresql://me:***@db/mc"),  # '/', '?' too
    ("postgresql://:Sup3r@db/mc", "postgresql://:***@db/mc"),
    ("postgresql+psycopg://me:Sup3r@db/mc?password=Sup3r", None),
    ("postgresql://me@db/mc?token=Sup3r&api_key=Sup3r", None),
    ("host=db dbname=mc password=Sup3r", "host=db dbname=mc password=***"),
    ("host=db password='Sup3r with spaces' user=me", "host=db password=*** user=me"),
    ("host=db password='it\\'s Sup3r' user=me", "host=db password=*** user=me"),
    ("host=db password=Sup3r\\ x user=me", "host=db password=*** user=me"),
    ("host=db password = Sup3r", "host=db password = ***"),
    ("host=db sslpassword=Sup3r sslkey=/k", "host=db sslpassword=*** sslkey=/k"),
    ("dbname=mc PASSWORD=Sup3r", None),
]


@pytest.mark.parametrize(("url", "shown"), CREDENTIAL_FORMS)
def test_every_credential_form_is_hidden(url: str, shown: str | None) -> None:
    redacted = redact_url(url)
    assert SECRET not in redacted
    if shown is not None:
        assert redacted == shown


@pytest.mark.parametrize("text", [u for u, _ in CREDENTIAL_FORMS])
@pytest.mark.parametrize(
    "message",
    [
        "{}",
        'could not connect to "{}": connection refused',
        "error (dsn '{}') at line 1",
        "two: <{}> and {}",
        "connection to {}\nfailed",
    ],
)
def test_every_credential_form_is_hidden_inside_a_message(text: str, message: str) -> None:
    assert SECRET not in redact_text(message.format(text, text))


def test_a_message_without_secrets_is_left_as_it_is() -> None:
    message = 'connection to server at "127.0.0.1", port 5432 failed: FATAL: no user "me"'
    assert redact_text(message) == message


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////tmp/ws/modelcycle.db",
        "postgresql://me@db:5432/mc?sslmode=require",
        "postgresql://db/mc?application_name=a@b",
        "/home/me/ws",
    ],
)
def test_urls_without_secrets_are_shown_as_they_are(url: str) -> None:
    assert redact_url(url) == url


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("host=127.0.0.1 dbname=mc", True),
        ("  dbname = mc user=me", True),
        ("service=prod", True),
        ("./workspace", False),
        ("name=x", False),  # not a libpq keyword: a folder may be called that
        ("postgresql://me@db/mc?host=x", False),
    ],
)
def test_libpq_strings_are_told_from_folders(text: str, expected: bool) -> None:
    assert is_conninfo(text) is expected
    assert looks_like_database(text) is (expected or "://" in text)


def test_settings_never_show_the_password() -> None:
    settings = Settings(db_url="postgresql://me:Sup3r@db/mc?sslpassword=Sup3r")
    for shown in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        assert SECRET not in shown
        assert "postgresql://me:***@db/mc?sslpassword=***" in shown
    assert settings.db_url == "postgresql://me:Sup3r@db/mc?sslpassword=Sup3r"  # kept for use


@pytest.mark.parametrize("home", ["host=db password=Sup3r", "postgresql://me:Sup3r@db/mc"])
def test_a_connection_string_is_never_a_home_folder(home: str) -> None:
    with pytest.raises(Exception, match="looks like a database URL") as caught:
        Settings(home=home)
    assert SECRET not in str(caught.value)


def test_refused_settings_do_not_echo_their_values() -> None:
    with pytest.raises(ValueError, match="debug") as caught:
        Settings(db_url="postgresql://me:Sup3r@db/mc", debug="Sup3r")  # type: ignore[arg-type]
    assert SECRET not in str(caught.value)


def test_a_heartbeat_timeout_shorter_than_two_beats_is_refused() -> None:
    with pytest.raises(ValueError, match="at least twice run_heartbeat_interval_s"):
        Settings(run_heartbeat_interval_s=10, run_heartbeat_timeout_s=15)
