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
ROUTE_BRIDGE_PIN = "bridge-pin"  # a member of another district keyed in a bridge's PIN
ROUTE_CONFERENCE_INVITE = "conference-invite"  # a leader keyed in an extension to call in
# Someone called into a conference took the call when it had no leader (any more): told so.
ROUTE_CONFERENCE_TURNED_AWAY = "conference-turned-away"

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
ACTION_BRIDGE = "bridge"  # join a conference (agi/bridge_routes.py)
ACTION_BRIDGE_PIN = "bridgepin"  # ask for the bridge's PIN first
ACTION_INVITED = "invited"  # a leader's invitation: the member is being called in

# Dialplan contexts and the PJSIP trunk endpoint.
CONTEXT_MEMBERS = "cug-members"
CONTEXT_TRUNK = "cug-from-trunk"
CONTEXT_FALLBACK = "cug-fallback"
CONTEXT_REMINDER = "cug-reminder"  # where a follow-up reminder call (AMI Originate) starts
CONTEXT_CALLBACK = "cug-callback"  # where a call back to a member who flashed starts
CONTEXT_BRIDGE = "cug-bridge"  # joins ConfBridge as the route says
CONTEXT_CONFERENCE_JOIN = "cug-conference-join"  # where a member called in (Originate) joins
CONTEXT_LEG = "cug-leg"  # one person rung, who must press 1 (Local channels)
# Set on every conference channel; AMI's Confbridge events carry it (manager.conf channelvars).
CONF_MEMBER = "CUG_CONF_MEMBER"
TRUNK_ENDPOINT = "cug-trunk"

# Names the handlers may set; anything else is refused before it reaches Asterisk.
SETTABLE = frozenset({ROUTE, TEXT_RESULT})
