"""`python -m lakestow.sync home|instance ...`."""

from lakestow.sync.commands import main

main(prog_name="lakestow")
