"""One module per `netwatchd` subcommand (cli.SUBCOMMANDS): `add_arguments(parser)` and `run(args) -> int`.

Owns: turning a subcommand's flags into calls and printing the result (check, run, probe, status, report,
crosscheck, import-netwatch, test-notify in send_test_alert.py, demo). May import app and every package
below it (bot, notify, report, web, lab, store, engine, probes, router, schedule, config, the leaves);
only cli.py imports these modules.
"""
