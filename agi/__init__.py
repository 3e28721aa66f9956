"""The Asterisk side: the FastAGI server the dialplan asks, and the AMI link."""
