"""The machinery around the lesson's code in scripts/reference.py, a module per concern; each
points down only (errors -> report -> files, trace; files -> signals; options, signals and
trace use nothing of twin):

    options.py   argument parsing answering as clap does, the number and device parsers
    signals.py   every stop signal as one line and its status, a closed or full stdout
    files.py     outputs through a temp file and a rename, checked before any work; inputs
    trace.py     the JSON trace's values and header
    report.py    the walkthroughs' blocks, their text and the numbers' text
    errors.py    the one-line errors that end a run
"""
