"""The loop's commands and actions for the argument parser: labels, maintenance, fleet and
quarantine (see docs/loop.md). Standard library only, like :mod:`pm_pipeline.cli.parser`."""

import argparse

FEEDBACK = "pm_pipeline.cli.feedback"
LABEL_NAMES = ("confirmed", "false-alarm", "new-normal")


def command(commands: argparse._SubParsersAction, name: str, summary: str, detail: str = ""):
    """A sub-command whose help page opens with its one-line summary and then the detail."""
    return commands.add_parser(
        name,
        help=summary,
        description=f"{summary[0].upper()}{summary[1:]}." + (f"\n\n{detail}" if detail else ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_label_action(events: argparse.ArgumentParser) -> None:
    """``events label ID LABEL``."""
    actions = events.add_subparsers(metavar="ACTION", title="actions")
    label = command(
        actions,
        "label",
        "label an event confirmed, false-alarm or new-normal",
        "confirmed: a real fault; its readings stay out of training.\n"
        "false-alarm: normal after all; its readings go back into training, and it counts\n"
        "  against the robot's precision.\n"
        "new-normal: the robot changed for good; it retrains on readings from the event's\n"
        "  start on once enough are stored.\n"
        "Labels are kept, never overwritten; the newest one counts.",
    )
    label.add_argument("event_id", type=int, metavar="ID", help="an id listed by `events`")
    label.add_argument("label", choices=LABEL_NAMES, metavar="LABEL", help=" | ".join(LABEL_NAMES))
    label.add_argument("--note", metavar="TEXT", help="why, in a few words")
    label.add_argument("--by", metavar="NAME", help="who labels it (default: your user name)")
    label.set_defaults(handler=f"{FEEDBACK}:label")


def add_maintenance_action(actions: argparse._SubParsersAction) -> None:
    """``robots maintenance ROBOT --at TIME``, an action of ``robots``."""
    work = command(
        actions,
        "maintenance",
        "record maintenance on a robot: a new baseline for its next model",
        "The robot's next model trains only on readings after TIME; its events still open\n"
        "before TIME are resolved with the maintenance as the reason. The robot retrains\n"
        "once enough readings after TIME are stored.",
    )
    work.add_argument("robot_id", metavar="ROBOT", help="robot id, as in robots.yaml")
    work.add_argument(
        "--at", required=True, metavar="TIME", help="when the work ended, ISO 8601 (UTC)"
    )
    work.add_argument("--note", metavar="TEXT", help="what was done")
    work.add_argument("--by", metavar="NAME", help="who records it (default: your user name)")
    work.set_defaults(handler=f"{FEEDBACK}:maintenance")


def add_fleet_commands(commands: argparse._SubParsersAction) -> None:
    """``fleet [--check]`` and ``quarantine [--retry NAME]``."""
    fleet = command(
        commands,
        "fleet",
        "which robots need you now: one status per robot",
        "OK, WATCH (an open ALERT), ALARM (an open ERROR), NO DATA (no reading for\n"
        "PM_STALE_AFTER_MINUTES), NO MODEL, STALE MODEL (a new baseline awaits retraining, or\n"
        "the model is older than PM_MODEL_MAX_AGE_DAYS). With --check, the first line is the\n"
        "fleet's status and the exit code follows the monitoring plugins' convention: 0 all\n"
        "OK, 1 WATCH or STALE MODEL, 2 ALARM, 3 cannot tell (NO DATA, NO MODEL, no database).",
    )
    fleet.add_argument(
        "--check", action="store_true", help="exit 0/1/2/3 for OK/WATCH/ALARM/unknown"
    )
    fleet.set_defaults(handler=f"{FEEDBACK}:fleet")
    quarantine = command(
        commands,
        "quarantine",
        "list quarantined files (name, robot, reason, when), or put one back",
        "Files the sensor could not score lie in quarantine/ of each robot's drop folder with\n"
        "a .reason.txt beside them. Fix the file (or the robots file), then --retry NAME\n"
        "moves it back for the sensor to score.",
    )
    quarantine.add_argument("--retry", metavar="NAME", help="move NAME back for scoring")
    quarantine.add_argument("--robot", metavar="ROBOT", help="only this robot's files")
    quarantine.set_defaults(handler=f"{FEEDBACK}:quarantine")
