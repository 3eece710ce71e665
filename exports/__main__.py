"""`python -m exports`: the export API from a terminal; see exports/cli.py."""

from exports.cli import run

run()
