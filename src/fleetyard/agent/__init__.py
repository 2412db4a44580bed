"""The device agent (`yard agent`): runs on each machine of a fleet."""
