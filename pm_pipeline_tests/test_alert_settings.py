"""The notification settings: read, checked across variables, and never shown unmasked."""

import pytest

from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.errors import SettingsError

SLACK = "https://hooks.slack.com/services/T0/B0/s3cretToken"


def test_nothing_configured_means_no_channel() -> None:
    settings = load_settings({})
    assert settings.alert_channels == ()
    assert settings.alert_min_severity == "ALERT" and settings.alert_robots == ()


def test_channels_lists_and_cases_are_read() -> None:
    settings = load_settings(
        {
            "PM_ALERT_WEBHOOK_URL": SLACK,
            "PM_ALERT_WEBHOOK_FORMAT": "Teams",
            "PM_ALERT_MIN_SEVERITY": "error",
            "PM_ALERT_ROBOTS": " robot-1, robot-2 ,",
            "PM_SMTP_HOST": "mail.example.com",
            "PM_SMTP_SECURITY": "SSL",
            "PM_SMTP_USER": "pm",
            "PM_SMTP_PASSWORD": "mailPa55",
            "PM_ALERT_EMAIL_FROM": "pm@example.com",
            "PM_ALERT_EMAIL_TO": "a@example.com,b@example.com",
        }
    )
    assert settings.alert_channels == ("webhook", "email")
    assert settings.alert_webhook_format == "teams"
    assert settings.alert_min_severity == "ERROR"
    assert settings.alert_robots == ("robot-1", "robot-2")
    assert settings.alert_email_to == ("a@example.com", "b@example.com")
    assert settings.smtp_port_or_default == 465
    assert "s3cretToken" not in repr(settings) and "mailPa55" not in repr(settings)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"PM_ALERT_WEBHOOK_URL": "hooks.slack.com/services/T0/B0/s3cretToken"},
            "PM_ALERT_WEBHOOK_URL='***': not an http(s) URL",
        ),
        (
            {"PM_ALERT_WEBHOOK_URL": "ftp://hooks.example.com/s3cretToken"},
            "PM_ALERT_WEBHOOK_URL='ftp://hooks.example.com/***': not an http(s) URL",
        ),
        ({"PM_ALERT_MIN_SEVERITY": "warn"}, "PM_ALERT_MIN_SEVERITY='WARN': not a severity"),
        ({"PM_SMTP_PORT": "smtp"}, "PM_SMTP_PORT='smtp': not a port number"),
        ({"PM_ALERT_EMAIL_TO": "a@example.com"}, "PM_ALERT_EMAIL_TO is set but PM_SMTP_HOST"),
        ({"PM_SMTP_PASSWORD": "s3cretToken"}, "PM_SMTP_PASSWORD is set without PM_SMTP_USER"),
    ],
)
def test_a_bad_value_is_one_line_without_the_secret(environ: dict, message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ)
    text = str(raised.value)
    assert text.startswith(message), text
    assert "\n" not in text and "s3cretToken" not in text


def test_smtp_without_sender_or_recipients_names_both() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"PM_SMTP_HOST": "mail.example.com", "PM_ALERT_EMAIL_TO": "nobody"})
    lines = str(raised.value).splitlines()
    assert lines[0].startswith("PM_ALERT_EMAIL_FROM is unset while PM_SMTP_HOST is set")
    assert lines[1].startswith("PM_ALERT_EMAIL_TO: nobody is not an e-mail address")
