"""Differential testing: nginx is the oracle of the linter's verdicts.

configs.py generates seeded nginx configurations over what decides who gets content,
attacks.py the requests an attacker (and the valid client) sends, as request.Request records,
client.py sends them, oracle.py runs nginx in a private network namespace and labels each
configuration, compare.py asks the linter and classifies each disagreement, __main__.py is the
command line (see its docstring for the large run).
"""
