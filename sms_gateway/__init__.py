"""The outbound SMS gateway: texts to members who are reachable only on their mobile.

`gateway.SmsGateway` is the interface the SMS relay calls; `kannel.KannelGateway` speaks
Kannel's smsbox `sendsms` HTTP API; `testing.RecordingGateway` is the double for callers'
unit tests; `config.build_gateway` makes the one an install's settings ask for (or None).
"""
