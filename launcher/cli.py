"""The `tickerpulse` command: the domain's commands (tickerpulse/cli.py) and this app's, which
start processes (`up`, `materialize`)."""

from launcher.commands import materialize, up
from tickerpulse.cli import app

app.command()(up)
app.command()(materialize)

__all__ = ["app"]
