from cockpit.faces.cli import run

run()
