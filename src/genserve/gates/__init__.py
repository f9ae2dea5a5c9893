"""Quality gates: metrics over generated media, suites of cases and checks, baselines, judging, reports.

suite.py      YAML suites: cases over fixed assets, checks with bounds / baseline tolerances / mostly
registry.py   every metric's name, unit, direction, version and the weights it needs
container.py temporal.py lipsync.py fidelity.py recognition.py documents.py cost.py   the metrics
results.py    the typed results document (cases, assets, jobs, measurements): results.json's shape
run.py        generate (in-process or through a server) and measure -> Results
judge.py      non-compensatory judging of stored results against the checks and a baseline
pipeline.py   suite -> generate -> measure -> judge -> reports (`gate run`/`gate judge` call it)
baseline.py   versioned baselines with metric versions and an environment fingerprint
report_*.py   results.json, JUnit XML, Markdown, HTML, one file per figure (Tekton)
prompts.py    versioned Jinja2 prompt templates rendered from git metadata
ci.py         `genserve ci init`: pipeline templates for GitHub, GitLab, Jenkins, Tekton
"""
