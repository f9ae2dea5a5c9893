"""Batches: one manifest (JSONL, CSV or YAML; one job per row) becomes many jobs, resumably.

    manifest.py      read the file into raw rows, each with its line number
    rows.py          validate every row (all problems, each with its line and rule) into BatchRows
    row_inputs.py    ... its input files: declared, present, decodable; their digests
    row_params.py    ... its parameters (the task's Params model) and its rendered prompt template
    catalog.py       ... its backend, against the backends where the batch runs
    ids.py           batch id, row ids derived from content, job ids (idempotent PUT, one per attempt)
    target.py        where jobs run: a genserve server (HTTP) or this process (the Service)
    board.py         every row's state, the counts and the pace
    engine.py        find each row's job, submit / follow / download with N in flight, Ctrl-C
    progress.py      one Rich display on a terminal, one JSON line per state change elsewhere
    results.py       results.jsonl, results.csv, junit.xml and summary.md
    contact_sheet.py index.html: a frame strip (or the recognized text) per row, for review

`genserve batch` (genserve.commands.batch) is the door.
"""
