"""Every name the dialplan and the Python side share: AGI routes, channel variables, contexts.

dialplan/extensions-cug.conf uses exactly these names; tests/unit/test_dialplan_names.py checks that
they have not drifted apart.
"""

# FastAGI routes: the path of agi://host:port/ROUTE in the dialplan.
ROUTE_MEMBER_CALL = "member-call"
ROUTE_TRUNK_CALL = "trunk-call"
ROUTE_MEMBER_TEXT = "member-text"
ROUTE_TRUNK_PIN = "trunk-pin"  # a member calling in gave their PIN
ROUTE_FLASH_ENDED = "flash-ended"  # a ring to the callback number ended unanswered
ROUTE_CALLBACK_CALL = "callback-call"  # a member on a call back dialed

# The channel variable the routing handlers set: the whole answer (agi/call_plan.py).
ROUTE = "CUG_ROUTE"
TEXT_RESULT = "CUG_TEXT"  # set by member-text once the text is stored or answered
# Set by the dialplan from the route's first two fields.
ACTION = "CUG_ACTION"  # "dial", "refuse" or "prompt"
REASON = "CUG_REASON"  # why a call is refused (routing.calls.Refusal values)

ACTION_DIAL = "dial"
ACTION_REFUSE = "refuse"
ACTION_PROMPT = "prompt"  # a member called the CUG's own number: ask whom to call
ACTION_FLASH = "flash"  # a ring to the callback number: never answer it (flash|<ring secs>)
ACTION_PIN = "pin"  # ask the member calling in for their PIN
ACTION_VERIFIED = "verified"  # the PIN was right: route the call again

# Dialplan contexts and the PJSIP trunk endpoint.
CONTEXT_MEMBERS = "cug-members"
CONTEXT_TRUNK = "cug-from-trunk"
CONTEXT_FALLBACK = "cug-fallback"
CONTEXT_REMINDER = "cug-reminder"  # where a follow-up reminder call (AMI Originate) starts
CONTEXT_CALLBACK = "cug-callback"  # where a call back to a member who flashed starts
TRUNK_ENDPOINT = "cug-trunk"

# Names the handlers may set; anything else is refused before it reaches Asterisk.
SETTABLE = frozenset({ROUTE, TEXT_RESULT})
