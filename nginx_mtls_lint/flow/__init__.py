"""Follow a request through nginx's phases, the way ngx_http_core_module.c runs them.

For one server, one kind of client and one URI, `Simulator.request()` answers whether the
client reaches the site's content: YES (some path the client can force ends in content), NO
(no path does), or MAYBE (it depends on something the configuration does not tell: a file on
disk, a variable of an unknown module, an external auth service). Each answer carries the path
of directives that led there.

The package, by concern:
- values: the vocabulary (verdicts, the value lattice, Client, Step, Outcome, Result, State);
- conf: the configuration levels a request is handled with, and their inheritance;
- evaluate: the values of variables, maps, geos and captures, the truth of `if` conditions;
- phases: the phase loop (Simulator), rewrite module, internal redirects and error_page;
- access: realip and the access phase, one entry per module in ACCESS_CHECKS;
- content: the content phase, one entry per module in CONTENT_HANDLERS;
- questions: what rules ask about a server (ServerFlow: open_paths, valid_refused, ...).
"""

from .access import ACCESS_CHECKS, Check, deciding_rule, stream_refusal
from .conf import Conf, own_chain
from .content import (ACME, CONTENT_HANDLERS, FORWARDING, SITE_PAGE, STOCK_ROOTS, UPSTREAM,
                      stock_site)
from ..records import Geo, geos_of
from .evaluate import DNS_NAME, EXACT_NAME, QUERY, RAW_URI, Evaluator, in_network
from .phases import REWRITE_DIRECTIVES, Simulator
from .questions import (HTTP_REFUSING, METHOD, METHODS, REFUSING, VERIFY_VALUE, Path,
                        ServerFlow, sample_uris)
from .values import (ATTACKER, CLOUDFLARE_ADDRESS, DIRECT_ADDRESS, EXPECTED, MAX_PATHS,
                     MAX_REDIRECTS, MAYBE, NO, SPOOFED, UNKNOWN, VARIABLE, VISITOR_ADDRESS, YES,
                     CLOSED_BY_VERIFY_ON, Budget, Cause, Client, Outcome, Result, Special, State, Step, Value, Verdict,
                     client_choice, unknown_choice)

__all__ = [
    "ACCESS_CHECKS", "ACME", "CLOSED_BY_VERIFY_ON", "ATTACKER", "Budget", "Cause", "CLOUDFLARE_ADDRESS", "CONTENT_HANDLERS",
    "Check", "Client", "Conf", "DIRECT_ADDRESS", "DNS_NAME", "EXACT_NAME", "EXPECTED",
    "Evaluator", "FORWARDING", "Geo", "HTTP_REFUSING", "MAX_PATHS", "MAX_REDIRECTS", "MAYBE",
    "METHOD", "METHODS", "NO", "Outcome", "Path", "QUERY", "RAW_URI", "REFUSING",
    "REWRITE_DIRECTIVES", "Result", "SITE_PAGE", "SPOOFED", "STOCK_ROOTS", "ServerFlow",
    "Simulator", "Special", "State", "Step", "UNKNOWN", "UPSTREAM", "VARIABLE",
    "VERIFY_VALUE", "VISITOR_ADDRESS", "Value", "Verdict", "YES", "client_choice",
    "deciding_rule", "geos_of", "in_network", "own_chain", "sample_uris", "stock_site",
    "stream_refusal", "unknown_choice",
]
